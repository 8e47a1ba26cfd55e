"""An incremental update of a :class:`~.lexical.LexicalIndex`: merged, not rebuilt.

An edit of one article in a million passages changes every BM25 score a little (the
passage count and mean length move every norm, document frequencies move the IDF), but
not which passages hold which keys. So the stored key numbers of kept passages are copied
a block at a time, the posting lists are carried over with their term counts (recovered
exactly from the stored scores), and only the scores are computed again: the matrix
:func:`.bm25.score_matrix` would build from the same keys, bit for bit, without its
per-block sparse conversions over every key of the corpus, and with memory bounded by a
block rather than the corpus (the rebuild copied all ~500M keys of a million passages
three times over).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from scipy import sparse

from . import bm25
from .lexkeys import KeyNumbers
from .spill import Spool, scratch

if TYPE_CHECKING:
    from .lexical import LexicalIndex

#: Passages whose keys are copied (or counted) at a time.
_ROWS = 1 << 14
#: Posting-list entries carried over at a time.
_ENTRIES = 1 << 21
#: A recovered term count further than this from a whole number means the stored scores
#: are not what this code computes: rebuild the matrix instead.
_TOLERANCE = 0.05

Matrix = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Parts(NamedTuple):
    """What a :class:`~.lexical.LexicalIndex` is made of (its constructor's arguments)."""

    ids: np.ndarray
    vocab: list[str]
    flat: np.ndarray
    offsets: np.ndarray
    matrix: Matrix | None  # None: to be built from the keys


def merge(
    index: LexicalIndex, remove: Iterable[int], add_ids: Sequence[int], add_texts: Sequence[str]
) -> Parts:
    """``index`` without ``remove`` and with the added passages (same id = replace); kept
    passages keep their stored keys and posting lists, only the new texts are analysed.
    Keys no passage uses any more are dropped from the vocabulary."""
    if len(add_ids) != len(add_texts):
        raise ValueError(f"{len(add_ids)} ids but {len(add_texts)} texts")
    new_ids = np.asarray(add_ids, dtype=np.int64).reshape(-1)
    gone = np.union1d(np.fromiter(remove, np.int64), new_ids)
    keep = ~np.isin(index._ids, gone)
    old_lengths = np.diff(index._offsets)
    spool = Spool()
    for start in range(0, len(keep), _ROWS):  # the kept passages' keys, a block at a time
        part = index._flat[index._offsets[start] : index._offsets[min(len(keep), start + _ROWS)]]
        mask = keep[start : start + _ROWS]
        spool.write(part if mask.all() else part[np.repeat(mask, old_lengths[start:][:_ROWS])])
    n_kept, kept_keys = int(keep.sum()), int(old_lengths[keep].sum())
    # New keys get numbers past the old vocabulary; the old key table is not copied.
    numbering = KeyNumbers(index._key_id, len(index._vocab))
    new_lengths = [np.zeros(0, dtype=np.int64)]
    for numbers, counts in numbering.blocks(add_texts):
        spool.write(numbers)
        new_lengths.append(counts)
    flat = spool.mapped()
    extra = numbering.new
    lengths = np.concatenate((old_lengths[keep], *new_lengths))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate((index._ids[keep], new_ids))
    n_vocab = len(index._vocab) + len(extra)
    added = flat[kept_keys:]
    df = np.zeros(n_vocab, dtype=np.int64)
    df[: len(index._df)] = index._df
    df -= _doc_freq(index._flat, index._offsets, np.flatnonzero(~keep), n_vocab)
    new_offsets = offsets[n_kept:] - kept_keys  # the added passages' own
    df += _doc_freq(added, new_offsets, None, n_vocab)
    matrix = _merged(index, keep, len(new_offsets) - 1, flat, offsets, df)
    used = df > 0
    vocab = index._vocab + list(extra)
    if not used.all():
        renumber = (np.cumsum(used) - 1).astype(np.int32)
        vocab = [t for t, u in zip(vocab, used.tolist(), strict=True) if u]
        for start in range(0, len(flat), 1 << 24):
            flat[start : start + (1 << 24)] = renumber[flat[start : start + (1 << 24)]]
        if matrix is not None:
            data, indices, indptr, _ = matrix
            matrix = (data, indices, np.concatenate(([0], indptr[1:][used])), df[used])
    return Parts(ids, vocab, flat, offsets, matrix)


def _doc_freq(
    flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray | None, n_vocab: int
) -> np.ndarray:
    """How many of the passages ``rows`` (all if None: a block at a time) hold each key."""
    out = np.zeros(n_vocab, dtype=np.int64)
    if rows is not None:
        for row in rows.tolist():  # a few passages: the ones an edit removes or replaces
            out[np.unique(np.asarray(flat[offsets[row] : offsets[row + 1]]))] += 1
        return out
    for start in range(0, len(offsets) - 1, _ROWS):  # every added passage (a first build)
        stop = min(len(offsets) - 1, start + _ROWS)
        keys = np.asarray(flat[offsets[start] : offsets[stop]], dtype=np.int64)
        owner = np.repeat(np.arange(stop - start), np.diff(offsets[start : stop + 1]))
        ones = np.ones(len(keys), dtype=np.float32)
        pairs = sparse.coo_matrix((ones, (owner, keys)), shape=(stop - start, n_vocab)).tocsc()
        pairs.sum_duplicates()  # one entry per (passage, key): its count
        out += np.diff(pairs.indptr)
    return out


def _merged(
    index: LexicalIndex,
    keep: np.ndarray,
    n_added: int,
    flat: np.ndarray,
    offsets: np.ndarray,
    df: np.ndarray,
) -> Matrix | None:
    """The new score matrix (as :func:`.bm25.score_matrix` builds it from ``flat``), from the
    old posting lists and the added passages' keys; None if the old scores cannot be read
    back as term counts (then the index builds it from the keys)."""
    k1, b = index._k1, index._b
    lengths = np.diff(offsets)
    n = len(lengths)
    n_kept = n - n_added
    if not n:
        return None
    mean = lengths.mean()
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    listed = df <= bm25.pruned_df(n)
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(np.where(listed, df, 0), out=indptr[1:])
    data = scratch((int(indptr[-1]),), np.float32, None)
    indices = scratch((int(indptr[-1]),), np.int32, None)
    free = indptr[:-1].copy()  # each column's next free entry

    def put(cols: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> None:
        """Append entries (sorted by column, then row) to their columns, scored."""
        per_key = np.bincount(cols, minlength=len(df))
        first = np.cumsum(per_key) - per_key
        at = np.repeat(free - first, per_key) + np.arange(len(cols), dtype=np.int64)
        norm = k1 * (1.0 - b + b * lengths[rows] / mean)
        data[at] = (idf[cols] * tf / (tf + norm)).astype(np.float32)
        indices[at] = rows
        free[:] += per_key

    # 1. The old posting lists, their removed passages dropped, rows renumbered.
    old_ptr, old_lengths = index._indptr, np.diff(index._offsets)
    old_norm = k1 * (1.0 - b + b * old_lengths / index._avgdl)
    had = np.diff(old_ptr) == index._df  # a list was kept (not pruned)
    new_row = (np.cumsum(keep) - 1).astype(np.int64)
    col_ends = np.searchsorted(old_ptr[1:], np.arange(0, int(old_ptr[-1]), _ENTRIES), "right")
    bounds = [*col_ends.tolist(), len(old_ptr) - 1]
    for c0, c1 in zip(bounds[:-1], bounds[1:], strict=True):
        span = slice(int(old_ptr[c0]), int(old_ptr[c1]))
        cols = np.repeat(np.arange(c0, c1, dtype=np.int64), np.diff(old_ptr[c0 : c1 + 1]))
        rows = np.asarray(index._indices[span], dtype=np.int64)
        score = np.asarray(index._data[span], dtype=np.float64)
        raw = score * old_norm[rows] / (index._idf[cols] - score)
        tf = np.rint(raw)
        if len(tf) and (np.abs(raw - tf).max() > _TOLERANCE or tf.min() < 1):
            return None
        mask = keep[rows] & listed[cols]
        put(cols[mask], new_row[rows[mask]], tf[mask].astype(np.float32))
    # 2. Keys that had no list (too common) and have one now: counted from the kept keys.
    scan = listed.copy()
    scan[: len(had)] &= ~had
    scan[len(had) :] = False
    if (scan & (df > 0)).any():
        _count(flat, offsets, 0, n_kept, scan, put)
    # 3. The added passages, after every kept one in each list.
    _count(flat, offsets, n_kept, n, listed, put)
    if not np.array_equal(free, indptr[1:]):
        raise RuntimeError("merged posting lists do not add up to the document frequencies")
    return data, indices, indptr, df


def _count(flat: np.ndarray, offsets: np.ndarray, first: int, last: int, wanted: np.ndarray,
           put: Callable[[np.ndarray, np.ndarray, np.ndarray], None]) -> None:  # fmt: skip
    """Count the ``wanted`` keys of passages ``first``..``last`` a block at a time and
    ``put`` them, as :func:`.bm25.score_matrix` counts its blocks."""
    for start in range(first, last, _ROWS):
        stop = min(last, start + _ROWS)
        keys = np.asarray(flat[offsets[start] : offsets[stop]], dtype=np.int64)
        rows = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(offsets[start : stop + 1]))
        hit = wanted[keys]
        ones = np.ones(int(hit.sum()), dtype=np.float32)
        shape = (stop, len(wanted))
        matrix = sparse.coo_matrix((ones, (rows[hit], keys[hit])), shape=shape).tocsc()
        matrix.sum_duplicates()
        cols = np.repeat(np.arange(len(wanted), dtype=np.int64), np.diff(matrix.indptr))
        put(cols, matrix.indices.astype(np.int64), matrix.data)
