"""Latency of a follow-up in context vs the same question alone, side by side in one run.

Over the follow-up set's corpus, for every follow-up pair and in alternation: the question
alone (its vector not kept from before), the question in context as the bot asks it (the
earlier question was asked just before, so its vector is kept: no extra encoding), and in
context cold (the context never encoded: one extra encoding). Medians and their ratios.

    python benchmarks/followup_latency.py [benchmarks/data/followups.json] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from qabot.config import Settings
from qabot.conversation import turn_of
from qabot.followups import load_followups, open_followups
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ROOT / "benchmarks/data/followups.json"))
    ap.add_argument("--cache", default="/tmp/qabot-followups-cache")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    settings = Settings()
    data = load_followups(Path(args.file))
    retriever = open_followups(data, Path(args.cache), settings, load_encoder(settings))
    pairs = [p for p in data.pairs if p.kind == "followup"]
    alone: list[float] = []
    warm: list[float] = []
    cold: list[float] = []
    for _ in range(args.rounds):
        for pair in pairs:
            retriever._vectors.clear()
            start = time.perf_counter()
            retriever.ask(pair.question)
            alone.append(time.perf_counter() - start)

            retriever._vectors.clear()
            history = [turn_of(retriever.ask(q)) for q in pair.history]
            retriever._vectors.forget(pair.question)
            start = time.perf_counter()
            retriever.ask(pair.question, history=history)
            warm.append(time.perf_counter() - start)

            retriever._vectors.clear()
            start = time.perf_counter()
            retriever.ask(pair.question, history=history)
            cold.append(time.perf_counter() - start)
    a, w, c = (statistics.median(x) * 1000 for x in (alone, warm, cold))
    print(f"{len(pairs)} follow-ups x {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    print(f"p50 alone {a:.1f} ms; in context (earlier question kept) {w:.1f} ms = {w / a:.2f}x;")
    print(f"in context, context never encoded {c:.1f} ms = {c / a:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
