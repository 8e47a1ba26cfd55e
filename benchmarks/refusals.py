"""How often non-questions are refused, and seed questions still answered (issue 16).

    .venv/bin/python benchmarks/refusals.py [--n 500]

Builds an index of the bundled seed article in a temporary folder with the configured
model, then asks, through the same preparation every front end uses: ``n`` random
Latin/digit/punctuation strings, ``n`` strings of random Arabic words the article never
uses, and every seed test question (tests/test_retrieval_seed.py). Prints the share refused
and the share answered at the configured threshold. Seeded: the same strings every run.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_gate import random_arabic, random_latin  # noqa: E402
from test_retrieval_seed import ARABIC, ENGLISH  # noqa: E402

from qabot.arabic import terms  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.index import build_index  # noqa: E402
from qabot.model import load_encoder  # noqa: E402
from qabot.question import prepare_question  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "articles").mkdir()
        for seed in (ROOT / "articles").glob("000_*.txt"):
            shutil.copy(seed, Path(tmp) / "articles" / seed.name)
        settings = Settings(articles_dir=Path(tmp) / "articles", index_dir=Path(tmp) / "index")
        encoder = load_encoder(settings)
        build_index(settings, encoder=encoder)
        retriever = Retriever.load(settings=settings, encoder=encoder)

        def answered(raw: str) -> bool:
            question = prepare_question(raw, settings.max_question_chars)
            return question.has_words and retriever.ask(question.text).found

        known = {t for chunk in retriever.snapshot.chunks for t in terms(chunk.text)}
        rng = random.Random(16)
        print(f"model {encoder.model_id}, threshold {settings.min_confidence}")
        for name, make in (("random Latin", random_latin), ("random Arabic", None)):
            texts = [make(rng) if make else random_arabic(rng, known) for _ in range(args.n)]
            refused = sum(not answered(t) for t in texts)
            print(f"{name:>14}: {refused}/{args.n} refused ({refused / args.n:.1%})")
        seed = [q for q, _ in ARABIC + ENGLISH]
        ok = sum(answered(q) for q in seed)
        print(f"{'seed questions':>14}: {ok}/{len(seed)} answered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
