"""pgvector HNSW settings on real embedding distributions: recall@10 against exact, and time.

The scale benchmark's vectors are uniform random, HNSW's worst case. Here the vectors are
(1) ARCD's own passages and sentences, embedded by the bundled model; (2) N vectors drawn from
a Gaussian fitted to those embeddings (their mean and covariance: the anisotropy of real
embeddings, at 10k/100k rows, which ARCD's 2k texts cannot give); (3) uniform random unit
vectors, for comparison. The queries are ARCD's questions, embedded by the model. For each set
and each index setting (``m``, ``ef_construction``) the index is built in a throwaway
PostgreSQL (build time), then every question's top 10 is read at each ``hnsw.ef_search``
(recall@10 against exact inner-product search in numpy, and the query's p50 wall time).
Writes benchmarks/results/pg_hnsw.json.

    .venv/bin/python benchmarks/pg_hnsw.py [--sizes 10000 100000] [--configs 16:64 16:128]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer  # noqa: E402

from qabot.arabic import split_sentences  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.evaluate import eval_chunks, load_eval_set  # noqa: E402
from qabot.model import load_encoder  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
OUT = ROOT / "benchmarks" / "results" / "pg_hnsw.json"
DIM = 384


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def arcd_vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ARCD's passage and sentence vectors, its question vectors), by the bundled model."""
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(path)
    chunks = eval_chunks(data, settings.max_chunk_tokens, encoder.count_tokens)
    texts = [c.match_text for c in chunks]
    sentences = list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
    corpus = encoder.encode_passages(texts + sentences)
    questions = encoder.encode_queries([q.question for q in data.questions])
    return unit(np.asarray(corpus)), unit(np.asarray(questions))


def fitted(real: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors from the Gaussian with ``real``'s mean and covariance."""
    rng = np.random.default_rng(seed)
    mean, cov = real.mean(axis=0), np.cov(real, rowvar=False)
    return unit(rng.multivariate_normal(mean, cov, size=n, method="eigh"))


def measure(
    conn: psycopg.Connection,
    vectors: np.ndarray,
    queries: np.ndarray,
    configs: list[tuple[int, int]],
    efs: list[int],
) -> list[dict[str, object]]:
    conn.execute("DROP TABLE IF EXISTS v")
    conn.execute(f"CREATE TABLE v (id integer PRIMARY KEY, embedding vector({DIM}))")
    with conn.cursor().copy("COPY v (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for i, row in enumerate(vectors):
            copy.write_row((i, row))
    conn.execute("ANALYZE v")
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    rows = []
    for m, efc in configs:
        conn.execute("DROP INDEX IF EXISTS v_hnsw")
        conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        conn.execute(
            f"CREATE INDEX v_hnsw ON v USING hnsw (embedding vector_ip_ops) "
            f"WITH (m = {m}, ef_construction = {efc})"
        )
        build = time.perf_counter() - started
        size = conn.execute("SELECT pg_relation_size('v_hnsw')").fetchone()
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {ef}")
            recall, times = [], []
            for q, gold in zip(queries, exact, strict=True):
                started = time.perf_counter()
                got = conn.execute(
                    "SELECT id FROM v ORDER BY embedding <#> %s LIMIT 10", (q,)
                ).fetchall()
                times.append((time.perf_counter() - started) * 1000)
                recall.append(len({r[0] for r in got} & set(gold.tolist())) / 10)
            row = {
                "m": m, "ef_construction": efc, "ef_search": ef, "build_s": round(build, 1),
                "index_mb": round(int(size[0]) / 1e6, 1) if size else None,
                "recall_at_10": round(float(np.mean(recall)), 4),
                "query_p50_ms": round(float(np.percentile(times, 50)), 2),
                "query_p95_ms": round(float(np.percentile(times, 95)), 2),
                "load": round(os.getloadavg()[0], 1),
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="ARCD's retrieval JSON")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--configs", nargs="*", default=["16:64", "16:128", "32:128"])
    parser.add_argument("--ef", type=int, nargs="*", default=[100, 200, 400])
    parser.add_argument("--random", action="store_true", help="uniform random too")
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    configs = [(int(a), int(b)) for a, b in (c.split(":") for c in args.configs)]
    real, queries = arcd_vectors(args.data)
    sets = [("arcd", real)]
    for n in args.sizes:
        sets.append((f"fitted-{n}", fitted(real, n, seed=n)))
        if args.random:
            rng = np.random.default_rng(n)
            sets.append((f"random-{n}", unit(rng.standard_normal((n, DIM)))))
    server = PgServer.start(f"-c shared_buffers={args.shared_buffers}")
    out: dict[str, object] = {"queries": len(queries), "cpus": os.cpu_count(), "sets": {}}
    try:
        url = server.new_database("hnsw")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            for name, vectors in sets:
                print(name, len(vectors), flush=True)
                rows = measure(conn, vectors, queries, configs, args.ef)
                out["sets"][name] = {"rows": len(vectors), "results": rows}  # type: ignore[index]
                OUT.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
