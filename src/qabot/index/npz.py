"""Memory-mapped reading of ``.npz`` archives."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

#: Members at least this large are stored for mapping; smaller ones are deflated, as reading
#: them whole costs next to nothing and a small index is mostly such members.
MAP_FROM = 1 << 20


def write_npz(path: Path, arrays: Mapping[str, np.ndarray], mapped: Collection[str]) -> None:
    """Write ``arrays`` as an ``.npz`` for :func:`read_npz`: the members named in ``mapped``
    of at least :data:`MAP_FROM` bytes stored as they are (so they can be mapped), the rest
    deflated."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            stored = name in mapped and array.nbytes >= MAP_FROM
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def read_npz(path: Path, mapped: Collection[str]) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``: those named in ``mapped`` memory-mapped in place (when
    stored uncompressed, as `np.savez` writes them), the rest read and checked against the
    zip's CRC. ``np.load`` cannot map the members of an archive; a large index loads at once
    this way and its pages come in as they are used."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name not in mapped or info.compress_type != zipfile.ZIP_STORED:
                try:
                    with archive.open(info) as member:
                        out[name] = np.lib.format.read_array(member, allow_pickle=False)
                except zlib.error as exc:  # a damaged deflated member
                    raise ValueError(f"bad zip entry {info.filename}: {exc}") from exc
                continue
            fh.seek(info.header_offset)
            local = fh.read(30)  # the local file header: its name and extra field follow
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise ValueError(f"bad zip entry {info.filename}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            shape, fortran, dtype = read_header(fh)
            if fortran or dtype.hasobject or len(shape) != 1:
                raise ValueError(f"unexpected array {info.filename}")
            if shape[0] * dtype.itemsize > info.file_size:
                raise ValueError(f"array {info.filename} is truncated")
            out[name] = (
                # A plain array over the map: np.memmap's own indexing is slow in a loop.
                np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape).view(
                    np.ndarray
                )
                if shape[0]
                else np.zeros(shape, dtype)
            )
    return out


def smallest(array: np.ndarray) -> np.ndarray:
    """``array`` (non-negative integers) in the smallest unsigned type that holds its values:
    key numbers of a vocabulary under 65,536 keys, or rows of fewer passages, take two bytes
    instead of four (the issue-12 probe's BM25 file: 87 → 55 MB)."""
    top = int(array.max()) if len(array) else 0
    return array.astype(np.min_scalar_type(top), copy=False)
