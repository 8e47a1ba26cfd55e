"""Abstention features beyond the dense score and coverage, fitted and scored on folds.

    python benchmarks/abstention_fit.py --cache DIR [--english] [--json FILE]

Every ARCD question (or, with ``--english``, every English question of
``benchmarks/data/arcd-english-questions.json``) is asked against both half-corpus indexes
of ``qabot eval --unanswerable`` (``qabot.evaluate.fold_of``): answerable in its own half,
unanswerable in the other. For the top passage it records the features the retriever has
at hand (:func:`qabot.fusion.confidence_features`; an English question's coverage is that
of its bridged Arabic words, :mod:`qabot.bridge`). Cross-validation is by article on a
second split (``article // 2 % 2``, so each part holds articles of both index halves): a
logistic regression per feature set is fitted on one part, its threshold set where 95 %
of that part's answerable questions are kept, then scored on the other part (both ways,
summed). Printed and written as JSON: answered and refused per feature set, and
``refused_at_95``: the held-out part's refusals at the score that answers exactly 95 % of
its answerable questions (the threshold's own noise removed), averaged over both parts.
``coef_all``/``bias_all`` fit all rows; ``shipped`` is that fit as ``FusionWeights`` takes it,
with the bias that puts the default threshold (0.23) where 95 % of answerable ones are kept.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qabot.arabic import is_mostly_arabic
from qabot.config import Settings
from qabot.evaluate import article_of, fold_of, index_eval_set, index_fold, load_eval_set
from qabot.fusion import FEATURES, confidence_features, fuse
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"
KEEP = 0.95


#: The features of one question's top passage, or None when nothing was found.
Row = Callable[[Retriever, str, np.ndarray], "list[float] | None"]


def confidence_row(retriever: Retriever, question: str, vector: np.ndarray) -> list[float] | None:
    """:func:`qabot.fusion.confidence_features` of the fused ranking's top passage."""
    arabic = is_mostly_arabic(question)
    found = retriever.candidates(question, vector, "hybrid")  # English: bridged words
    if found is None:
        return None
    i = int(np.argmax(fuse(found, "hybrid", arabic, retriever.weights)))
    return list(confidence_features(found, i, arabic))


def collect(
    cache: Path, english: bool, row: Row = confidence_row
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of the top passage (``row``), label (answerable), CV part; two rows per
    question."""
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    questions = data.questions
    if english:
        texts = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
        questions = [q.model_copy(update={"question": texts[q.id]}) for q in questions
                     if q.id in texts]  # fmt: skip
    chunks, _ = index_eval_set(data, cache, settings, encoder)
    article = article_of(data)
    saved = cache / ("vectors-english.npy" if english else "vectors-arabic.npy")
    if saved.exists():  # the same questions, already encoded by an earlier run
        vectors = np.load(saved)
    else:
        vectors = encoder.encode_queries([q.question for q in questions])
        np.save(saved, vectors)
    x, y, part = [], [], []
    for fold in (0, 1):
        retriever = index_fold(cache, chunks, fold, settings, encoder)
        for q, v in zip(questions, vectors, strict=True):
            features = row(retriever, q.question, v)
            if features is None:
                continue
            x.append(features)
            y.append(fold_of(article[q.paragraph_id]) == fold)
            part.append(int(article[q.paragraph_id][1:]) // 2 % 2)
    return np.array(x), np.array(y), np.array(part)


def held_out(x: np.ndarray, y: np.ndarray, part: np.ndarray, cols: list[int]) -> dict:
    """Answered, refused and refused at exactly 95 % answered, each part scored by a fit on
    the other."""
    from sklearn.linear_model import LogisticRegression

    answered, refused, at_95 = [], [], []
    for test in (0, 1):
        train = part != test
        model = LogisticRegression(C=10.0, max_iter=1000).fit(x[train][:, cols], y[train])
        p_train = model.decision_function(x[train][:, cols])
        boundary = float(np.quantile(p_train[y[train]], 1 - KEEP))
        p = model.decision_function(x[~train][:, cols])
        answered += list(p[y[~train]] >= boundary)
        refused += list(p[~y[~train]] < boundary)
        at_95.append(float((p[~y[~train]] < np.quantile(p[y[~train]], 1 - KEEP)).mean()))
    return {
        "answered": round(float(np.mean(answered)), 4),
        "refused": round(float(np.mean(refused)), 4),
        "refused_at_95": round(float(np.mean(at_95)), 4),
    }


def crossval(x: np.ndarray, y: np.ndarray, part: np.ndarray, cols: list[int]) -> dict:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=1000).fit(x[:, cols], y)
    p = model.decision_function(x[:, cols])
    boundary = float(np.quantile(p[y], 1 - KEEP))
    threshold = Settings().min_confidence
    coef = [round(float(c), 2) for c in model.coef_[0]]
    n = 2 if cols[:2] == [0, 1] else 1  # dense and coverage, or (English) dense alone
    bias = float(model.intercept_[0]) - boundary + math.log(threshold / (1 - threshold))
    return {
        "features": [FEATURES[c] for c in cols],
        **held_out(x, y, part, cols),
        "coef_all": coef,
        "bias_all": round(float(model.intercept_[0]), 2),
        "boundary_all": round(boundary, 3),
        "shipped": {"conf": [*coef[:n], *[0.0] * (2 - n), round(bias, 2)],
                    "more": [[FEATURES[c], w] for c, w in zip(cols[n:], coef[n:], strict=True)]},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--english", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    x, y, part = collect(args.cache, args.english)
    names = list(FEATURES)
    base = [names.index("dense"), names.index("coverage")] if not args.english else [0]
    sets = [base, list(range(len(names)))]
    sets += [base + [c] for c in range(len(names)) if c not in base]
    if not args.english:  # the pairs that hold out best with the BM25 z-score (README)
        sets.append(base + [names.index(n) for n in ("sentence", "paragraph", "bm25_z")])
    rows = []
    for cols in sets:
        row = crossval(x, y, part, cols)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = args.json or ROOT / "benchmarks" / "results" / (
        "abstention_fit-english.json" if args.english else "abstention_fit.json"
    )
    out.write_text(json.dumps({"n": int(len(y)), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
