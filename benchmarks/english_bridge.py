"""An English→Arabic bridge in the model's own embedding space, measured on English questions.

    python benchmarks/english_bridge.py --cache DIR [--json benchmarks/results/english_bridge.json]

English questions cannot match Arabic BM25 keys. The bridge (:mod:`qabot.bridge`) embeds the
corpus's distinct Arabic words once; an English question's content words are embedded too
and each is replaced by its ``k`` nearest Arabic words at cosine ≥ ``threshold``. Those
words form a BM25 and coverage query, fused with the dense z-score as the Arabic fusion does:
``(1 - w)·z(dense) + w·z(BM25) + c·z(coverage)``.

k, threshold, w and c are chosen on the English questions of one half of the articles
(``fold_of``, the abstention split) and scored on the other half; both ways, and the
whole 178 with the setting chosen on each half. Nothing here uses the seed test questions.

Last, latency on the same questions, interleaved in one run: a bare query encoding, and
encoding + ``Retriever.search`` without the bridge, with it warm (every English word met
before, its Arabic words kept) and cold (every word encoded and looked up again), as p50
ratios to the first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from qabot.bridge import MIN_COUNT, Bridge, english_words
from qabot.config import Settings
from qabot.evaluate import (
    EvalQuestion,
    article_of,
    fold_of,
    index_eval_set,
    load_eval_set,
    paragraph_of,
)
from qabot.fusion import Candidates, FusionWeights, zscore
from qabot.index.snapshot import Snapshot
from qabot.model import load_encoder
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"

GRID_K = (1, 2, 3, 5)
GRID_T = (0.80, 0.83, 0.86, 0.89)
GRID_W = (0.0, 0.1, 0.2, 0.3, 0.4)
GRID_C = (0.0, 0.1, 0.2)


def top1(
    snap: Snapshot,
    qs: list[EvalQuestion],
    found: list[Candidates | None],
    queries: list[str],
    w: float,
    c: float,
    known: set[str],
) -> np.ndarray:
    """Whether each question's first passage is its gold one, with BM25 and coverage of its
    Arabic ``queries`` fused at weights ``w`` and ``c`` into the dense leg's candidates."""
    hits = []
    for q, f, text in zip(qs, found, queries, strict=True):
        assert f is not None
        query = snap.lexical.query(text, 0)
        bm25, coverage = query.scores(f.keys), query.coverage(f.keys)
        fused = (1 - w) * zscore(f.dense) + w * zscore(bm25) + c * zscore(coverage)
        best = snap.by_key[int(f.keys[int(np.argmax(fused))])]
        hits.append(paragraph_of(best.id, known) == q.paragraph_id)
    return np.array(hits)


def cross_validate(
    right: dict[tuple[float, ...], np.ndarray],
    folds: np.ndarray,
    base: np.ndarray,
    names: tuple[str, ...],
) -> dict[str, object]:
    """Choose the setting on each half of the articles, score it on the other (the lexical
    weight, named third, breaks ties towards the smaller); print and return the figures."""
    print(f"dense alone: R@1 {base.mean():.3f} (n={len(base)})")
    result: dict[str, object] = {"n": len(base), "dense_r1": round(float(base.mean()), 4)}
    held = np.zeros(len(base), dtype=bool)
    for fold in (0, 1):
        tune, test = folds == fold, folds != fold
        best = max(right, key=lambda key: (right[key][tune].mean(), -key[2]))
        held[test] = right[best][test]
        chosen = dict(zip(names, best, strict=True))
        print(
            f"tuned on fold {fold} ({tune.sum()} q): {chosen}: R@1 tuned "
            f"{right[best][tune].mean():.3f}, held out {right[best][test].mean():.3f} "
            f"(dense {base[test].mean():.3f}), all {len(base)} {right[best].mean():.3f}"
        )
        result[f"fold{fold}"] = chosen | {
            "tuned_r1": round(float(right[best][tune].mean()), 4),
            "held_r1": round(float(right[best][test].mean()), 4),
            "held_dense_r1": round(float(base[test].mean()), 4),
            "all_r1": round(float(right[best].mean()), 4),
        }
    print(f"cross-validated R@1 (each half scored with the other half's choice): {held.mean():.3f}")
    result["cv_r1"] = round(float(held.mean()), 4)
    return result


def latency(retriever: Retriever, texts: list[str], rounds: int = 2) -> dict[str, float]:
    """p50 milliseconds of a bare encoding and of encoding + search three ways; the ratios."""
    bridge = retriever._bridge
    assert bridge is not None, "the index has no bridge"
    w = retriever.weights
    for text in texts:  # "warm": every word met before (a bot's steady state)
        bridge.arabic_query(text, retriever.encoder, w.bridge_words, w.bridge_threshold)
    times: dict[str, list[float]] = {"encode": [], "dense": [], "warm": [], "cold": []}
    for _ in range(rounds):
        for text in texts:
            for way in times:
                retriever._bridge = None if way == "dense" else bridge
                kept = bridge._english
                if way == "cold":  # a fresh cache for this search only
                    bridge._english = OrderedDict()
                start = time.perf_counter()
                vector = retriever.encoder.encode_queries([text])[0]
                if way != "encode":
                    retriever.search(text, k=3, vector=vector)
                times[way].append(time.perf_counter() - start)
                bridge._english = kept
    retriever._bridge = bridge
    p50 = {way: float(np.percentile(t, 50)) * 1000 for way, t in times.items()}
    out = {f"{way}_p50_ms": round(ms, 2) for way, ms in p50.items()}
    out |= {f"{way}_ratio": round(p50[way] / p50["encode"], 3) for way in ("dense", "warm", "cold")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/english_bridge.json")
    ap.add_argument("--min-count", type=int, default=MIN_COUNT, help="corpus words kept")
    ap.add_argument("--rounds", type=int, default=2, help="latency: passes over the questions")
    ap.add_argument("--latency-only", action="store_true", help="re-measure latency alone")
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    snap = retriever.snapshot
    bridge = retriever._bridge  # what the build wrote (qabot.bridge), or a smaller one
    if bridge is None or args.min_count != MIN_COUNT:
        texts = [c.match_text for c in snap.chunks]
        bridge = Bridge.build(texts, encoder, min_count=args.min_count)
    print(f"bridge vocabulary: {len(bridge)} Arabic words")
    known = {p.id for art in data.articles for p in art.paragraphs}
    gold_article = article_of(data)
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    qs = [q for q in data.questions if q.id in english]
    texts = [english[q.id] for q in qs]
    vectors = encoder.encode_queries(texts)
    words = sorted({w for t in texts for w in english_words(t)})
    if args.latency_only:  # the grid's figures stay as the last full run wrote them
        result = json.loads(args.json.read_text(encoding="utf-8"))
        result["latency"] = latency(retriever, texts, args.rounds)
        print("latency (p50, ratio to a bare encoding):", json.dumps(result["latency"]))
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        return
    word_vectors = dict(zip(words, encoder.encode_queries(words), strict=True))
    found = [retriever.candidates(t, v, "dense") for t, v in zip(texts, vectors, strict=True)]
    folds = np.array([fold_of(gold_article[q.paragraph_id]) for q in qs])
    right: dict[tuple[float, ...], np.ndarray] = {}  # (k, t, w, c) → per-question top-1 hits
    for k, t in itertools.product(GRID_K, GRID_T):
        queries = []
        for text in texts:
            vecs = np.array([word_vectors[w] for w in english_words(text)])
            queries.append(" ".join(bridge.nearest(vecs, k, t)) if len(vecs) else "")
        for w, c in itertools.product(GRID_W, GRID_C):
            right[(k, t, w, c)] = top1(snap, qs, found, queries, w, c, known)
    base = right[(GRID_K[0], GRID_T[0], 0.0, 0.0)]
    result: dict[str, object] = {"words": len(bridge), "min_count": args.min_count}
    result |= cross_validate(right, folds, base, ("k", "t", "w", "c"))
    result["grid"] = [
        {"k": k, "t": t, "w": w, "c": c, "r1": round(float(v.mean()), 4)}
        for (k, t, w, c), v in right.items()
    ]
    shipped = FusionWeights()
    key = (shipped.bridge_words, shipped.bridge_threshold, shipped.bridge_lexical,
           shipped.bridge_coverage)  # fmt: skip
    result["shipped"] = {"k": key[0], "t": key[1], "w": key[2], "c": key[3],
                         "r1": round(float(right[key].mean()), 4)}  # fmt: skip
    result["latency"] = latency(retriever, texts, args.rounds)
    print("latency (p50, ratio to a bare encoding):", json.dumps(result["latency"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
