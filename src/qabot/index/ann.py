"""The approximate passage search past the ANN threshold: compact codes pick candidates,
the exact float vectors (memory-mapped) re-rank them.

Chosen by ``benchmarks/ann_choice.py`` (table in benchmarks/README.md, "ANN at 1M"): on
vectors drawn from a Gaussian fitted to the model's embeddings (no topic clusters, the hard
case), IVF lists scanned as 4-bit PQ codes (FAISS fast scan, 2 dimensions a code) and the
best ``RERANK`` re-scored exactly keep IVF-Flat's recall at the same probe share for a
fraction of its time, where HNSW needed more time for less recall and cannot delete.
Edits stay incremental: removed vectors are tombstones until they are a tenth of the codes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

#: IVF training sample per list: enough for stable k-means, bounded build time.
TRAIN_PER_LIST = 40
#: Share of the lists a query scans: recall@10 0.98+ needs about half on unclustered
#: vectors (benchmarks/ann_choice.py); real embeddings cluster, so this is conservative.
PROBE_SHARE = 1 / 2
MIN_PROBES = 16
_STEP = 1 << 16  # rows copied at a time

#: Dead codes (removed or replaced vectors) past this share of the live ones: rebuild.
TOMBSTONE_SHARE = 0.1
#: Candidates re-scored with the exact vectors (at least the ``k`` asked for).
RERANK = 2000


def lists_for(n: int) -> int:
    """IVF lists for ``n`` vectors: ~2·√n, so a list holds ~√n/2 vectors (1M → 2048)."""
    return 1 << max(6, round(math.log2(2 * math.sqrt(max(n, 1)))))


def build_codes(dim: int, ids: np.ndarray, vectors: np.ndarray) -> Any:
    """IVF lists over ``vectors`` holding 4-bit PQ codes of their residuals (dim/2 bytes each)."""
    nlist = lists_for(len(ids))
    quantizer = faiss.IndexFlatIP(dim)
    sub = dim // 2 if dim % 2 == 0 else dim  # 2 dimensions a 4-bit code
    index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, sub, 4, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).permutation(len(ids))[: nlist * TRAIN_PER_LIST]
    index.train(np.ascontiguousarray(vectors[np.sort(sample)], dtype=np.float32))
    for start in range(0, len(ids), _STEP):  # a big build's scratch file, a step at a time
        part = np.ascontiguousarray(vectors[start : start + _STEP], dtype=np.float32)
        index.add_with_ids(part, np.ascontiguousarray(ids[start : start + _STEP]))
    index.nprobe = max(MIN_PROBES, round(nlist * PROBE_SHARE))
    return index


class ExactRows:
    """The exact float vectors by id: ids sorted, found by bisection; row ``i`` of ``rows``
    (or row ``row_of[i]``, after a removal) is the vector of ``ids[i]``.

    Saved as two ``.npy`` files beside the codes; loaded memory-mapped, so a reader pays
    only for the rows it re-ranks. An edit never changes the arrays a reader holds: a
    removal only narrows ``row_of``, and an addition writes new rows a block at a time (at
    1M, one 1.5 GB copy, never two at once).
    """

    def __init__(self, ids: np.ndarray, rows: np.ndarray, row_of: np.ndarray | None = None):
        self.ids, self.rows, self.row_of = ids, rows, row_of

    @classmethod
    def of(cls, ids: np.ndarray, vectors: np.ndarray) -> ExactRows:
        if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):  # sorted already: no copy
            return cls(np.ascontiguousarray(ids), np.asarray(vectors, np.float32))
        order = np.argsort(ids, kind="stable")
        return cls(np.ascontiguousarray(ids[order]), np.asarray(vectors, np.float32)[order])

    def _rows_at(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self.rows[at if self.row_of is None else self.row_of[at]])

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of ``ids`` (all present)."""
        at = np.searchsorted(self.ids, ids)
        if len(ids) and (at.max() >= len(self.ids) or (self.ids[at] != ids).any()):
            raise KeyError("asked for vectors of ids that are not in the index")
        return at

    def present(self, ids: np.ndarray) -> np.ndarray:
        """Positions of those of ``ids`` that are here."""
        if not len(self.ids):
            return np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return at[self.ids[at] == ids]

    def get(self, ids: np.ndarray) -> np.ndarray:
        return np.array(self._rows_at(self.positions(ids)), dtype=np.float32)

    def without(self, ids: np.ndarray) -> tuple[ExactRows, int]:
        keep = ~np.isin(self.ids, ids)
        gone = len(self.ids) - int(keep.sum())
        if not gone:
            return self, 0
        row_of = np.arange(len(self.ids)) if self.row_of is None else self.row_of
        return ExactRows(self.ids[keep], self.rows, row_of[keep]), gone

    def plus(self, ids: np.ndarray, vectors: np.ndarray) -> ExactRows:
        """These rows and the new ones (ids not here yet), written into one new array."""
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], np.asarray(vectors, np.float32)[order]
        at = np.searchsorted(self.ids, ids)
        new_at = at + np.arange(len(ids))  # where the new rows land among the merged ones
        rows = np.empty((len(self.ids) + len(ids), self.rows.shape[1]), np.float32)
        old_at = np.delete(np.arange(len(rows)), new_at)
        for start in range(0, len(self.ids), _STEP):
            part = np.arange(start, min(start + _STEP, len(self.ids)))
            rows[old_at[part]] = self._rows_at(part)
        rows[new_at] = vectors
        return ExactRows(np.insert(self.ids, at, ids), rows)

    def compact(self) -> ExactRows:
        """The same rows in one array, in the order of ``ids``."""
        if self.row_of is None:
            return self
        return self.plus(np.zeros(0, np.int64), np.zeros((0, self.rows.shape[1]), np.float32))

    def rescore(self, vector: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` best of candidate ``ids`` by exact inner product, best first; ids no
        longer here (tombstones in the codes, see :class:`FaissIndex`) are dropped."""
        # (-1: fewer candidates than asked; an updated id can come twice, old code and new)
        at = self.present(np.unique(ids[ids != -1]))
        # einsum, not `@`: a BLAS call of this size starts OpenBLAS's threads, which spin
        # on a shared machine (measured at 100k: 1.3 ms → 6.8 ms a query).
        scores = np.einsum("ij,j->i", self._rows_at(at), vector)
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(self.ids[at[i]]), float(scores[i])) for i in best]

    def save(self, path: Path) -> None:
        np.save(_ids_path(path), self.ids)
        if self.row_of is None:
            np.save(_rows_path(path), self.rows)
            return
        shape = (len(self.ids), self.rows.shape[1])
        out = np.lib.format.open_memmap(_rows_path(path), "w+", np.float32, shape)
        for start in range(0, len(self.ids), _STEP):  # a block at a time, no copy in memory
            part = np.arange(start, min(start + _STEP, shape[0]))
            out[part] = self._rows_at(part)
        out.flush()

    @classmethod
    def load(cls, path: Path) -> ExactRows | None:
        """The rows saved beside ``path``, mapped; None when there are none (exact index, or
        an index written before re-ranking, whose IVF lists hold the floats themselves)."""
        if not _rows_path(path).exists():
            return None
        ids = np.load(_ids_path(path))
        rows = np.load(_rows_path(path), mmap_mode="r")
        if ids.ndim != 1 or rows.ndim != 2 or len(ids) != len(rows):
            raise ValueError(f"{_rows_path(path)} does not match {_ids_path(path)}")
        return cls(ids, rows)


def _ids_path(path: Path) -> Path:
    return path.with_name(path.stem + ".ids.npy")


def _rows_path(path: Path) -> Path:
    return path.with_name(path.stem + ".vectors.npy")
