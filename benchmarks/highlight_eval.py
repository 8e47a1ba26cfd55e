"""The highlighted sentence, on ARCD and on the seed article, by answer-type cue weight.

    python benchmarks/highlight_eval.py --cache DIR [--json benchmarks/results/highlight_eval.json]

ARCD: for every question whose gold paragraph comes first and contains its answer text,
whether the highlighted sentence overlaps the answer (as ``qabot eval`` counts it), for
several weights of ``FusionWeights.sentence_cue`` (0 = no cue); also for the questions a
cue fires on alone (كم/متى/how many/when), where it can change anything. Seed: the
questions of ``benchmarks/data/seed-highlight.json`` (none is a test question), whether the
highlighted sentence holds the expected text. The weight is chosen on ARCD; the seed set
only checks it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from qabot.config import Settings
from qabot.evaluate import highlight_hits, index_eval_set, load_eval_set, paragraph_of
from qabot.highlight import answer_cue
from qabot.index import build_index
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
SEED = ROOT / "benchmarks" / "data" / "seed-highlight.json"
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3)


def arcd_rows(cache: Path, settings: Settings, encoder) -> list[dict]:
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, cache, settings, encoder)
    questions = [q for q in data.questions if q.answer_text]
    known = {p.id for art in data.articles for p in art.paragraphs}
    vectors = encoder.encode_queries([q.question for q in questions])
    rows = []
    for weight in WEIGHTS:
        weighted = Retriever(
            retriever.store, encoder, settings, replace(retriever.weights, sentence_cue=weight)
        )
        hits, cued = [], []
        for q, v in zip(questions, vectors, strict=True):
            top = weighted.search(q.question, k=1, vector=v)[0]
            if paragraph_of(top.id, known) != q.paragraph_id:
                continue
            hit = highlight_hits(top.text, top.sentence, q.answer_text)
            if hit is not None:
                hits.append(hit)
                if answer_cue(q.question):
                    cued.append(hit)
        rows.append(
            {"weight": weight, "highlight": round(float(np.mean(hits)), 4), "n": len(hits),
             "cued": round(float(np.mean(cued)), 4), "cued_n": len(cued)}
        )  # fmt: skip
        print(f"ARCD, sentence_cue {weight:.2f}: {rows[-1]}", flush=True)
    return rows


def seed_rows(settings: Settings, encoder) -> list[dict]:
    questions = json.loads(SEED.read_text(encoding="utf-8"))["questions"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "articles").mkdir()
        for seed in (ROOT / "articles").glob("000_*.txt"):
            shutil.copy(seed, Path(tmp) / "articles" / seed.name)
        local = settings.model_copy(
            update={"articles_dir": Path(tmp) / "articles", "index_dir": Path(tmp) / "i"}
        )
        build_index(local, encoder=encoder)
        base = Retriever.load(settings=local, encoder=encoder)
        for weight in WEIGHTS:
            weighted = Retriever(
                base.store, encoder, local, replace(base.weights, sentence_cue=weight)
            )
            right, hits = 0, 0
            for q in questions:
                top = weighted.search(q["question"], k=1)[0]
                if top.paragraph == q["paragraph"]:
                    right += 1
                    hits += bool(top.sentence and q["answer"] in top.sentence)
            rows.append({"weight": weight, "right_paragraph": right, "highlight": hits,
                         "n": len(questions)})  # fmt: skip
            print(f"seed, sentence_cue {weight:.2f}: {rows[-1]}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True, help="ARCD index folder (reused)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/highlight_eval.json")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    seed = seed_rows(settings, encoder)
    result = {"seed": seed, "arcd": arcd_rows(args.cache, settings, encoder)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
