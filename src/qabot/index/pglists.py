"""Posting lists in PostgreSQL as one row per key, so a question's BM25 reads a row per key.

Summing BM25 over a question's postings in SQL made the database touch and aggregate every
posting row of every key asked: at 100k passages most of a question's time (~0.8 s). Each
key's postings are therefore also kept as one ``bytea`` (``qabot_lists``: passage, tf and
passage length per entry, :data:`ENTRY`), and a question's top hits are added up in numpy
from its keys' lists, as the file store walks its posting lists (:func:`top`).

``qabot_postings`` stays the source of truth; a commit rewrites the lists of the keys it
touched from it (:func:`sync`). Scores need no stored weights: tf and length are exact
whatever the corpus's size, and idf and the mean length are applied at question time, so an
edit changes only its own passages' keys' lists. The invariant: a list, when present, is
exact; every key with ``0 < df <= pruned_df(n)`` (the keys a question walks) has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import psycopg

from .bm25 import DEFAULT_B, DEFAULT_K1, pruned_df
from .pgschema import LIST_OF

#: One list entry (:data:`~.pgschema.LIST_OF`): passage key, tf, passage length in keys.
ENTRY = np.dtype([("passage", ">i8"), ("tf", ">i2"), ("dl", ">i4")])
#: The lists of some keys, made again from their postings (by passage: deterministic bytes).
REBUILD = (
    f"INSERT INTO qabot_lists (term, postings) SELECT term, {LIST_OF} FROM qabot_postings "
    "WHERE term = ANY(%s) GROUP BY term ON CONFLICT (term) DO UPDATE SET postings = "
    "EXCLUDED.postings"
)
#: Terms per binary COPY message of a first build's lists.
_BATCH = 20_000


def sync(conn: psycopg.Connection, touched: Iterable[int], before: int, after: int) -> None:
    """Keep the invariant after an incremental commit: drop the lists of the keys it
    ``touched`` (their postings changed), make again those a question may walk, and make
    the lists of keys the grown corpus now walks (``before``/``after``: passage counts)."""
    touched = sorted(touched)
    limit, was = pruned_df(after), pruned_df(before)
    conn.execute("DELETE FROM qabot_lists WHERE term = ANY(%s)", (touched,))
    rows = conn.execute(
        "SELECT id FROM qabot_terms WHERE (id = ANY(%s) AND df > 0 AND df <= %s) "
        "OR (df > %s AND df <= %s)",
        (touched, limit, was, limit),
    ).fetchall()
    if rows:
        conn.execute(REBUILD, ([r[0] for r in rows],))


def write_all(conn: psycopg.Connection, table: np.ndarray, n: int) -> None:
    """A build from scratch of ``n`` passages: every list of a walked key, from the postings
    ``table`` it copied in (by term; fields term, passage, tf, dl), not read back."""
    conn.execute("DELETE FROM qabot_lists")
    if not len(table):
        return
    limit = pruned_df(n)
    terms = table["term"].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])
    counts = np.diff(np.r_[starts, len(terms)])
    entries = np.empty(len(table), dtype=ENTRY)
    entries["passage"], entries["tf"], entries["dl"] = table["passage"], table["tf"], table["dl"]
    blob = entries.tobytes()
    size = ENTRY.itemsize
    head = np.dtype([("n", ">i2"), ("l1", ">i4"), ("term", ">i4"), ("l2", ">i4")])
    kept = np.flatnonzero(counts <= limit)
    sql = "COPY qabot_lists (term, postings) FROM STDIN BINARY"
    with conn.cursor().copy(sql) as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
        for at in range(0, len(kept), _BATCH):
            part = kept[at : at + _BATCH]
            heads = np.zeros(len(part), dtype=head)
            heads["n"], heads["l1"] = 2, 4
            heads["term"], heads["l2"] = terms[starts[part]], counts[part] * size
            raw = heads.tobytes()
            hs = head.itemsize
            copy.write(
                b"".join(
                    raw[i * hs : (i + 1) * hs] + blob[s * size : (s + c) * size]
                    for i, (s, c) in enumerate(
                        zip(starts[part].tolist(), counts[part].tolist(), strict=True)
                    )
                )
            )
        copy.write(b"\xff\xff")


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
