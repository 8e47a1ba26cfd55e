"""A lexical leg for English questions by pseudo-relevance feedback, measured.

    python benchmarks/english_prf.py --cache DIR [--json benchmarks/results/english_prf.json]

English questions cannot match Arabic BM25 keys. Pseudo-relevance feedback gives them some:
the Arabic words shared by at least two of the dense leg's top ``m`` passages, the ``t``
rarest (highest IDF) of them, become a BM25 query, and ``w · z(BM25)`` joins the dense
z-score as in the Arabic fusion. Scored on the English questions of
``benchmarks/data/arcd-english-questions.json`` over the full ARCD index; m, t and w form a
small grid printed in full (none is shipped unless a row beats w = 0 clearly).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from qabot.arabic import STOPWORDS, is_arabic_token, tokenize
from qabot.config import Settings
from qabot.evaluate import index_eval_set, load_eval_set, paragraph_of
from qabot.fusion import zscore
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/english_prf.json")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    snap = retriever.snapshot
    known = {p.id for art in data.articles for p in art.paragraphs}
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    qs = [q for q in data.questions if q.id in english]
    vectors = encoder.encode_queries([english[q.id] for q in qs])
    lexical = snap.lexical
    rows = []
    found = [
        retriever.candidates(english[q.id], v, "dense") for q, v in zip(qs, vectors, strict=True)
    ]
    for m in (3, 5):
        for t in (5, 10):
            r1: dict[float, list[bool]] = {w: [] for w in (0.0, 0.1, 0.2, 0.3)}
            for q, f in zip(qs, found, strict=True):
                assert f is not None
                top = np.argsort(-f.dense)[:m]
                counts: Counter[str] = Counter()
                for i in top:
                    words = {w for w in tokenize(snap.by_key[int(f.keys[i])].text)
                             if w not in STOPWORDS and is_arabic_token(w)}  # fmt: skip
                    counts.update(words)
                shared = [w for w, c in counts.items() if c >= 2]
                idf = {w: max((g[1] for g in lexical.weighted_groups(w)), default=0.0)
                       for w in shared}  # fmt: skip
                chosen = sorted(shared, key=lambda w: -idf[w])[:t]
                feedback = lexical.query(" ".join(chosen), 0)
                bm25 = feedback.scores(f.keys)
                for w, right in r1.items():
                    fused = (1 - w) * zscore(f.dense) + w * zscore(bm25)
                    best = snap.by_key[int(f.keys[int(np.argmax(fused))])]
                    right.append(paragraph_of(best.id, known) == q.paragraph_id)
            for w, right in r1.items():
                rows.append({"m": m, "t": t, "w": w, "r1": round(float(np.mean(right)), 4),
                             "n": len(right)})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
