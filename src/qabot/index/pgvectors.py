"""A :class:`~qabot.index.vectors.VectorIndex` in a pgvector table: searched with its HNSW index.

Searches and lookups run in the database. Changes a build makes (``add``/``remove``) are only
staged here; the store writes them in the same transaction as everything else of the commit
(:mod:`qabot.index.pgwrite`), so readers never see half an update.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping

import numpy as np
from pgvector import HalfVector
from psycopg_pool import ConnectionPool

from ..chunking import content_hash, stable_key
from ..config import DEFAULT_ANN_THRESHOLD

#: The tables a PgVectorIndex may name (sentence vectors: :class:`PgSentenceVectors`).
TABLES = ("qabot_passage_vectors",)
#: One row per distinct sentence text, keyed by :func:`text_key`.
SENTENCES = "qabot_sentence_vectors"


def text_key(text: str) -> int:
    """The row key of a sentence text's vector: the same text has the same row in every
    generation, so a commit writes only the texts new to the database."""
    return stable_key(content_hash(text))


def _search(
    pool: ConnectionPool, table: str, vector: np.ndarray, k: int
) -> list[tuple[int, float]]:
    if k <= 0:
        return []
    query: np.ndarray | HalfVector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if table == SENTENCES:
        query = HalfVector(query)
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT key, -(embedding <#> %s) FROM {table} ORDER BY embedding <#> %s LIMIT %s",
            (query, query, k),
        ).fetchall()
    return [(int(key), float(s)) for key, s in rows]


def _fetch(pool: ConnectionPool, table: str, keys: list[int], dim: int) -> np.ndarray:
    """The vectors of ``keys`` in that order; zeros for a key a newer build removed."""
    out = np.zeros((len(keys), dim), dtype=np.float32)
    if not keys:
        return out
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT key, embedding FROM {table} WHERE key = ANY(%s)",
            (keys,),
            binary=True,  # pgvector's text form takes ~1 ms a vector to parse
        ).fetchall()
    found = {int(key): vec.to_numpy() if isinstance(vec, HalfVector) else vec for key, vec in rows}
    for i, key in enumerate(keys):
        if key in found:
            out[i] = found[key]
    return out


class PgVectorIndex:
    """Inner-product search over one vector table, limited to the keys of one snapshot."""

    def __init__(
        self,
        pool: ConnectionPool,
        table: str,
        dim: int,
        *,
        count: int = 0,
        known: Container[int] | None = None,
        fresh: bool = False,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    ) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown vector table {table!r}")
        self.pool, self.table, self.dim = pool, table, dim
        #: A reader's snapshot: hits outside it (added by a newer build) are left out.
        self.known = known
        #: True for a build from scratch: the commit empties the table first.
        self.fresh = fresh
        self._count = count
        #: ``ann_threshold``: past this many passages, the store searches no sentence vectors
        #: (as the file store past its ANN threshold, :meth:`Snapshot.sentence_passages`).
        self.ann_threshold = ann_threshold
        #: Added vectors as the build gave them (ids, rows; a scratch file's rows stay mapped,
        #: not copied: a million passages' sentence vectors are GBs), and removed keys.
        self.staged: list[tuple[np.ndarray, np.ndarray]] = []
        self.staged_remove: set[int] = set()

    @property
    def approximate(self) -> bool:
        """Past the ANN threshold: the snapshot then looks for no sentence hits."""
        return self._count > self.ann_threshold

    def staged_keys(self) -> set[int]:
        return {int(k) for ids, _ in self.staged for k in ids.tolist()}

    def clear_staged(self) -> None:
        self.staged, self.staged_remove, self.fresh = [], set(), False

    def __len__(self) -> int:
        return self._count

    def ids(self) -> np.ndarray:
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT key FROM {self.table} ORDER BY key").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Stage ``vectors`` (float32 or float16, kept as given) under ``ids``."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) and (vectors.ndim != 2 or vectors.shape[1] != self.dim):
            raise ValueError(f"expected vectors of dimension {self.dim}, got {vectors.shape}")
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
        self._drop_staged(ids)
        self.staged_remove.difference_update(ids.tolist())
        self.staged.append((ids, vectors))
        self._count += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        keys = np.asarray(ids, dtype=np.int64).reshape(-1)
        self._drop_staged(keys)
        self.staged_remove.update(keys.tolist())
        self._count -= len(keys)
        return len(keys)

    def _drop_staged(self, keys: np.ndarray) -> None:
        """Unstage any added vector of ``keys`` (a later add or remove replaces it)."""
        if not len(keys):
            return
        kept = []
        for ids, rows in self.staged:
            gone = np.isin(ids, keys)
            kept.append((ids, rows) if not gone.any() else (ids[~gone], rows[~gone]))
        self.staged = kept

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        hits = _search(self.pool, self.table, vector, k)
        return [(key, s) for key, s in hits if self.known is None or key in self.known]

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of ``ids`` in that order; zeros for a key a newer build removed."""
        return _fetch(self.pool, self.table, [int(k) for k in np.asarray(ids).tolist()], self.dim)

    def by_hash(self, stored: Container[str]) -> Mapping[str, np.ndarray]:
        """The stored vectors by the hash of their text (``stored``: the hashes the table
        holds), read from the database only when asked for."""
        return _ByHash(stored, self._fetch_hashes)

    def _fetch_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ON (hash) hash, embedding FROM {self.table} WHERE hash = ANY(%s)",
                (hashes,),
            ).fetchall()
        return {h: np.asarray(v, dtype=np.float32) for h, v in rows}


class PgSentenceVectors:
    """A generation's sentence vectors, each under its text's row key (:func:`text_key`).

    Read-only: a build stages its sentence vectors in a fresh :class:`PgVectorIndex`.
    """

    def __init__(self, pool: ConnectionPool, dim: int, count: int | None = None) -> None:
        self.pool, self.dim = pool, dim
        self._count = count  # distinct texts; counted when first asked for if not known

    def __len__(self) -> int:
        if self._count is None:
            with self.pool.connection() as conn:
                row = conn.execute(f"SELECT count(*) FROM {SENTENCES}").fetchone()
            self._count = int(row[0]) if row else 0
        return self._count

    def ids(self) -> np.ndarray:
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT key FROM {SENTENCES} ORDER BY key").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise TypeError("a loaded snapshot's sentence vectors are read-only")

    def remove(self, ids: np.ndarray) -> int:
        raise TypeError("a loaded snapshot's sentence vectors are read-only")

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The best ``k`` of the table (the snapshot keeps those its passages hold)."""
        return _search(self.pool, SENTENCES, vector, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        return _fetch(self.pool, SENTENCES, np.asarray(ids, np.int64).tolist(), self.dim)


class _ByHash(Mapping[str, np.ndarray]):
    """A read-only hash → vector mapping that asks the database, one hash at a time, cached.

    A build looks up only the hashes of changed text, so a small edit reads a few vectors
    instead of the whole table.
    """

    def __init__(
        self, stored: Container[str], fetch: Callable[[list[str]], dict[str, np.ndarray]]
    ) -> None:
        self._stored, self._fetch = stored, fetch
        self._cache: dict[str, np.ndarray | None] = {}

    def _lookup(self, key: str) -> np.ndarray | None:
        if key not in self._stored:
            return None
        if key not in self._cache:
            self._cache[key] = self._fetch([key]).get(key)
        return self._cache[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not None

    def __getitem__(self, key: str) -> np.ndarray:
        vector = self._lookup(key)
        if vector is None:
            raise KeyError(key)
        return vector

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(v is not None for v in self._cache.values())
