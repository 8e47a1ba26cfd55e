"""Choose the fusion weights and fit the abstention calibration on a retrieval-eval file.

    python benchmarks/tune_retrieval.py ../shared/data/arcd/arcd.retrieval.json --cache DIR

Encodes every question once, pools candidates once, then grid-searches the weights
offline; the abstention fit uses the half-corpus folds of `qabot eval --unanswerable`.
The chosen values are written into `FusionWeights` (qabot/fusion.py) by hand, with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from qabot.arabic import is_mostly_arabic
from qabot.config import Settings
from qabot.evaluate import (
    article_of,
    fold_of,
    index_eval_set,
    index_fold,
    load_eval_set,
    paragraph_of,
)
from qabot.fusion import fuse, zscore
from qabot.model import load_encoder


def question_vectors(encoder, questions: list[str], cache: Path) -> np.ndarray:
    prompt = getattr(encoder, "query_prompt", "")
    key = "\n".join(questions) + f"\n{encoder.model_id}\nquery prompt {prompt!r}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache / f"questions-{digest}.npy"
    if path.exists():
        return np.load(path)
    vecs = np.concatenate(
        [encoder.encode_queries(questions[i : i + 64]) for i in range(0, len(questions), 64)]
    )
    np.save(path, vecs)
    return vecs


def ranks_for(pools, gold: list[str], p: float, w: float, c: float) -> np.ndarray:
    out = []
    for (found, ids, arabic), g in zip(pools, gold, strict=True):
        dense = p * found.cos_p + (1 - p) * found.cos_s
        lexical = w * zscore(found.bm25) + c * zscore(found.coverage)
        fused = (1 - w) * zscore(dense) + lexical if arabic else dense
        order = [ids[i] for i in np.argsort(-fused, kind="stable")]
        out.append(order.index(g) + 1 if g in order else 10**6)
    return np.array(out)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    scores = np.concatenate([pos, neg])
    ranks = scores.argsort().argsort() + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(Path(args.file))
    chunks, retriever = index_eval_set(data, cache, settings, encoder, progress=True)
    questions = [q.question for q in data.questions]
    gold = [q.paragraph_id for q in data.questions]
    vecs = question_vectors(encoder, questions, cache)

    known = {p.id for art in data.articles for p in art.paragraphs}
    pools = []
    for q, v in zip(questions, vecs, strict=True):
        found = retriever.candidates(q, v)
        ids = [paragraph_of(retriever.snapshot.by_key[int(k)].id, known) for k in found.keys]
        pools.append((found, ids, is_mostly_arabic(q)))

    print("p(paragraph)  w(bm25)  c(coverage)   R@1    R@5   MRR@10")
    best = None
    for p in (0.5, 0.6, 0.7):
        for w in (0.4, 0.5, 0.6):
            for c in (0.0, 0.1, 0.2, 0.3):
                r = ranks_for(pools, gold, p, w, c)
                row = ((r == 1).mean(), (r <= 5).mean(), np.where(r <= 10, 1 / r, 0).mean())
                print(f"{p:10.2f} {w:9.2f} {c:11.2f}  {row[0]:.4f}  {row[1]:.4f}  {row[2]:.4f}")
                if best is None or row[2] > best[0][2]:
                    best = (row, p, w, c)
    print("best by MRR@10:", best)

    # Abstention: index one half, ask everything; features of the top passage.
    feats, labels = [], []
    gold_article = article_of(data)
    for fold in (0, 1):
        r = index_fold(cache, chunks, fold, settings, encoder)
        for q, v, g in zip(questions, vecs, gold, strict=True):
            found = r.candidates(q, v)
            i = int(np.argmax(fuse(found, "hybrid", is_mostly_arabic(q))))
            cov = float(found.coverage[i])
            feats.append((float(found.dense[i]), cov))
            labels.append(fold_of(gold_article[g]) == fold)
    x = np.array(feats)
    y = np.array(labels)
    print(f"AUC dense {auc(x[y, 0], x[~y, 0]):.3f}  coverage {auc(x[y, 1], x[~y, 1]):.3f}")
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=100.0).fit(x, y)
    a, b = model.coef_[0]
    c = model.intercept_[0]
    prob = model.predict_proba(x)[:, 1]
    print(
        f"logistic: dense {a:.2f}, coverage {b:.2f}, bias {c:.2f}; AUC {auc(prob[y], prob[~y]):.3f}"
    )
    for t in (0.2, 0.3, 0.4, 0.5, 0.6):
        print(
            f"  threshold {t:.1f}: answerable kept {(prob[y] >= t).mean():.3f}, "
            f"unanswerable refused {(prob[~y] < t).mean():.3f}"
        )
    for target in (0.95, 0.96, 0.97):
        t = float(np.quantile(prob[y], 1 - target))
        print(f"  keep {target:.0%} -> threshold {t:.3f}, refused {(prob[~y] < t).mean():.3f}")


if __name__ == "__main__":
    main()
