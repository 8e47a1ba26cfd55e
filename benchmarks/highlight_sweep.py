"""How the highlight's question-word weight (`FusionWeights.sentence_lexical`) moves it.

    python benchmarks/highlight_sweep.py [FILE.retrieval.json] --cache DIR

For every question whose gold paragraph comes first and contains the answer text, checks
whether the highlighted sentence overlaps the answer (as ``qabot eval`` does), for several
weights of the question-word share; 0 is dense sentence similarity alone.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from qabot.config import Settings
from qabot.evaluate import highlight_hits, index_eval_set, load_eval_set, paragraph_of
from qabot.model import load_encoder
from qabot.retriever import Retriever

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ARCD))
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(Path(args.file))
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    questions = [q for q in data.questions if q.answer_text]
    known = {p.id for art in data.articles for p in art.paragraphs}
    vectors = encoder.encode_queries([q.question for q in questions])
    for weight in (0.0, 0.15, 0.3, 0.5, 1.0):
        weights = replace(retriever.weights, sentence_lexical=weight)
        weighted = Retriever(retriever.store, encoder, settings, weights)
        hits = []
        for q, v in zip(questions, vectors, strict=True):
            top = weighted.search(q.question, k=1, vector=v)[0]
            if paragraph_of(top.id, known) == q.paragraph_id:
                hit = highlight_hits(top.text, top.sentence, q.answer_text)
                if hit is not None:
                    hits.append(hit)
        print(f"sentence_lexical {weight:.2f}: highlight {np.mean(hits):.1%} of {len(hits)}")


if __name__ == "__main__":
    main()
