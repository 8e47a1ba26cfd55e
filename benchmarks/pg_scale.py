"""The PostgreSQL + pgvector store against the file store at scale, side by side in one run.

A synthetic corpus of N passages (each three sentences drawn from ARCD's paragraphs, so the
lexical leg sees real Arabic), embedded by a stand-in encoder that gives each text a fixed
random unit vector (no model: the figures are the stores', not the encoder's). For each
store: full build, an incremental edit of 10 passages, the query time of
`Retriever.search` with the question vector given (everything but encoding; ARCD questions,
vectors near a random passage), top-10 recall of the passage vector leg against exact
search, and the size on disk. The server runs with ``--shared-buffers`` (1GB: the 100k
passage HNSW graph alone is ~200 MB, past PostgreSQL's default 128MB, and a database server
is given its cache). Writes benchmarks/results/pg_scale-<N>.json.

    .venv/bin/python benchmarks/pg_scale.py [--passages 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer  # noqa: E402

from qabot.arabic import split_sentences  # noqa: E402
from qabot.chunking import Chunk, paragraph_chunks  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.index import FileStore, SnapshotStore, index_chunks  # noqa: E402
from qabot.index.postgres import PostgresStore, close_pool  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = ROOT / "benchmarks" / "results"
DIM = 384


class RandomEncoder:
    """A fixed random unit vector per text: stands in for the model at any scale."""

    model_id = "random-unit-vectors"
    dim = DIM

    def _one(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, DIM), "f4")

    encode_queries = encode_passages

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def corpus(n: int, data_file: Path = DATA, seed: int = 0) -> tuple[list[Chunk], list[str]]:
    data = json.loads(data_file.read_text(encoding="utf-8"))
    sentences = [
        s for a in data["articles"] for p in a["paragraphs"] for s in split_sentences(p["text"])
    ]
    rng = random.Random(seed)
    chunks = []
    for i in range(n):
        text = " ".join(rng.sample(sentences, 3))
        chunks += paragraph_chunks(
            f"s{i // 5}#{i % 5 + 1}",
            text,
            10_000,
            len,
            article=f"s{i // 5}",
            paragraph=i % 5 + 1,
            title=f"مقال {i // 5}",
        )
    return chunks, [q["question"] for q in data["questions"]]


def du(path: Path) -> int:
    return int(
        subprocess.run(
            ["du", "-sb", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )


def measure(
    name: str,
    store: SnapshotStore,
    chunks: list[Chunk],
    questions: list[str],
    rng: np.random.Generator,
) -> dict[str, object]:
    encoder = RandomEncoder()
    started = time.perf_counter()
    index_chunks(chunks, store, encoder, batch=256)
    build = time.perf_counter() - started
    edited = list(chunks)
    for i in rng.choice(len(chunks), 10, replace=False).tolist():
        c = edited[i]
        edited[i] = c.model_copy(update={"text": c.text + " (تحديث)", "hash": c.hash[::-1]})
    started = time.perf_counter()
    report = index_chunks(edited, store, encoder, batch=256)
    edit = time.perf_counter() - started
    assert report.updated == 10, report
    retriever = Retriever(store, encoder, Settings())
    vectors = encoder.encode_passages([c.match_text for c in edited])
    times, recall = [], []
    for q in questions:
        target = vectors[rng.integers(len(vectors))]
        v = target + 0.9 * encoder._one(q)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        started = time.perf_counter()
        retriever.search(q, k=10, vector=v)
        times.append((time.perf_counter() - started) * 1000)
        exact = {edited[i].key for i in np.argsort(-(vectors @ v))[:10].tolist()}
        got = {key for key, _ in retriever.snapshot.passages.search(v, 10)}
        recall.append(len(got & exact) / 10)
    return {
        "store": name,
        "build_s": round(build, 2),
        "edit10_s": round(edit, 3),
        "query_p50_ms": round(float(np.percentile(times, 50)), 2),
        "query_p95_ms": round(float(np.percentile(times, 95)), 2),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DATA, help="ARCD's retrieval JSON")
    parser.add_argument(
        "--shared-buffers", default="1GB", help="the server's cache (PostgreSQL's own: 128MB)"
    )
    args = parser.parse_args()
    chunks, questions = corpus(args.passages, args.data)
    questions = questions[: args.queries]
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="qabot-scale-"))
    server = PgServer.start(f"-c shared_buffers={args.shared_buffers}")
    try:
        url = server.new_database("scale")
        folder = tmp / "index"
        rows.append(
            measure(
                "files (FAISS flat + in-memory BM25)",
                FileStore(folder),
                chunks,
                questions,
                np.random.default_rng(1),
            )
        )
        rows[-1]["size_mb"] = round(du(folder) / 1e6, 1)
        rows.append(
            measure(
                "postgres (pgvector HNSW + BM25 from one row per key)",
                PostgresStore(url),
                chunks,
                questions,
                np.random.default_rng(1),
            )
        )
        import psycopg

        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        rows[-1]["size_mb"] = round(int(size[0]) / 1e6, 1) if size else None
        close_pool(url)
    finally:
        server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "passages": len(chunks), "queries": len(questions), "cpus": os.cpu_count(),
        "shared_buffers": args.shared_buffers, "rows": rows,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"pg_scale-{args.passages}.json").write_text(
        json.dumps(out, indent=1) + "\n", encoding="utf-8"
    )
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
