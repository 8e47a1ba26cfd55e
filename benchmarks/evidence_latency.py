"""What the evidence signals (qabot.evidence) cost per question, side by side in one run.

    python benchmarks/evidence_latency.py --cache DIR [--n 300] [--json FILE]

ARCD questions, interleaved so the machine's load falls on every arm alike: a bare query
encoding, then with that vector ``Retriever.ask`` with the evidence off (``answer_type`` 0,
no ``conf_evidence``: the weights before issue 15's round four) and as shipped, in turns.
p50 in ms; ratios: p50 of (encoding + ask) over the bare encoding's p50.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from qabot.config import Settings
from qabot.evaluate import index_eval_set, load_eval_set
from qabot.fusion import DEFAULT_WEIGHTS
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/evidence_latency.json")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    off = dataclasses.replace(DEFAULT_WEIGHTS, answer_type=0.0, conf_evidence=())
    arms = {"encode": [], "ask_without": [], "ask_shipped": []}
    questions = [q.question for q in data.questions[: args.n]]
    for q in questions[:20]:  # warm the caches every arm shares
        retriever.ask(q)
    for n, q in enumerate(questions):
        start = time.perf_counter()
        vector = encoder.encode_queries([q])[0]
        arms["encode"].append(time.perf_counter() - start)
        pair = [("ask_without", off), ("ask_shipped", DEFAULT_WEIGHTS)]
        for name, weights in pair if n % 2 else pair[::-1]:  # alternate which goes first
            retriever.weights = weights
            start = time.perf_counter()
            retriever.ask(q, vector=vector)
            arms[name].append(time.perf_counter() - start)
    p50 = {k: round(float(np.percentile(v, 50)) * 1000, 2) for k, v in arms.items()}
    # a question costs its encoding plus the search: ratios of that sum to the encoding
    total = {k: float(np.percentile(np.add(arms["encode"], arms[k]), 50)) * 1000
             for k in ("ask_without", "ask_shipped")}  # fmt: skip
    out = {
        "n": len(questions),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "p50_ms": p50,
        "ratio_without": round(total["ask_without"] / p50["encode"], 3),
        "ratio_shipped": round(total["ask_shipped"] / p50["encode"], 3),
        "shipped_over_without": round(p50["ask_shipped"] / p50["ask_without"], 3),
    }
    print(json.dumps(out))
    args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
