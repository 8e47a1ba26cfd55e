"""English questions over Arabic paragraphs: ranking and abstention against the Arabic originals.

    python benchmarks/english_eval.py [--cache DIR]

Takes the 178 hand-written English ARCD questions in
``benchmarks/data/arcd-english-questions.json``,
writes two retrieval-eval files over the whole ARCD corpus (the English questions and their
Arabic originals, same gold paragraphs) and runs ``qabot eval``'s measurement on each:
hybrid and dense ranking, and the half-corpus abstention report. English questions take the
dense leg only, so their hybrid and dense rows must agree; the gap to the Arabic rows is
what the cross-lingual step costs, and the abstention rows check ``FusionWeights.conf_other``.

Last, it fits the English confidence: a logistic regression of "the gold article is in the
indexed half" on the top passage's dense score (both folds of the abstention split), and the
dense score that keeps 95 % of answerable English questions. ``FusionWeights.conf_other``
in ``qabot/fusion.py`` takes the fitted slope and the bias that puts the default threshold
(0.23) at that dense score, the rule the Arabic calibration follows too: printed as
``conf_other = (...)``. Nothing here uses the seed questions that the tests check.
The figures go to ``benchmarks/results/english_eval.json`` as well (``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from qabot.config import Settings
from qabot.evaluate import article_of, evaluate, fold_of, load_eval_set, paragraph_of
from qabot.fusion import zscore
from qabot.index import FileStore
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"
RESULTS = ROOT / "benchmarks" / "results"


def write_sets(out: Path) -> dict[str, Path]:
    """The English questions and their Arabic originals, each as a retrieval-eval file."""
    arcd = json.loads(ARCD.read_text(encoding="utf-8"))
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    originals = [q for q in arcd["questions"] if q["id"] in english]
    missing = set(english) - {q["id"] for q in originals}
    if missing:
        raise SystemExit(f"{ENGLISH.name}: ids not in {ARCD.name}: {sorted(missing)}")
    paths = {}
    n = len(originals)
    for name, questions in (
        (f"arcd-{n}-arabic", originals),
        (f"arcd-{n}-english", [{**q, "question": english[q["id"]]} for q in originals]),
    ):
        path = out / f"{name}.retrieval.json"
        data = {"name": name, "articles": arcd["articles"], "questions": questions}
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        paths[name] = path
    return paths


def fit_english(path: Path, cache: Path, settings: Settings, encoder) -> dict:
    """Fit P(answerable) on the English top dense score over the two half-corpus folds."""
    from sklearn.linear_model import LogisticRegression

    data = load_eval_set(path)
    article = article_of(data)
    vectors = encoder.encode_queries([q.question for q in data.questions])
    dense, label = [], []
    for fold in (0, 1):
        retriever = Retriever(FileStore(cache / f"fold{fold}"), encoder, settings)
        for q, v in zip(data.questions, vectors, strict=True):
            found = retriever.candidates(q.question, v, "dense")
            dense.append(float(found.dense.max()))
            label.append(fold_of(article[q.paragraph_id]) == fold)
    x, y = np.array(dense), np.array(label)
    model = LogisticRegression(C=100.0).fit(x[:, None], y)
    keep95 = float(np.quantile(x[y], 0.05))
    auc = float((x[y][:, None] > x[~y][None, :]).mean())
    print(
        f"\nEnglish confidence fit: slope {model.coef_[0][0]:.2f}, bias {model.intercept_[0]:.2f}; "
        f"dense AUC {auc:.3f}; top dense answerable mean {x[y].mean():.3f}, "
        f"unanswerable {x[~y].mean():.3f}; 95 % of answerable at dense >= {keep95:.3f}"
    )
    for keep in (0.98, 0.95, 0.90):
        boundary = float(np.quantile(x[y], 1 - keep))
        print(
            f"  boundary {boundary:.3f}: answerable answered {(x[y] >= boundary).mean():.1%}, "
            f"unanswerable refused {(x[~y] < boundary).mean():.1%}"
        )
    slope = float(model.coef_[0][0])
    threshold = Settings().min_confidence
    bias = math.log(threshold / (1 - threshold)) - slope * keep95
    print(f"conf_other = ({slope:.2f}, 0.0, {bias:.2f})  # {threshold} at dense {keep95:.4f}")
    return {
        "slope": round(slope, 2),
        "bias": round(bias, 2),
        "boundary": round(keep95, 4),
        "auc": round(auc, 3),
        "answered": round(float((x[y] >= keep95).mean()), 4),
        "refused": round(float((x[~y] < keep95).mean()), 4),
    }


def english_with_bm25(path: Path, cache: Path, settings: Settings, encoder) -> dict:
    """R@1 with BM25 over the English questions' bridged Arabic words (:mod:`qabot.bridge`)
    at weight w and no coverage: w = 0 is the dense leg alone."""
    data = load_eval_set(path)
    retriever = Retriever(FileStore(cache / "full"), encoder, settings)
    vectors = encoder.encode_queries([q.question for q in data.questions])
    known = {p.id for art in data.articles for p in art.paragraphs}
    out = {}
    for w in (0.0, 0.1, 0.2):
        right = []
        for q, v in zip(data.questions, vectors, strict=True):
            found = retriever.candidates(q.question, v, "hybrid")
            fused = (1 - w) * zscore(found.dense) + w * zscore(found.bm25)
            top = retriever.snapshot.by_key[int(found.keys[int(np.argmax(fused))])]
            right.append(paragraph_of(top.id, known) == q.paragraph_id)
        print(f"English with bridged BM25 at weight {w:.1f}: R@1 {np.mean(right):.3f}")
        out[f"{w:.1f}"] = round(float(np.mean(right)), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, help="keep the scratch ARCD indexes here")
    ap.add_argument("--json", type=Path, default=RESULTS / "english_eval.json")
    args = ap.parse_args()
    rows = []
    settings = Settings()
    encoder = load_encoder(settings)
    print(
        "| questions | mode | R@1 | R@5 | MRR@10 "
        "| answered | right and answered | refused (other half) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "index"
        sets = write_sets(Path(tmp))
        for name, path in sets.items():
            for mode in ("hybrid", "dense"):
                r = evaluate(
                    path,
                    settings,
                    encoder,
                    mode=mode,
                    unanswerable=mode == "hybrid",
                    cache=cache,
                )
                abstention = (
                    f"{r.answered:.1%} | {r.answered_correct:.1%} | {r.refused_unanswerable:.1%}"
                    if r.answered is not None
                    else "| |"
                )
                print(
                    f"| {name} ({r.n}) | {mode} | {r.r1:.3f} | {r.r5:.3f} | {r.mrr10:.3f} | "
                    f"{abstention} |",
                    flush=True,
                )
                rows.append(
                    {
                        "questions": name, "n": r.n, "mode": mode, "r1": r.r1, "r5": r.r5,
                        "mrr10": r.mrr10, "answered": r.answered,
                        "answered_correct": r.answered_correct,
                        "refused_unanswerable": r.refused_unanswerable,
                    }
                )  # fmt: skip
        english = next(path for name, path in sets.items() if name.endswith("-english"))
        fit = fit_english(english, cache, settings, encoder)
        bm25 = english_with_bm25(english, cache, settings, encoder)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {"rows": rows, "fit": fit, "english_with_bm25": bm25}
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
