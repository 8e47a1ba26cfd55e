"""Vectors for a new snapshot: reused wherever their text was embedded before, embedded
otherwise, a step at a time (an edit of a million-passage index embeds a handful)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..chunking import Chunk
from ..encoder import Encoder
from . import halfvectors
from .halfvectors import CodeRows, HalfIndex, HalfRows, byte_quantizer, half_rows, to_half
from .snapshot import Snapshot
from .spill import scratch
from .store import SnapshotStore
from .vectors import FaissIndex, VectorIndex

#: New sentence texts embedded per call: bounds the float32 vectors held at once.
_EMBED_STEP = 1 << 18


def embed_all(
    encoder: Encoder, texts: list[str], batch: int, progress: bool, what: str
) -> np.ndarray:
    """``texts``' vectors, embedded in batches of similar length, with a progress bar."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    # Longest first over all texts, not just within each step: batches pad little, and the
    # bar's ETA starts pessimistic rather than optimistic.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    with tqdm(total=len(texts), desc=f"embedding {what}", unit=what, disable=not progress) as bar:
        step = batch * 8
        for start in range(0, len(texts), step):
            rows = order[start : start + step]
            out[rows] = encoder.encode_passages([texts[i] for i in rows])
            bar.update(len(rows))
    return out


def sync_passages(
    vectors: VectorIndex,
    old: Mapping[int, str],
    new: Mapping[int, Chunk],
    reuse: Mapping[str, np.ndarray],
    embed: Callable[[list[str]], np.ndarray],
    folder: Path | None = None,
) -> tuple[list[int], int]:
    """Make ``vectors`` hold one vector per key of ``new`` (key → passage), given
    that it holds ``old`` (key → hash) now; return the keys (re)added and the texts embedded.

    A vector of any text embedded before (``reuse``, by hash, read before anything is
    removed) is reused; the rest are embedded once each, a step at a time, as the same text
    can stand under several keys. The added vectors wait in a scratch file in ``folder``.
    """
    changed = [k for k, c in new.items() if old.get(k) != c.hash]
    added = scratch((len(changed), vectors.dim), np.float32, folder)
    todo: dict[str, list[int]] = {}  # text hash → its rows in ``added``
    for row, key in enumerate(changed):
        h = new[key].hash
        if h in reuse:
            added[row] = reuse[h]
        else:
            todo.setdefault(h, []).append(row)
    gone = [k for k, h in old.items() if k not in new or new[k].hash != h]
    vectors.remove(np.array(gone, np.int64))
    hashes = list(todo)
    for start in range(0, len(hashes), _EMBED_STEP):
        part = hashes[start : start + _EMBED_STEP]
        texts = [new[changed[todo[h][0]]].match_text for h in part]
        for h, vector in zip(part, embed(texts), strict=True):
            added[todo[h]] = vector
    if changed:
        vectors.add(np.array(changed, np.int64), added)
    return changed, len(todo)


def sentence_vectors(
    base: Snapshot,
    texts: list[str],
    store: SnapshotStore,
    embed: Callable[[list[str]], np.ndarray],
) -> tuple[VectorIndex, int]:
    """Vectors for the distinct sentence ``texts`` (id = position), reusing ``base``'s; return
    them and how many texts were embedded."""
    stored = base.stored_sentence_ids(texts)
    reused = np.flatnonzero(stored >= 0)
    todo = np.flatnonzero(stored < 0).tolist()
    folder = getattr(store, "folder", None)
    index = store.new_vectors(base.dim)
    old_codes = None
    if isinstance(index, FaissIndex) and isinstance(base.sentence_vectors, HalfIndex):
        writes_bytes = halfvectors.WRITE_AS == "bytes"  # (read now: tests set it)
        old_codes = base.sentence_vectors.byte_codes() if writes_bytes else None
    if old_codes is not None:
        # A file store's byte codes, copied as they are (the codes of a vector do not depend
        # on the others): no float16 copy of every sentence, no decoding and coding again.
        codes = scratch((len(texts), base.dim), np.uint8, folder)
        for start in range(0, len(reused), _EMBED_STEP):
            rows = reused[start : start + _EMBED_STEP]
            codes[rows] = old_codes[stored[rows]]
        quantizer = byte_quantizer(base.dim)  # (its sq lives as long as it does)
        for start in range(0, len(todo), _EMBED_STEP):
            part = todo[start : start + _EMBED_STEP]
            half = to_half(embed([texts[i] for i in part]))
            codes[part] = quantizer.sq.compute_codes(half.astype(np.float32))  # as HalfRows saves
        return CodeRows(codes), len(todo)
    # float16 (as a file store keeps them) in a mapped scratch file: a million passages
    # have ~4M sentences, 6 GB of vectors.
    vectors = scratch((len(texts), base.dim), np.float16, folder)
    # A store that keeps a row per text writes only new texts: reused ones need no reading.
    if len(reused) and not getattr(store, "sentences_by_text", False):
        for start in range(0, len(reused), _EMBED_STEP):
            rows = reused[start : start + _EMBED_STEP]
            vectors[rows] = half_rows(base.sentence_vectors, stored[rows])
    for start in range(0, len(todo), _EMBED_STEP):
        part = todo[start : start + _EMBED_STEP]
        vectors[part] = to_half(embed([texts[i] for i in part]))
    if isinstance(index, FaissIndex):  # a file store writes them as they are (HalfIndex)
        return HalfRows(vectors), len(todo)
    index.add(np.arange(len(texts), dtype=np.int64), vectors)  # a database copies the rows
    return index, len(todo)
