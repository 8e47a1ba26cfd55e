"""Which approximate passage index past the threshold: IVF-Flat, HNSW, or IVF fast-scan codes
re-ranked exactly (what qabot ships, `qabot.index.ann`), and at which settings.

    PYTHONPATH=src .venv/bin/python benchmarks/ann_choice.py [--sizes 100000,1000000]
        [--kinds ivf,codes,hnsw] [--threads 1] [--real]

Vectors as in benchmarks/scale.py: the real ARCD vectors (passages + sentences), then draws
from a Gaussian fitted to them, normalised (no topic clusters: the hard case); ``--noise``
draws around the real vectors instead (clustered); ``--real`` indexes only the 1,923 real
vectors. Queries: the 200 real ARCD question vectors. Per size and index: build time (wall
and CPU, ``--threads`` OpenMP threads), and per setting the mean CPU ms a query (one thread,
as qabot searches) and recall@10 against exact search. For the shipped index also: save and
load time, bytes on disk (read into memory on load / memory-mapped), and one article's edit
(5 vectors removed, 5 added). Writes benchmarks/results/ann_choice.json (a row per size and
kind of vectors).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from scale import HERE, StreamEncoder, load, real_parts

from qabot.index import ann
from qabot.index.vectors import FaissIndex


def recall(found: list[list[int]], exact: np.ndarray) -> float:
    shared = [len(set(f) & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)]
    return round(float(np.mean(shared)), 4)


def timed(search: Any, queries: np.ndarray) -> tuple[list[list[int]], float]:
    """Each query's top 10, and the mean CPU ms a query (wall time measures the load)."""
    faiss.omp_set_num_threads(1)
    start = time.process_time()
    found = [search(q) for q in queries]
    return found, round((time.process_time() - start) / len(queries) * 1000, 3)


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.t, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = round(time.perf_counter() - self.t, 1)
        self.cpu = round(time.process_time() - self.c, 1)


def faiss_top(index: Any, params: Any = None) -> Any:
    return lambda q: index.search(q.reshape(1, -1), 10, params=params)[1][0].tolist()


def ivf_flat(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, threads: int) -> Any:
    n, dim = vectors.shape
    nlist = ann.lists_for(n)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(threads)
    with Clock() as clock:
        sample = np.random.default_rng(0).permutation(n)[: nlist * ann.TRAIN_PER_LIST]
        index.train(vectors[np.sort(sample)])
        index.add(vectors)
    out: dict[str, Any] = {"lists": nlist, "build_s": clock.wall, "build_cpu_s": clock.cpu}
    for share in (2, 4, 8, 16):
        index.nprobe = max(1, nlist // share)
        found, ms = timed(faiss_top(index), queries)
        out[f"1/{share}"] = {"ms": ms, "recall10": recall(found, exact)}
    return out


def hnsw(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, threads: int) -> Any:
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    faiss.omp_set_num_threads(threads)
    with Clock() as clock:
        index.add(vectors)
    out: dict[str, Any] = {"build_s": clock.wall, "build_cpu_s": clock.cpu}
    for ef in (128, 256, 512, 1024):
        params = faiss.SearchParametersHNSW(efSearch=ef)
        found, ms = timed(faiss_top(index, params), queries)
        out[f"ef{ef}"] = {"ms": ms, "recall10": recall(found, exact)}
    return out


def codes(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, threads: int) -> Any:
    """The shipped index through qabot's own `FaissIndex`, switched past its threshold."""
    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64) * 3 + 1  # ids unrelated to positions
    index = FaissIndex(dim, ann_threshold=min(n - 1, 200_000))
    faiss.omp_set_num_threads(threads)
    with Clock() as clock:
        index.add(ids, vectors)
    out: dict[str, Any] = {"lists": ann.lists_for(n), "build_s": clock.wall}
    out["build_cpu_s"] = clock.cpu
    with tempfile.TemporaryDirectory(dir=Path.home() / ".cache") as folder:
        path = Path(folder) / "passages.faiss"
        with Clock() as clock:
            index.save(path)
        out["save_s"] = clock.wall
        sizes = {p.name: p.stat().st_size / 2**20 for p in Path(folder).iterdir()}
        out["disk_mb"] = round(sum(sizes.values()))
        # Read into memory on load: the codes file and the ids; the exact rows are mapped.
        out["mapped_mb"] = round(sizes["passages.vectors.npy"])
        out["read_mb"] = round(out["disk_mb"] - sizes["passages.vectors.npy"])
        del index
        with Clock() as clock:
            loaded = FaissIndex.load(path, dim)
        out["load_s"] = clock.wall

        def top(q: np.ndarray) -> list[int]:
            return [(i - 1) // 3 for i, _ in loaded.search(q, 10)]

        nlist = ann.lists_for(n)
        for share, rerank in [(2, 500), (2, 1000), (2, 2000), (2, 4000), (3, 2000), (4, 2000)]:
            loaded._index.nprobe = max(ann.MIN_PROBES, round(nlist / share))
            loaded.rerank = rerank
            found, ms = timed(top, queries)
            out[f"1/{share}, re-rank {rerank}"] = {"ms": ms, "recall10": recall(found, exact)}
        # One article's edit: its 5 passages replaced (tombstones), as `_sync` does it.
        gone = ids[:5]
        with Clock() as clock:
            loaded.remove(gone)
            loaded.add(gone, vectors[5:10])
        out["edit_s"], out["edit_cpu_s"] = clock.wall, clock.cpu
    return out


def exact_top10(vectors: np.ndarray, queries: np.ndarray, step: int = 100_000) -> np.ndarray:
    """Each query's exact top 10 rows, a block of rows at a time (no copy of the vectors)."""
    best = np.zeros((len(queries), 0), np.float32)
    rows = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(vectors), step):
        scores = np.concatenate((best, queries @ vectors[start : start + step].T), axis=1)
        block = np.arange(start, min(start + step, len(vectors)))
        rows = np.concatenate((rows, np.broadcast_to(block, (len(queries), len(block)))), axis=1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        best, rows = np.take_along_axis(scores, top, 1), np.take_along_axis(rows, top, 1)
    return rows


KINDS = {"ivf": ivf_flat, "codes": codes, "hnsw": hnsw}


def vectors_for(n: int, real: dict[str, Any], noise: float | None, folder: Path) -> np.ndarray:
    """The corpus, drawn 50,000 at a time into a mapped file in ``folder``: at a million
    vectors, 1.5 GB the kernel can write back instead of this process's memory."""
    pool = np.concatenate((real["passages"], real["sentences"]))
    if n <= 0:
        return pool.astype(np.float32)
    encoder = StreamEncoder(pool, seed=n, noise=noise)
    out = np.lib.format.open_memmap(folder / "corpus.npy", "w+", np.float32, (n, pool.shape[1]))
    for start in range(0, n, 50_000):
        out[start : start + 50_000] = encoder.encode_passages([""] * 50_000)[: n - start]
    return out


def measure(n: int, real: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=Path.home() / ".cache") as folder:
        return measure_on(vectors_for(n, real, args.noise, Path(folder)), real, args)


def measure_on(vectors: np.ndarray, real: dict[str, Any], args: argparse.Namespace) -> Any:
    queries = real["questions"].astype(np.float32)
    faiss.omp_set_num_threads(args.threads)
    exact, exact_ms = exact_top10(vectors, queries), None
    if len(vectors) <= 200_000:  # (a flat copy of a million vectors is 1.5 GB more)
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        _, exact_ms = timed(faiss_top(flat), queries)
        del flat
    n = len(vectors) if isinstance(vectors, np.memmap) else 0
    drawn = "real" if n <= 0 else f"real + {args.noise} × Gaussian" if args.noise else "Gaussian"
    out: dict[str, Any] = {"size": len(vectors), "vectors": drawn, "exact_ms": exact_ms}
    out |= {"threads": args.threads, "load_before": load()}
    for kind in args.kinds.split(","):
        before = load()
        out[kind] = KINDS[kind](vectors, queries, exact, args.threads)
        out[kind] |= {"threads": args.threads, "load": f"{before}–{load()}"}
        print(kind, json.dumps(out[kind]), flush=True)
    out["load_after"] = load()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="ivf,codes,hnsw")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads for builds")
    parser.add_argument("--noise", type=float, help="real vectors + noise, not the Gaussian")
    parser.add_argument("--real", action="store_true", help="only the real ARCD vectors")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ann_choice.json")
    args = parser.parse_args()
    real = real_parts(args.cache)
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    for n in [0] if args.real else [int(s) for s in args.sizes.split(",")]:
        row = measure(n, real, args)
        key = (row["size"], row["vectors"])
        earlier = [r for r in rows if (r["size"], r.get("vectors")) == key]
        row = (earlier[0] if earlier else {}) | row  # kinds not measured now stay as they were
        rows = [r for r in rows if (r["size"], r.get("vectors")) != key] + [row]
        rows.sort(key=lambda r: (r.get("vectors", ""), r["size"]))
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
