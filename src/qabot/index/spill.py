"""Build-time arrays kept on disk instead of in RAM, and sentence vectors written as a stream.

A million passages have ~4M sentences: their float16 vectors alone are 6 GB, and a FAISS
index built from them in memory copies them again before writing. Here a build fills a
memory-mapped scratch file instead (its pages are the kernel's to write back and drop, so
they never crowd other processes out), and :func:`write_half_index` writes FAISS's own
``IndexScalarQuantizer`` file from those rows a step at a time, never holding them at once.
"""

from __future__ import annotations

import array
import tempfile
from collections.abc import Iterable
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


class Spool:
    """int32 numbers appended to a scratch file a block at a time, then mapped back."""

    #: Numbers held in memory before they go to the file.
    BLOCK = 1 << 22

    def __init__(self, folder: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115  # closed by mapped()
        self._count = 0
        self.numbers = array.array("i")  # append here; then call :meth:`flush_if_full`

    def write(self, values: np.ndarray) -> None:
        self.flush_if_full(0)
        self._file.write(np.ascontiguousarray(values, dtype=np.int32).tobytes())
        self._count += len(values)

    def flush_if_full(self, limit: int = BLOCK) -> None:
        if len(self.numbers) > limit:
            self._file.write(self.numbers.tobytes())
            self._count += len(self.numbers)
            self.numbers = array.array("i")

    def mapped(self) -> np.ndarray:
        """Everything written, as one writable int32 array mapped from the file."""
        self.flush_if_full(-1)
        self._file.flush()
        if not self._count:
            return np.zeros(0, dtype=np.int32)
        out = np.memmap(self._file, dtype=np.int32, mode="r+", shape=(self._count,))
        self._file.close()  # the map keeps the file
        return out


def write_codes_index(
    empty: faiss.IndexScalarQuantizer, blocks: Iterable[np.ndarray], rows: int, path: Path
) -> None:
    """Write ``rows`` codes, arriving in ``blocks`` (uint8 rows of ``empty``'s code size), as
    the index file ``empty`` would be holding them: FAISS's own serialisation of the empty
    (trained) index with the row count and the codes' size set, then the codes, streamed.
    Byte for byte what ``faiss.write_index`` writes, without holding every code at once."""
    blob = bytearray(faiss.serialize_index(empty))
    # fourcc (4 bytes), d (int32), ntotal (int64) … then the codes as a size_t byte count
    # and the bytes, last.
    blob[8:16] = np.int64(rows).tobytes()
    blob[-8:] = np.uint64(rows * empty.code_size).tobytes()
    written = 0
    with open(path, "wb") as fh:
        fh.write(blob)
        for block in blocks:
            block = np.ascontiguousarray(block)
            written += len(block)
            fh.write(block.tobytes())
    if written != rows:
        raise ValueError(f"expected {rows} rows of codes, got {written}")


def write_half_index(rows: np.ndarray, path: Path) -> None:
    """Write float16 ``rows`` as the FAISS fp16 index file :class:`.HalfIndex` maps (ids =
    row numbers), a step at a time: the file is byte for byte what ``faiss.write_index``
    writes for an index holding them."""
    rows = np.asarray(rows)
    if rows.dtype != np.float16 or rows.ndim != 2:
        raise ValueError(f"expected float16 rows, got {rows.dtype} of shape {rows.shape}")
    empty = faiss.IndexScalarQuantizer(
        int(rows.shape[1]), faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    steps = (
        np.ascontiguousarray(rows[i : i + _STEP]).view(np.uint8) for i in range(0, len(rows), _STEP)
    )
    write_codes_index(empty, steps, len(rows), path)
