"""Latency of a follow-up in context vs the same question alone, side by side in one run.

Over the follow-up set's corpus, for every follow-up pair and in alternation: the question
alone (its vector not kept from before), the question in context as the bot asks it (the
earlier question was asked just before, so its vector is kept: no extra encoding), in
context on another replica (nothing kept in this process, but the earlier turn carries its
query vector, as the bot's memories store it), and in context cold (bare earlier questions,
nothing kept: the question and the earlier one go through the model in one call). Also
the bare encoding of the question, and of the question with the earlier one in one call,
for scale. Then every topic-switch pair the same way, alone and in context cold: a
question no cue makes dependent is not read in context, nor is its history encoded
(``conversation.may_depend``). Medians, their ratios and the load go to
benchmarks/results/followup_latency.json.

    python benchmarks/followup_latency.py [benchmarks/data/followups.json] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from qabot.config import Settings
from qabot.conversation import Turn, turn_of
from qabot.followups import load_followups, open_followups
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "followup_latency.json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ROOT / "benchmarks/data/followups.json"))
    ap.add_argument("--cache", default="/tmp/qabot-followups-cache")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    settings = Settings()
    data = load_followups(Path(args.file))
    encoder = load_encoder(settings)
    retriever = open_followups(data, Path(args.cache), settings, encoder)
    vectors = retriever._vectors  # the retriever's kept query vectors, emptied per arm
    pairs = [p for p in data.pairs if p.kind == "followup"]
    switches = [p for p in data.pairs if p.kind == "switch"]
    arms = ("alone", "warm", "replica", "cold", "enc1", "enc2", "switch_alone", "switch_cold")
    times: dict[str, list[float]] = {k: [] for k in arms}
    load = [os.getloadavg()[0]]

    def timed(arm: str, call: Callable[..., object], *args: object, **kwargs: object) -> None:
        start = time.perf_counter()
        call(*args, **kwargs)
        times[arm].append(time.perf_counter() - start)

    for _ in range(args.rounds):
        for pair in pairs:
            q, earlier = pair.question, pair.history[-1]
            timed("enc1", encoder.encode_queries, [q])
            timed("enc2", encoder.encode_queries, [q, earlier])
            vectors.clear()
            timed("alone", retriever.ask, q)

            vectors.clear()
            history = [turn_of(retriever.ask(e)) for e in pair.history]
            vectors.forget(q)
            timed("warm", retriever.ask, q, history=history)

            vectors.clear()
            timed("replica", retriever.ask, q, history=history)

            vectors.clear()
            bare = [Turn(t.question, t.article, t.passage) for t in history]
            timed("cold", retriever.ask, q, history=bare)
        for pair in switches:
            vectors.clear()
            timed("switch_alone", retriever.ask, pair.question)
            vectors.clear()
            timed("switch_cold", retriever.ask, pair.question, history=pair.history)
        load.append(os.getloadavg()[0])
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    result = {
        "pairs": len(pairs),
        "rounds": args.rounds,
        "load_min": round(min(load), 1),
        "load_max": round(max(load), 1),
        **{f"{k}_p50_ms": round(v, 1) for k, v in p50.items()},
        "warm_ratio": round(p50["warm"] / p50["alone"], 3),
        "replica_ratio": round(p50["replica"] / p50["alone"], 3),
        "cold_ratio": round(p50["cold"] / p50["alone"], 3),
        "encode_pair_ratio": round(p50["enc2"] / p50["enc1"], 3),
        "switches": len(switches),
        "switch_cold_ratio": round(p50["switch_cold"] / p50["switch_alone"], 3),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{len(pairs)} follow-ups x {args.rounds} rounds, load {min(load):.1f}-{max(load):.1f}")
    print(
        f"p50 alone {p50['alone']:.1f} ms; in context, earlier question kept {p50['warm']:.1f} ms"
        f" = {result['warm_ratio']:.2f}x; another replica (the turn's vector)"
        f" {p50['replica']:.1f} ms = {result['replica_ratio']:.2f}x;"
        f" nothing kept {p50['cold']:.1f} ms"
        f" = {result['cold_ratio']:.2f}x"
    )
    print(
        f"bare encoding: question {p50['enc1']:.1f} ms, question + earlier in one call "
        f"{p50['enc2']:.1f} ms = {result['encode_pair_ratio']:.2f}x"
    )
    print(
        f"{len(switches)} topic switches: alone {p50['switch_alone']:.1f} ms, in context cold "
        f"{p50['switch_cold']:.1f} ms = {result['switch_cold_ratio']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
