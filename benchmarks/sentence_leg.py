"""What the search over every sentence vector adds to ARCD quality: with and without it.

    PYTHONPATH=src .venv/bin/python benchmarks/sentence_leg.py [--cache .cache/sentence_leg]

Past ``QABOT_ANN_THRESHOLD`` a snapshot runs no search over all sentence vectors
(``Snapshot.sentence_passages``): candidates come from the passage vectors and BM25, and the
sentences of those candidates are still scored. This scores the full ARCD retrieval set
(bundled model, hybrid) both ways on one index, so the cost of that choice is measured on
real questions. Nothing is tuned here. Writes benchmarks/results/sentence_leg.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qabot.config import Settings
from qabot.evaluate import evaluate
from qabot.index.snapshot import Snapshot
from qabot.model import load_encoder

HERE = Path(__file__).resolve().parent
ARCD = HERE.parents[1] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ARCD)
    parser.add_argument("--cache", type=Path, default=Path(".cache/sentence_leg"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sentence_leg.json")
    args = parser.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    rows = {}
    search_all = Snapshot.sentence_passages
    for name, leg in (("every sentence searched", search_all), ("no sentence search", None)):
        Snapshot.sentence_passages = leg or (lambda self, vector, k: [])  # type: ignore[method-assign]
        report = evaluate(args.data, settings, encoder, cache=args.cache)
        rows[name] = {"r1": report.r1, "r5": report.r5, "mrr10": report.mrr10, "n": report.n}
        print(name, rows[name], flush=True)
    Snapshot.sentence_passages = search_all  # type: ignore[method-assign]
    args.out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
