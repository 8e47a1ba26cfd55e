"""Build-time arrays kept on disk instead of in RAM, and sentence vectors written as a stream.

A million passages have ~4M sentences: their float16 vectors alone are 6 GB, and a FAISS
index built from them in memory copies them again before writing. Here a build fills a
memory-mapped scratch file instead (its pages are the kernel's to write back and drop, so
they never crowd other processes out), and :func:`write_half_index` writes FAISS's own
``IndexScalarQuantizer`` file from those rows a step at a time, never holding them at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import faiss
import numpy as np

#: Rows written at a time.
_STEP = 65_536


def scratch(shape: tuple[int, ...], dtype: type | np.dtype, folder: Path | None) -> np.ndarray:
    """A zeroed array of ``shape`` mapped from a scratch file in ``folder`` (the system's
    temporary folder if None). The file has no name: it vanishes with the array, and a killed
    build leaves nothing behind."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size == 0:
        return np.zeros(shape, dtype=dtype)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as fh:
        fh.truncate(size)  # sparse: blocks are allocated as rows are written
        return np.memmap(fh, dtype=dtype, mode="r+", shape=shape)


def _header(dim: int, rows: int) -> bytes:
    """What precedes and ends an fp16 ``IndexScalarQuantizer`` file around its codes: FAISS's
    own serialisation of an empty index, with the row count and the codes' size set."""
    empty = faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    blob = bytearray(faiss.serialize_index(empty))
    # fourcc (4 bytes), d (int32), ntotal (int64) … then the codes as a size_t byte count
    # and the bytes, last.
    blob[8:16] = np.int64(rows).tobytes()
    blob[-8:] = np.uint64(rows * dim * 2).tobytes()
    return bytes(blob)


def write_half_index(rows: np.ndarray, path: Path) -> None:
    """Write float16 ``rows`` as the FAISS fp16 index file :class:`.HalfIndex` maps (ids =
    row numbers), a step at a time: the file is byte for byte what ``faiss.write_index``
    writes for an index holding them."""
    rows = np.asarray(rows)
    if rows.dtype != np.float16 or rows.ndim != 2:
        raise ValueError(f"expected float16 rows, got {rows.dtype} of shape {rows.shape}")
    head = _header(int(rows.shape[1]), len(rows))
    with open(path, "wb") as fh:
        fh.write(head)
        for start in range(0, len(rows), _STEP):
            fh.write(np.ascontiguousarray(rows[start : start + _STEP]).tobytes())
