"""The BM25 leg before and after the scale changes (issue 12), side by side on ARCD.

    PYTHONPATH=src .venv/bin/python benchmarks/lexical_parity.py OLD_LEXICAL.py INDEX_DIR

OLD_LEXICAL.py: the previous ``qabot/index/lexical.py`` (``git show REV:src/qabot/index/
lexical.py``); INDEX_DIR: an ARCD eval index (``qabot eval --cache DIR`` leaves one in
``DIR/full``), for its passages. For every ARCD question: the BM25 hits, every passage's
score and coverage from both; and the lexical-only R@1 / MRR@10 of both, and of the new
one with pruning forced (keys in more than 5 % of the passages keep no posting list, which
at ARCD's 465 passages the default floor never allows). No model: the dense leg does not
change. Writes benchmarks/results/lexical_parity.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from qabot.evaluate import load_eval_set, paragraph_of
from qabot.index import FileStore, bm25
from qabot.index.lexical import LexicalIndex

HERE = Path(__file__).resolve().parent
ARCD = Path("/work/shared/data/arcd/arcd.retrieval.json")


def old_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("qabot.index._old_lexical", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def ranks(index: Any, questions: list[Any], by_key: dict[int, str], known: set[str]) -> dict:
    r1, mrr = [], []
    for q in questions:
        hits = [paragraph_of(by_key[k], known) for k, _ in index.query(q.question, 10).hits]
        rank = hits.index(q.paragraph_id) + 1 if q.paragraph_id in hits else None
        r1.append(rank == 1)
        mrr.append(1 / rank if rank else 0.0)
    return {"r1": round(float(np.mean(r1)), 4), "mrr10": round(float(np.mean(mrr)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("index", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "lexical_parity.json")
    args = parser.parse_args()
    data = load_eval_set(ARCD)
    chunks = FileStore(args.index).load().chunks
    ids, texts = [c.key for c in chunks], [c.match_text for c in chunks]
    by_key = {c.key: c.id for c in chunks}
    known = {p.id for a in data.articles for p in a.paragraphs}
    old = old_module(args.old).LexicalIndex.build(ids, texts)
    new = LexicalIndex.build(ids, texts)
    differ = {"hits": 0, "scores": 0.0, "coverage": 0.0}
    for q in data.questions:
        a, b = old.query(q.question, 50), new.query(q.question, 50)
        differ["hits"] += [i for i, _ in a.hits] != [i for i, _ in b.hits]
        differ["scores"] = max(differ["scores"], float(np.abs(a.scores(ids) - b.scores(ids)).max()))
        cov = float(np.abs(a.coverage(ids) - b.coverage(ids)).max())
        differ["coverage"] = max(differ["coverage"], cov)
    out = {"questions": len(data.questions), "passages": len(ids), "differences": differ}
    out["old"] = ranks(old, data.questions, by_key, known)
    out["new"] = ranks(new, data.questions, by_key, known)
    bm25.MIN_PRUNED_DF = 0
    forced = LexicalIndex.build(ids, texts)
    out["forced_pruned_keys"] = int((forced._indptr[1:] == forced._indptr[:-1]).sum())
    out["new_forced_pruning"] = ranks(forced, data.questions, by_key, known)
    print(json.dumps(out))
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
