"""Vector search behind a small interface, so another store (e.g. pgvector) can stand in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from ..errors import REBUILD_HINT, IndexError_

# One query at a time: OpenMP threads only add start-up and spin-wait costs here, and they
# fight torch's threads for the same two cores (measured: 13 ms → well under 1 ms a search).
faiss.omp_set_num_threads(1)


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


class FaissIndex:
    """Exact inner-product search (`IndexFlatIP`) behind an `IndexIDMap2` for stable ids.

    Exact search is right up to a few hundred thousand passages on one machine;
    past that, swap in an IVF/HNSW index or a distributed store here.
    """

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        # Any: faiss's type stubs describe the SWIG signatures, not the numpy wrappers we call.
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got {vectors.shape}")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, len(self))
        if k <= 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dim)
        scores, ids = self._index.search(query, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for these ids (used to reuse unchanged embeddings)."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        """Write to ``path``: a new file in a folder the store renames into place when complete."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> FaissIndex:
        try:
            index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            raise IndexError_(f"index file {path} is missing or corrupt", REBUILD_HINT) from exc
        if index.d != dim:
            raise IndexError_(
                f"index file {path} has dimension {index.d}, expected {dim}",
                REBUILD_HINT,
            )
        return cls(dim, index)
