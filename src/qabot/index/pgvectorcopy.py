"""A commit's vectors into their tables, as binary COPY rows laid out with numpy.

Passage vectors (float4) and sentence vectors (float2, as the build staged them in a scratch
file) go in blocks: a million passages have ~4M sentence rows, and a row object each, or a
copy of all of them in float32 (6 GB), would not fit beside the rest of a build.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ..errors import REBUILD_HINT, IndexError_
from .pgkeys import SIGNATURE, TRAILER
from .pgvectors import SENTENCES, PgVectorIndex, text_key
from .snapshot import Snapshot, sentence_layout

#: Vectors written per COPY message.
_BLOCK = 4096


def staged(vectors: object, what: str) -> PgVectorIndex:
    if not isinstance(vectors, PgVectorIndex):
        raise TypeError(f"a PostgresStore keeps PgVectorIndex {what}, not {type(vectors).__name__}")
    return vectors


def _vector_rows(
    keys: np.ndarray, vectors: np.ndarray, half: bool, texts: list[bytes] | None = None
) -> bytes:
    """Binary COPY rows (key[, text], vector) as pgvector's binary form lays a vector out:
    dimension and a zero (int2 each), then the values (float4, or float2 for a halfvec)."""
    dim = vectors.shape[1]
    kind = ">f2" if half else ">f4"
    size = 4 + dim * np.dtype(kind).itemsize
    head = np.zeros(len(keys), dtype=[("n", ">i2"), ("l", ">i4"), ("key", ">i8")])
    head["n"], head["l"], head["key"] = 2 if texts is None else 3, 8, keys
    tail = np.zeros(len(keys), dtype=[("l", ">i4"), ("d", ">i2"), ("u", ">i2"), ("v", kind, dim)])
    tail["l"], tail["d"], tail["v"] = size, dim, vectors
    if texts is None:
        return b"".join(h + t for h, t in zip(_split(head), _split(tail), strict=True))
    return b"".join(
        h + len(x).to_bytes(4, "big") + x + t
        for h, x, t in zip(_split(head), texts, _split(tail), strict=True)
    )


def _split(rows: np.ndarray) -> list[bytes]:
    raw, size = rows.tobytes(), rows.dtype.itemsize
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def stored_keys(conn: psycopg.Connection, table: str) -> np.ndarray:
    """Every key of ``table``, as one value of 8-byte keys read with numpy (four million
    sentence rows at a million passages: no row object each)."""
    row = conn.execute(
        f"SELECT coalesce(string_agg(int8send(key), ''::bytea), ''::bytea) FROM {table}",
        binary=True,
    ).fetchone()
    return np.frombuffer(bytes(row[0]) if row else b"", dtype=">i8").astype(np.int64)


def stored_ids(pool: ConnectionPool, texts: Sequence[str]) -> np.ndarray:
    """The row key of each text's stored sentence vector (-1 where none is stored): a
    database keeps one row per text across generations, found by its key."""
    keys = np.fromiter(map(text_key, texts), dtype=np.int64, count=len(texts))
    with pool.connection() as conn:
        stored = stored_keys(conn, SENTENCES)
    return np.where(np.isin(keys, stored), keys, -1)


def write_vectors(
    conn: psycopg.Connection, table: str, index: PgVectorIndex, hashes: dict[int, str]
) -> None:
    """Apply the staged vectors to ``table`` (the index's own, or any for a fresh one)."""
    if not index.fresh:
        gone = list(index.staged_remove | index.staged_keys())
        conn.execute(f"DELETE FROM {table} WHERE key = ANY(%s)", (gone,))
    sql = f"COPY {table} (key, hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
    with conn.cursor().copy(sql) as copy:
        copy.write(SIGNATURE)
        for ids, rows in index.staged:
            for at in range(0, len(ids), _BLOCK):
                keys = ids[at : at + _BLOCK]
                texts = [hashes[k].encode() for k in keys.tolist()]
                block = np.asarray(rows[at : at + _BLOCK], dtype=np.float32)
                copy.write(_vector_rows(keys, block, False, texts))
        copy.write(TRAILER)
    index.clear_staged()


def write_sentences(conn: psycopg.Connection, snapshot: Snapshot, full: bool) -> None:
    """One row per distinct sentence text (:func:`text_key`): add the texts new to the
    table, from the vectors the build staged under their layout ids, and drop the texts no
    passage holds any more; ``full`` replaces every row."""
    texts, _ = sentence_layout(snapshot.chunks, snapshot.sentences)
    keys = np.fromiter(map(text_key, texts), dtype=np.int64, count=len(texts))
    del texts
    stored = np.zeros(0, dtype=np.int64)
    if not full:
        stored = stored_keys(conn, SENTENCES)
        gone = np.setdiff1d(stored, keys)
        if len(gone):
            conn.execute(f"DELETE FROM {SENTENCES} WHERE key = ANY(%s)", (gone.tolist(),))
    new = np.flatnonzero(~np.isin(keys, stored)) if len(stored) else None
    vectors = staged(snapshot.sentence_vectors, "sentence vectors")
    wanted = np.arange(len(keys)) if new is None else new
    if not len(wanted):
        return
    sql = f"COPY {SENTENCES} (key, embedding) FROM STDIN WITH (FORMAT BINARY)"
    found = 0
    with conn.cursor().copy(sql) as copy:
        copy.write(SIGNATURE)
        for ids, rows in vectors.staged:
            pick = np.flatnonzero(np.isin(ids, wanted))
            found += len(pick)
            for at in range(0, len(pick), _BLOCK):
                part = pick[at : at + _BLOCK]
                block = np.asarray(rows[part], dtype=np.float16)
                copy.write(_vector_rows(keys[ids[part]], block, True))
        copy.write(TRAILER)
    if found < len(wanted):
        raise IndexError_("commit lacks the vectors of new sentences", REBUILD_HINT)
    vectors.clear_staged()
