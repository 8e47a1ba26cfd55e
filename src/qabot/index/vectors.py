"""Vector search behind a small interface, so another store (e.g. pgvector) can stand in."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from ..config import DEFAULT_ANN_THRESHOLD
from ..errors import REBUILD_HINT, IndexError_

# One query at a time: OpenMP threads only add start-up and spin-wait costs here, and they
# fight torch's threads for the same two cores (measured: 13 ms → well under 1 ms a search).
faiss.omp_set_num_threads(1)

#: IVF training sample per list: enough for stable k-means, bounded build time.
_TRAIN_PER_LIST = 40
#: Share of the lists a query scans. benchmarks/ann_choice.py, on 50k vectors drawn from a
#: Gaussian fitted to real ones (no topic clusters: the hard case for IVF), measured
#: recall@10 0.93 at a quarter of the lists and 0.99 at half; real embeddings cluster, so
#: this is conservative, and the share to lower once measured on a real large archive.
_PROBE_SHARE = 1 / 2
_MIN_PROBES = 16


class VectorIndex(Protocol):
    """Inner-product search over normalised vectors keyed by stable int64 ids.

    How the vectors are kept (a file, a database table) is the store's business: see
    :class:`qabot.index.store.SnapshotStore`.
    """

    dim: int

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def get(self, ids: np.ndarray) -> np.ndarray: ...


def _lists_for(n: int) -> int:
    """IVF lists for ``n`` vectors: ~2·√n, so a list holds ~√n/2 vectors (1M → 2048)."""
    return 1 << max(6, round(math.log2(2 * math.sqrt(max(n, 1)))))


def _ivf(dim: int, ids: np.ndarray, vectors: np.ndarray) -> Any:
    """An IVF-Flat index over ``vectors``: k-means lists, exact scores inside them.

    IVF rather than HNSW: it removes ids in place (incremental edits), trains and fills in
    seconds where HNSW takes minutes at 1M, and stores nothing beyond the vectors and ids.
    """
    nlist = _lists_for(len(ids))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    # A hash table from id to list position: `get` (reconstruct) and `remove` by id.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    sample = np.random.default_rng(0).permutation(len(ids))[: nlist * _TRAIN_PER_LIST]
    index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    index.add_with_ids(vectors, ids)
    index.nprobe = max(_MIN_PROBES, round(nlist * _PROBE_SHARE))
    return index


def faiss_search(index: faiss.Index, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (id, score) of one query vector in a FAISS index, best first."""
    k = min(k, int(index.ntotal))
    if k <= 0:
        return []
    query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, index.d)
    # The setting above is the importing thread's own: a worker thread (the bot searches
    # in one) starts with OpenMP's default of every core, whose spinning team cost the bot
    # ~20 ms of CPU a question (benchmarks/README.md, "Speed, round 2"). Cheap: a per-thread int.
    faiss.omp_set_num_threads(1)
    scores, ids = index.search(query, k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]


class FaissIndex:
    """Exact inner-product search (`IndexFlatIP` in an `IndexIDMap2`) up to ``ann_threshold``
    vectors; past it, an approximate IVF index (recall@10 ≥ 0.98 against exact).

    The switch happens when an `add` crosses the threshold: the exact index is retrained
    into IVF lists once; later edits add to and remove from those lists in place.
    """

    def __init__(
        self,
        dim: int,
        index: faiss.Index | None = None,
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    ) -> None:
        self.dim = dim
        self.ann_threshold = ann_threshold
        # Any: faiss's type stubs describe the SWIG signatures, not the numpy wrappers we call.
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, faiss.IndexIVF)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        if not self.approximate:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got {vectors.shape}")
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not self.approximate and len(self) + len(ids) > self.ann_threshold:
            if len(self):  # (a build from scratch has nothing to carry over: no copy)
                old_ids = self.ids()
                ids = np.concatenate((old_ids, ids))
                vectors = np.concatenate((self.get(old_ids), vectors))
            self._index = _ivf(self.dim, ids, vectors)
            return
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return faiss_search(self._index, vector, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for these ids (used to reuse unchanged embeddings)."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        """Write to ``path``: a new file in a folder the store renames into place when complete."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> FaissIndex:
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            raise IndexError_(f"index file {path} is missing or corrupt", REBUILD_HINT) from exc
        if index.d != dim:
            raise IndexError_(
                f"index file {path} has dimension {index.d}, expected {dim}",
                REBUILD_HINT,
            )
        return cls(dim, index, ann_threshold=ann_threshold)
