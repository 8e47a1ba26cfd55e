"""Arabic synonym expansion from the corpus's own word vectors, measured on ARCD.

    python benchmarks/arabic_synonyms.py --cache DIR [--json FILE]

BM25 cannot bridge different words for one thing (اسم ↔ مسمى). The bridge's vocabulary
(:mod:`qabot.bridge`: the corpus's Arabic words embedded by the model) gives each content
word of an Arabic question its ``k`` nearest corpus words at cosine ≥ ``t`` that share no
stem with it; they form a second BM25/coverage query added to the shipped fusion at weights
``s`` (BM25) and ``c`` (coverage): ``fused + s·z(BM25') + c·z(coverage')``. R@1 on all ARCD
questions, and on each half of the articles (``fold_of``) so a choice can be checked on the
other half. Nothing here uses the seed test questions.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from qabot.arabic import STOPWORDS, is_arabic_token, term_groups, tokenize
from qabot.bridge import Bridge
from qabot.config import Settings
from qabot.evaluate import article_of, fold_of, index_eval_set, load_eval_set, paragraph_of
from qabot.fusion import fuse, zscore
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/arabic_synonyms.json")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    snap, lexical = retriever.snapshot, retriever.snapshot.lexical
    bridge = Bridge.build([c.text for c in snap.chunks], encoder)
    vocab = bridge.vectors.astype(np.float32)
    stems = [set(term_groups(w)[0]) if term_groups(w) else set() for w in bridge.words]
    known = {p.id for art in data.articles for p in art.paragraphs}
    gold_article = article_of(data)
    qs = data.questions
    vectors = encoder.encode_queries([q.question for q in qs])
    words = sorted({t for q in qs for t in tokenize(q.question)
                    if is_arabic_token(t) and t not in STOPWORDS and len(t) > 2})  # fmt: skip
    word_vectors = dict(zip(words, encoder.encode_queries(words), strict=True))
    found = [retriever.candidates(q.question, v) for q, v in zip(qs, vectors, strict=True)]
    fused0 = [fuse(f, "hybrid", True, retriever.weights) for f in found if f is not None]
    folds = np.array([fold_of(gold_article[q.paragraph_id]) for q in qs])
    rows = []
    for k, t in itertools.product((1, 3), (0.9, 0.93)):
        legs = []
        for q, f in zip(qs, found, strict=True):
            assert f is not None
            extra: list[str] = []
            for token in tokenize(q.question):
                if token not in word_vectors:
                    continue
                own = set(term_groups(token)[0])
                sims = vocab @ word_vectors[token]
                near = [i for i in np.argsort(-sims)[: k + 5]
                        if sims[i] >= t and not stems[i] & own]  # fmt: skip
                extra += [bridge.words[i] for i in near[:k]]
            query = lexical.query(" ".join(extra), 0)
            legs.append((query.scores(f.keys), query.coverage(f.keys)))
        for s, c in ((0.0, 0.0), (0.05, 0.0), (0.1, 0.0), (0.05, 0.05), (0.1, 0.1)):
            hits = []
            for q, f, base, (bm25, cov) in zip(qs, found, fused0, legs, strict=True):
                assert f is not None
                fused = base + s * zscore(bm25) + c * zscore(cov)
                best = snap.by_key[int(f.keys[int(np.argmax(fused))])]
                hits.append(paragraph_of(best.id, known) == q.paragraph_id)
            h = np.array(hits)
            row = {"k": k, "t": t, "s": s, "c": c, "r1": round(float(h.mean()), 4),
                   "r1_fold0": round(float(h[folds == 0].mean()), 4),
                   "r1_fold1": round(float(h[folds == 1].mean()), 4)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"n": len(qs), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
