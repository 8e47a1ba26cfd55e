"""Choose qabot.conversation's weights and decision on the dev split of a follow-up file.

For each context weighting in a small grid, every pair is searched alone and (forced) in
context, recording what the decision weighs (cues, confidences, own-word share); then each
decision rule is scored offline: follow-up R@1 and switches handled as alone. Only pairs
with split "dev" are used to choose; the "test" figures are printed for the chosen setting.

    python benchmarks/followups.py [benchmarks/data/followups.json] [--cache DIR]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import qabot.conversation as conv
from qabot.config import Settings
from qabot.conversation import DEFAULT_CONTEXT, ContextWeights, Reading, Turn
from qabot.evaluate import paragraph_of
from qabot.followups import load_followups, open_followups
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    id: str
    kind: str
    split: str
    gold: str | None
    alone: str | None
    alone_found: bool
    context: str | None
    context_found: bool
    reading: Reading


def gather(data, retriever: Retriever) -> list[Row]:  # type: ignore[no-untyped-def]
    known = {p.id for a in data.articles for p in a.paragraphs}
    seen: list[Reading] = []
    real = conv.depends

    def forced(reading: Reading, weights: ContextWeights = DEFAULT_CONTEXT) -> bool:
        seen.append(reading)
        return True

    rows = []
    for pair in data.pairs:
        turns: list[Turn] = []
        for earlier in pair.history:
            first = retriever.ask(earlier, k=1, history=turns)
            top = first.passages[0] if first.found else None
            turns.append(Turn(earlier, top.article if top else None, top.id if top else None))
        alone = retriever.ask(pair.question, k=1)
        conv.depends = forced
        try:
            ctx = retriever.ask(pair.question, k=1, history=turns)
        finally:
            conv.depends = real
        reading = seen.pop() if seen else Reading(frozenset(), 0, 0, 0)

        def top_of(answer):  # type: ignore[no-untyped-def]
            return paragraph_of(answer.passages[0].id, known) if answer.passages else None

        rows.append(
            Row(
                pair.id,
                pair.kind,
                pair.split,
                pair.paragraph_id,
                top_of(alone),
                alone.found,
                top_of(ctx),
                ctx.found,
                reading,
            )
        )
    return rows


def score(rows: list[Row], weights: ContextWeights) -> tuple[float, float, float]:
    """Follow-up R@1 in context, switches handled as alone, follow-up R@1 alone."""
    follow, switch, alone = [], [], []
    for r in rows:
        use = conv.depends(r.reading, weights)
        top, found = (r.context, r.context_found) if use else (r.alone, r.alone_found)
        if r.kind == "followup":
            follow.append(top == r.gold)
            alone.append(r.alone == r.gold)
        else:
            switch.append((top, found) == (r.alone, r.alone_found))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return mean(follow), mean(switch), mean(alone)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ROOT / "benchmarks/data/followups.json"))
    ap.add_argument("--cache", default="/tmp/qabot-followups-cache")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_followups(Path(args.file))
    base = open_followups(data, Path(args.cache), settings, encoder)
    vectors = base._vectors  # shared: each question is encoded once for the whole grid

    print("cues on dev (share of pairs showing each):")
    dev_pairs = [p for p in data.pairs if p.split == "dev"]
    for kind in ("followup", "switch"):
        pairs = [p for p in dev_pairs if p.kind == kind]
        for cue in ("elliptic", "pronoun", "short"):
            n = sum(cue in conv.cues(p.question) for p in pairs)
            print(f"  {kind:8s} {cue:8s} {n}/{len(pairs)}")

    best = None
    for words, vector, prior, passage, alone in itertools.product(
        (0.3, 0.5), (0.4, 1.0), (0.3, 0.6), (0.0, 0.5), (0.0, 0.5, 1.0)
    ):
        weights = replace(
            DEFAULT_CONTEXT,
            words=words,
            vector=vector,
            prior=prior,
            passage_prior=passage,
            alone=alone,
        )
        retriever = Retriever(base.store, encoder, settings, context=weights)
        retriever._vectors = vectors
        rows = gather(data, retriever)
        dev = [r for r in rows if r.split == "dev"]
        for own, gain, short in itertools.product(
            (0.0, 0.2, 0.35, 0.5), (0.1, 0.25, 1.1), (False, True)
        ):
            rule = replace(weights, own=own, gain=gain, short=short)
            f, s, a = score(dev, rule)
            key = (min(f / 0.85, 1) + min(s / 0.95, 1), f + s)
            if best is None or key > best[0]:
                best = (key, rule, rows)
        print(
            f"{words} {vector} {prior}/{passage} {alone}: best so far {best[1]}"
            f" dev {score([r for r in best[2] if r.split == 'dev'], best[1])}",
            flush=True,
        )
    assert best is not None
    _, rule, rows = best
    print("chosen on dev:", rule)
    for split in ("dev", "test"):
        f, s, a = score([r for r in rows if r.split == split], rule)
        print(f"  {split}: follow-up R@1 alone {a:.3f} in context {f:.3f}; switches {s:.3f}")
    for signal in ("cues only", "gain only"):
        probe = replace(rule, gain=1.1) if signal == "cues only" else rule
        if signal == "gain only":
            rows_nc = [replace(r, reading=replace(r.reading, cues=frozenset())) for r in rows]
        else:
            rows_nc = rows
        f, s, a = score([r for r in rows_nc if r.split == "dev"], probe)
        print(f"  ablation {signal} (dev): follow-ups {f:.3f} switches {s:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
