"""Posting lists in PostgreSQL as one row per key, so a question's BM25 reads a row per key.

Summing BM25 over a question's postings in SQL made the database touch and aggregate every
posting row of every key asked: at 100k passages most of a question's time (~0.8 s). Each
key's postings are therefore kept as one ``bytea`` (``qabot_lists``: passage, tf and
passage length per entry, :data:`ENTRY`), and a question's top hits are added up in numpy
from its keys' lists, as the file store walks its posting lists (:func:`scores`).

Scores need no stored weights: tf and length are exact whatever the corpus's size, and idf
and the mean length are applied at question time, so an edit changes only its own passages'
keys' lists (:mod:`.pgkeys` writes and patches them). Every key with ``df > 0`` has its
exact list; a question walks those with ``df <= pruned_df(n)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bm25 import DEFAULT_B, DEFAULT_K1

#: One list entry (:data:`~.pgschema.LIST_OF`): passage key, tf, passage length in keys.
ENTRY = np.dtype([("passage", ">i8"), ("tf", ">i2"), ("dl", ">i4")])


def scores(
    lists: Sequence[bytes], weights: Sequence[float], n: int, total_keys: int
) -> tuple[np.ndarray, np.ndarray]:
    """(passage keys, BM25 score) summed over ``lists`` (raw :data:`ENTRY` bytes), each
    key's entries weighing its ``weights`` (query count × idf); keys ascending."""
    parts = [np.frombuffer(b, dtype=ENTRY) for b in lists]
    if not parts or not sum(map(len, parts)):
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    entries = np.concatenate(parts)
    weight = np.repeat(np.asarray(weights, np.float64), [len(p) for p in parts])
    part = saturation(entries["tf"], entries["dl"], n, total_keys)
    keys, owner = np.unique(entries["passage"].astype(np.int64), return_inverse=True)
    return keys, np.bincount(owner, weights=weight * part, minlength=len(keys))


def saturation(tf: np.ndarray, dl: np.ndarray, n: int, total_keys: int) -> np.ndarray:
    """BM25's term-frequency part (the idf aside) of postings with these ``tf`` in passages
    of ``dl`` keys, in a corpus of ``n`` passages and ``total_keys`` keys."""
    tf, dl = np.asarray(tf, np.float64), np.asarray(dl, np.float64)
    return tf / (tf + DEFAULT_K1 * (1 - DEFAULT_B + DEFAULT_B * dl * n / total_keys))


def best(keys: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the ``k`` highest ``values``, best first, ties by key (SQL's ORDER BY
    value DESC, key LIMIT k)."""
    if k <= 0 or not len(values):
        return np.zeros(0, np.int64)
    if len(values) > k:
        cut = np.partition(values, len(values) - k)[len(values) - k]
        at = np.flatnonzero(values >= cut)
    else:
        at = np.arange(len(values))
    return at[np.lexsort((keys[at], -values[at]))][:k]
