"""Choose the fusion weights and fit the abstention calibration on a retrieval-eval file.

    python benchmarks/tune_retrieval.py ../shared/data/arcd/arcd.retrieval.json --cache DIR \
        [--json benchmarks/results/tune_retrieval.json]

Encodes every question once, pools candidates once, then grid-searches the weights
offline; the abstention fit uses the half-corpus folds of `qabot eval --unanswerable`.
The chosen values are written into `FusionWeights` (qabot/fusion.py) by hand, with the figures.

Both were chosen on all of ARCD, and the headline figures are ARCD's too, so it also
cross-validates: the questions are split by their gold article into the two halves
`qabot.evaluate.fold_of` defines; the grid and the logistic fit are chosen on one half's
questions and scored on the other's, both ways. What the shipped weights score on each half
is printed beside it, so the optimism of tuning on the test set shows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
from qabot.fusion import DEFAULT_WEIGHTS, fuse, zscore
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


GRID = [(p, w, c) for p in (0.5, 0.6, 0.7) for w in (0.4, 0.5, 0.6) for c in (0.0, 0.1, 0.2, 0.3)]


def scores(r: np.ndarray) -> dict[str, float]:
    return {
        "r1": round(float((r == 1).mean()), 4),
        "r5": round(float((r <= 5).mean()), 4),
        "mrr10": round(float(np.where(r <= 10, 1 / r, 0).mean()), 4),
    }


def abstention(prob: np.ndarray, y: np.ndarray, t: float) -> dict[str, float]:
    return {
        "answered": round(float((prob[y] >= t).mean()), 4),
        "refused": round(float((prob[~y] < t).mean()), 4),
    }


def cross_validate(pools, gold, half, x, y, qhalf, threshold: float) -> list[dict]:
    """Tune on the questions of one half of the articles, score the other half, both ways."""
    from sklearn.linear_model import LogisticRegression

    d = DEFAULT_WEIGHTS
    shipped = (d.paragraph, d.lexical, d.coverage)
    rows = []
    for tune in (0, 1):
        on, off = half == tune, half != tune
        sub = [pool for pool, keep in zip(pools, on, strict=True) if keep]
        sub_gold = [g for g, keep in zip(gold, on, strict=True) if keep]
        best = max(GRID, key=lambda pwc: scores(ranks_for(sub, sub_gold, *pwc))["mrr10"])
        test = [pool for pool, keep in zip(pools, off, strict=True) if keep]
        test_gold = [g for g, keep in zip(gold, off, strict=True) if keep]
        # The calibration: fitted on the tuning half's questions (each is answerable in one
        # fold index and unanswerable in the other), threshold at 95 % kept there.
        fit_rows, test_rows = qhalf == tune, qhalf != tune
        model = LogisticRegression(C=100.0).fit(x[fit_rows], y[fit_rows])
        prob = model.predict_proba(x)[:, 1]
        keep95 = float(np.quantile(prob[fit_rows & y], 0.05))
        a, b = model.coef_[0]
        shipped_conf = 1 / (1 + np.exp(-(x @ np.array(d.conf_arabic[:2]) + d.conf_arabic[2])))
        rows.append(
            {
                "tuned on": f"half {tune}",
                "scored on": f"half {1 - tune}",
                "weights": dict(zip(("paragraph", "lexical", "coverage"), best, strict=True)),
                "tuned": scores(ranks_for(test, test_gold, *best)),
                "shipped": scores(ranks_for(test, test_gold, *shipped)),
                "calibration": [round(float(a), 2), round(float(b), 2),
                                round(float(model.intercept_[0]), 2)],  # fmt: skip
                "threshold": round(keep95, 3),
                "abstention tuned": abstention(prob[test_rows], y[test_rows], keep95),
                "abstention shipped": abstention(
                    shipped_conf[test_rows], y[test_rows], threshold
                ),
            }
        )
        print(json.dumps(rows[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--json", type=Path, help="also write the figures here")
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
    half = np.array([fold_of(article_of(data)[g]) for g in gold])

    # Abstention: index one half, ask everything; features of the top passage.
    feats, labels, qhalf = [], [], []
    gold_article = article_of(data)
    for fold in (0, 1):
        r = index_fold(cache, chunks, fold, settings, encoder)
        for q, v, g in zip(questions, vecs, gold, strict=True):
            found = r.candidates(q, v)
            i = int(np.argmax(fuse(found, "hybrid", is_mostly_arabic(q))))
            cov = float(found.coverage[i])
            feats.append((float(found.dense[i]), cov))
            labels.append(fold_of(gold_article[g]) == fold)
            qhalf.append(fold_of(gold_article[g]))
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
    print("\ncross-validation (tune on one half of the articles, score the other):")
    rows = cross_validate(pools, gold, half, x, y, np.array(qhalf), settings.min_confidence)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "data": Path(args.file).name,
            "best on all": {"weights": list(best[1:]), **scores(ranks_for(pools, gold, *best[1:]))},
            "calibration on all": [round(float(a), 2), round(float(b), 2), round(float(c), 2)],
            "auc on all": round(auc(prob[y], prob[~y]), 3),
            "cross-validation": rows,
        }
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
