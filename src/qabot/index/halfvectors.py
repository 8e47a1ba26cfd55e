"""Sentence vectors in a memory-mapped file, 8 bits a dimension: how a FileStore keeps them.

Sentence vectors outnumber passage vectors three to one and only add 0.4 of a cosine to a
score: a byte per dimension (over each dimension's range) is a quarter of float32 on disk, and
FAISS maps the file instead of reading it, so a snapshot loads in no time whatever its size.
A build holds them in float16 (:class:`HalfRows`); indexes written in float16 (before the
byte codes) are read as they are. Search is exact over the stored codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import REBUILD_HINT, IndexError_
from .spill import write_codes_index, write_half_index
from .vectors import VectorIndex, faiss_search

#: Rows converted at a time, so millions of sentences never need a float32 copy.
_STEP = 65_536
#: Byte codes span [-bound, bound] in every dimension, bound = _SPREAD / √dim (at most 1):
#: the bundled model's sentence vectors (384 dimensions, bound 0.255) reach 0.18 on ARCD. A
#: bound fixed by the dimension, not fitted to the vectors, makes the codes of a vector the
#: same whatever else is stored: re-saving stored vectors (the reused ones of an incremental
#: build) gives back the same codes, and an update holds what a build from scratch would.
_SPREAD = 5.0
#: "bytes", or "float16" as before: what the PostgreSQL store's halfvec keeps, so that its
#: tests can compare the two stores' scores like with like.
WRITE_AS = "bytes"


def code_bound(dim: int) -> float:
    """The largest magnitude a dimension's byte code holds (larger values are clipped)."""
    return min(1.0, _SPREAD / float(np.sqrt(dim)))


def to_half(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` in float16, rounded exactly as FAISS's fp16 codes round them (NumPy's
    ``astype`` differs in a few rows in 10⁵), so a stored index is the same either way."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        return np.zeros(vectors.shape, dtype=np.float16)
    codes = faiss.ScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16)
    return np.asarray(codes.compute_codes(vectors)).view(np.float16)


def byte_quantizer(dim: int) -> faiss.IndexScalarQuantizer:
    """An empty, trained index of the byte codes a FileStore writes (range fixed by ``dim``)."""
    sq = faiss.ScalarQuantizer
    empty = faiss.IndexScalarQuantizer(dim, sq.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    bound = np.full(dim, code_bound(dim), dtype=np.float32)
    faiss.copy_array_to_vector(np.concatenate((-bound, 2 * bound)), empty.sq.trained)
    empty.is_trained = True
    return empty


def half_rows(vectors: VectorIndex, ids: np.ndarray) -> np.ndarray:
    """The vectors of ``ids`` in float16, fetched a step at a time."""
    out = np.empty((len(ids), vectors.dim), dtype=np.float16)
    for start in range(0, len(ids), _STEP):
        out[start : start + _STEP] = to_half(vectors.get(ids[start : start + _STEP]))
    return out


class HalfRows:
    """Sentence vectors as a build holds them before writing: float16 rows in memory, ids =
    row numbers, read-only. Four million sentences take 3 GB here instead of 6 (float32) or
    the 12 an exact index plus its source matrix would."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.dim = int(rows.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def ids(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise TypeError("HalfRows are read-only: a build makes new ones")

    def remove(self, ids: np.ndarray) -> int:
        raise TypeError("HalfRows are read-only: a build makes new ones")

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores = self.rows @ np.asarray(vector, dtype=np.float16)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in top]

    def get(self, ids: np.ndarray) -> np.ndarray:
        return self.rows[np.asarray(ids, dtype=np.int64)].astype(np.float32)


class CodeRows(HalfRows):
    """Sentence vectors as an edit holds them: the byte codes a FileStore writes (reused
    ones copied from the stored file, never decoded and coded again), ids = row numbers."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes
        self.dim = int(codes.shape[1])
        self._quantizer = byte_quantizer(self.dim)  # holds its sq: not a temporary's

    def __len__(self) -> int:
        return len(self.codes)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        raise TypeError("CodeRows are written, not searched")

    def get(self, ids: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(self.codes[np.asarray(ids, dtype=np.int64)])
        return self._quantizer.sq.decode(rows)


class HalfIndex:
    """A read-only :class:`VectorIndex` whose ids are the row numbers 0..n-1."""

    def __init__(self, dim: int, index: Any) -> None:
        self.dim = dim
        self._index = index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise TypeError("a stored HalfIndex is read-only: a build writes a new one")

    def remove(self, ids: np.ndarray) -> int:
        raise TypeError("a stored HalfIndex is read-only: a build writes a new one")

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return faiss_search(self._index, vector, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= len(self):
            raise KeyError("vector id out of range")
        return self._index.reconstruct_batch(ids)

    def byte_codes(self) -> np.ndarray | None:
        """The stored byte codes (n × dim, a view of the mapped file) if they are the ones a
        FileStore writes now, else None (float16 vectors from before)."""
        index, dim = self._index, self.dim
        sq = getattr(index, "sq", None)
        if sq is None or sq.qtype != faiss.ScalarQuantizer.QT_8bit or index.code_size != dim:
            return None
        ours = byte_quantizer(dim)  # kept alive while its sq is read
        trained = faiss.vector_to_array(ours.sq.trained)
        if not np.array_equal(faiss.vector_to_array(sq.trained), trained):
            return None
        if not len(self):
            return np.zeros((0, dim), dtype=np.uint8)
        flat = faiss.rev_swig_ptr(index.codes.data(), len(self) * dim)
        return np.asarray(flat).reshape(len(self), dim)

    @staticmethod
    def save(vectors: VectorIndex, path: Path) -> None:
        """Write rows 0..n-1 of ``vectors`` (ids must be exactly those) as byte codes (or in
        float16, :data:`WRITE_AS`), streamed to the file a step at a time: a build's rows may
        be a mapped scratch file larger than RAM can spare."""
        if WRITE_AS != "bytes":
            rows = vectors.rows if isinstance(vectors, HalfRows) else None
            every = np.arange(len(vectors), dtype=np.int64)
            write_half_index(half_rows(vectors, every) if rows is None else rows, path)
            return
        empty = byte_quantizer(vectors.dim)
        n = len(vectors)
        if isinstance(vectors, CodeRows):  # codes already: written as they are
            steps = (vectors.codes[i : i + _STEP] for i in range(0, n, _STEP))
            write_codes_index(empty, steps, n, path)
            return

        def codes() -> Iterator[np.ndarray]:
            for start in range(0, n, _STEP):
                rows = np.arange(start, min(n, start + _STEP), dtype=np.int64)
                block = np.ascontiguousarray(vectors.get(rows), dtype=np.float32)
                yield empty.sq.compute_codes(block)

        write_codes_index(empty, codes(), n, path)

    @classmethod
    def load(cls, path: Path, dim: int, rows: int) -> HalfIndex:
        """Map the file written by :meth:`save`; `IndexError_` unless it holds ``rows`` rows."""
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            raise IndexError_(f"index file {path} is missing or corrupt", REBUILD_HINT) from exc
        if index.d != dim or index.ntotal != rows:
            raise IndexError_(
                f"index file {path} holds {index.ntotal} vectors of dimension {index.d}, "
                f"expected {rows} of dimension {dim}",
                REBUILD_HINT,
            )
        return cls(dim, index)
