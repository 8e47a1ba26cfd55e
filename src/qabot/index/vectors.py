"""Vector search behind a small interface, so another store (e.g. pgvector) can stand in."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from ..config import DEFAULT_ANN_THRESHOLD
from ..errors import REBUILD_HINT, IndexError_
from .ann import RERANK, TOMBSTONE_SHARE, ExactRows, build_codes

log = logging.getLogger(__name__)

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
    vectors; past it, approximate (:mod:`.ann`: IVF fast-scan codes pick candidates, the
    exact vectors re-rank them; recall@10 ≥ 0.98 against exact).

    The switch happens when an `add` crosses the threshold: the IVF lists are trained once.
    Later edits change the exact rows; the codes get the added vectors, and removed ones stay
    in them as tombstones, dropped at the re-rank (FAISS 1.15's fast-scan lists misplace
    codes added after a `remove_ids`: measured). Past ``TOMBSTONE_SHARE`` dead codes the
    lists are rebuilt from the exact rows.
    """

    def __init__(
        self,
        dim: int,
        index: faiss.Index | None = None,
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        rows: ExactRows | None = None,
    ) -> None:
        self.dim = dim
        self.ann_threshold = ann_threshold
        # Any: faiss's type stubs describe the SWIG signatures, not the numpy wrappers we call.
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        #: past the threshold, the exact vectors by id (None: exact index, or an IVF-Flat
        #: index written before re-ranking, which holds its floats in its lists)
        self._rows = rows
        self.rerank = RERANK

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, faiss.IndexIVF)

    def __len__(self) -> int:
        return len(self._rows.ids) if self._rows is not None else int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        if self._rows is not None:
            return self._rows.ids.copy()
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
        if self.approximate and self._rows is None:
            self._reranked()
        if not self.approximate and len(self) + len(ids) > self.ann_threshold:
            if len(self):  # (a build from scratch has nothing to carry over: no copy)
                old_ids = self.ids()
                ids = np.concatenate((old_ids, ids))
                vectors = np.concatenate((self.get(old_ids), vectors))
            self._rows = ExactRows.of(ids, vectors)
            self._index = build_codes(self.dim, self._rows.ids, self._rows.rows)
            return
        self._index.add_with_ids(vectors, ids)
        if self._rows is not None:
            self._rows = self._rows.plus(ids, vectors)
            self._rebuild_if_dead()

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._rows is None:
            return int(self._index.remove_ids(ids))
        self._rows, removed = self._rows.without(ids)
        self._rebuild_if_dead()
        return removed

    def _rebuild_if_dead(self) -> None:
        rows = self._rows
        if rows is not None and self._index.ntotal - len(rows.ids) > TOMBSTONE_SHARE * max(
            len(rows.ids), 1
        ):
            self._rows = rows = rows.compact()
            self._index = build_codes(self.dim, rows.ids, rows.rows)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._rows is None:
            return faiss_search(self._index, vector, k)
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        candidates = faiss_search(self._index, query, max(k, self.rerank))
        return self._rows.rescore(query, np.array([i for i, _ in candidates], np.int64), k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for these ids (used to reuse unchanged embeddings)."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._rows is not None:
            return self._rows.get(ids)
        return self._index.reconstruct_batch(ids)

    def _reranked(self) -> None:
        """Turn an IVF-Flat index written before re-ranking into today's codes + rows."""
        ids = self.ids()
        self._rows = ExactRows.of(ids, self._index.reconstruct_batch(ids))
        self._index = build_codes(self.dim, self._rows.ids, self._rows.rows)

    def save(self, path: Path) -> None:
        """Write to ``path`` (and, past the threshold, the exact rows beside it): new files in
        a folder the store renames into place when complete."""
        if self.approximate and self._rows is None:
            self._reranked()
        faiss.write_index(self._index, str(path))
        if self._rows is not None:
            self._rows.save(path)

    @classmethod
    def load(cls, path: Path, dim: int, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> FaissIndex:
        try:
            index = faiss.read_index(str(path))
            rows = ExactRows.load(path)
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            raise IndexError_(f"index file {path} is missing or corrupt", REBUILD_HINT) from exc
        if index.d != dim:
            raise IndexError_(
                f"index file {path} has dimension {index.d}, expected {dim}",
                REBUILD_HINT,
            )
        if isinstance(index, faiss.IndexIVF) and (rows is None) != isinstance(
            index, faiss.IndexIVFFlat
        ):
            raise IndexError_(f"index file {path} lacks its exact vectors", REBUILD_HINT)
        if isinstance(index, faiss.IndexIVFFlat):
            log.warning(
                "%s is an IVF-Flat index from an older qabot: searches are slower; the next "
                "`qabot index` that changes anything rewrites it (no re-embedding)",
                path,
            )
        return cls(dim, index, ann_threshold=ann_threshold, rows=rows)
