"""How much lower an English question's dense score is than the same question in Arabic.

    python benchmarks/calibrate_english.py

English questions cannot use the lexical features of the Arabic calibration (BM25 and term
coverage find nothing), and their cross-lingual cosines run lower. This measures the shift
on translated question pairs about the seed article, plus the scores of off-topic English
questions, so the English calibration (`FusionWeights.conf_other` in qabot/fusion.py) can be set to
accept the first and refuse the second.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from qabot.arabic import is_mostly_arabic
from qabot.config import Settings
from qabot.fusion import fuse
from qabot.index import build_index
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [
    (
        "متى تأسست منظمة التعاون الإسلامي؟",
        "When was the Organisation of Islamic Cooperation founded?",
    ),
    (
        "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟",
        "Who is Russia's permanent representative to the OIC?",
    ),
    (
        "من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟",
        "Who heads the strategic vision group Russia - Islamic World?",
    ),
    (
        "كم عدد الدول الأعضاء في منظمة التعاون الإسلامي؟",
        "How many member states does the OIC have?",
    ),
    ("مع من يجتمع لافروف في موسكو؟", "Who is Lavrov meeting in Moscow?"),
    ("ما اللقب الذي منح لمدينة قازان؟", "What title was Kazan given?"),
    ("متى عقدت قمة قازان 2022؟", "When was the KazanSummit 2022 held?"),
    (
        "ما هي القضية التي تمثل أولوية لمنظمة التعاون الإسلامي؟",
        "Which issue is a priority for the OIC?",
    ),
    (
        "ما هي مجالات التعاون التي سيبحثها الجانبان؟",
        "Which areas of cooperation will the two sides discuss?",
    ),
    (
        "ما موقف دول منظمة التعاون الإسلامي من الأحداث في أوكرانيا؟",
        "What is the position of OIC countries on Ukraine?",
    ),
]
OFF_TOPIC = [
    "How do I bake sourdough bread?",
    "What is the best recipe for chocolate cake?",
    "Who won the 2018 football World Cup?",
    "Will it rain tomorrow in London?",
    "How do I change a flat tyre?",
    "What is the capital of Australia?",
    "Which team won the NBA finals last year?",
    "How long should I boil an egg?",
]


def top_dense(retriever: Retriever, question: str) -> float:
    vector = retriever.encoder.encode_queries([question])[0]
    found = retriever.candidates(question, vector)
    i = int(np.argmax(fuse(found, "hybrid", is_mostly_arabic(question))))
    return float(found.dense[i])


def main() -> None:
    settings = Settings()
    encoder = load_encoder(settings)
    with tempfile.TemporaryDirectory() as tmp:
        articles = Path(tmp) / "articles"
        articles.mkdir()
        shutil.copy(ROOT / "articles" / "000_b3e058f4b2c0909a.txt", articles)
        local = Settings(articles_dir=articles, index_dir=Path(tmp) / "index")
        build_index(local, encoder=encoder)
        retriever = Retriever.load(settings=local, encoder=encoder)
        ar = np.array([top_dense(retriever, a) for a, _ in PAIRS])
        en = np.array([top_dense(retriever, e) for _, e in PAIRS])
        off = np.array([top_dense(retriever, q) for q in OFF_TOPIC])
    print(f"Arabic top dense: mean {ar.mean():.3f}  min {ar.min():.3f}")
    print(f"English top dense: mean {en.mean():.3f}  min {en.min():.3f}")
    print(f"shift (Arabic - English): mean {np.mean(ar - en):.3f}")
    print(f"off-topic English top dense: mean {off.mean():.3f}  max {off.max():.3f}")


if __name__ == "__main__":
    main()
