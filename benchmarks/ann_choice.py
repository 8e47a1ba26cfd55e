"""Which approximate FAISS index past the threshold: IVF-Flat or HNSW, and how many probes.

    PYTHONPATH=src .venv/bin/python benchmarks/ann_choice.py [--sizes 100000,1000000]

Vectors as in benchmarks/scale.py (the real ARCD vectors, then draws from a Gaussian fitted
to them, normalised); queries: the 200 real ARCD question vectors. Per size: exact search
time; IVF build (train + add) time, query time and recall@10 against exact for several
``nprobe``; HNSW (M=32) build time and, per ``efSearch``, query time and recall@10. One
thread, as qabot searches. Writes benchmarks/results/ann_choice.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from scale import HERE, StreamEncoder, load, real_parts

from qabot.index.vectors import _ivf, _lists_for


def timed_search(index: Any, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    """The hits, and the mean CPU ms a query (wall time only measures the machine's load)."""
    found = []
    start = time.process_time()
    for q in queries:
        _, ids = index.search(q.reshape(1, -1), k)
        found.append(ids[0])
    return np.array(found), round((time.process_time() - start) / len(queries) * 1000, 3)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    shared = [len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)]
    return round(float(np.mean(shared)), 4)


def measure(n: int, real: dict[str, Any], hnsw_max: int, noise: float | None) -> dict[str, Any]:
    vectors = np.concatenate((real["passages"], real["sentences"]))
    encoder = StreamEncoder(vectors, seed=n, noise=noise)
    vectors = np.concatenate([encoder.encode_passages([""] * 50_000) for _ in range(0, n, 50_000)])
    vectors = vectors[:n]
    queries = real["questions"].astype(np.float32)
    ids = np.arange(n, dtype=np.int64)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    exact, flat_ms = timed_search(flat, queries)
    out: dict[str, Any] = {"size": n, "load": load(), "exact_ms": flat_ms, "noise": noise}
    t = time.perf_counter()
    ivf = _ivf(vectors.shape[1], ids, vectors)
    out["ivf"] = {"lists": _lists_for(n), "build_s": round(time.perf_counter() - t, 1)}
    out["ivf"]["default_nprobe"] = ivf.nprobe
    for nprobe in (8, 16, 32, 64, 128, 256):
        ivf.nprobe = nprobe
        found, ms = timed_search(ivf, queries)
        out["ivf"][f"nprobe{nprobe}"] = {"ms": ms, "recall10": recall(found, exact)}
    del ivf
    if n <= hnsw_max:
        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        t = time.perf_counter()
        hnsw.add(vectors)
        out["hnsw32"] = {"build_s": round(time.perf_counter() - t, 1)}
        for ef in (32, 64, 128, 256):
            hnsw.hnsw.efSearch = ef
            found, ms = timed_search(hnsw, queries)
            out["hnsw32"][f"ef{ef}"] = {"ms": ms, "recall10": recall(found, exact)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--hnsw-max", type=int, default=200_000, help="skip HNSW above this")
    parser.add_argument("--noise", type=float, help="real vectors + noise, not the Gaussian")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ann_choice.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    real = real_parts(args.cache)
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    for n in (int(s) for s in args.sizes.split(",")):
        rows = [r for r in rows if (r["size"], r.get("noise")) != (n, args.noise)]
        rows.append(measure(n, real, args.hnsw_max, args.noise))
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
