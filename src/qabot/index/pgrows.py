"""A reader's passages in PostgreSQL, read by key when a question needs them, never all at load.

A replica that held every passage paid for the whole archive at each start and each reindex
(81 s and 5.9 GB at a million passages). Here a generation's passages are its rows: a question
fetches its candidates' rows in the same round trip as their vectors (:mod:`.pgquery`), the
last :data:`CACHED` are kept, and listings are SQL (:func:`articles`).

Every read runs in one repeatable-read transaction that also reads the manifest's generation
(:func:`checked`): rows of a newer generation are never mixed into an older one's answer; the
reader gets :class:`~qabot.index.snapshot.SnapshotMoved` instead, and loads the new one.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, overload

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ..articles import ArticleMeta
from ..chunking import Chunk
from ..results import ArticleInfo
from .snapshot import SnapshotMoved

#: Passages' rows a reader keeps (a question's candidates are ~100-150; the bot answers a few
#: questions at once): ~3 KB each.
CACHED = 4096
#: Rows fetched at a time when every passage is read (a listing of the whole generation).
STEP = 2000
#: Some passages' rows: what renders them (as JSON text, decoded when read) and which
#: sentence vectors they hold.
ROWS = (
    "SELECT key, record::text, sentences::text, sentence_keys FROM qabot_passages "
    "WHERE key = ANY(%s)"
)


class Row:
    """One passage: its sentences' vector keys (:func:`.text_key`) at once, its record and
    sentences decoded when first read (a question scores ~100 candidates, renders 3)."""

    def __init__(self, record: str, sentences: str, keys: Sequence[int]) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)
        self._record, self._sentences = record, sentences
        self._chunk: Chunk | None = None

    @property
    def chunk(self) -> Chunk:
        if self._chunk is None:
            self._chunk = Chunk.model_validate(json.loads(self._record))
        return self._chunk

    @property
    def sentences(self) -> list[str]:
        return list(json.loads(self._sentences))


@contextmanager
def checked(pool: ConnectionPool, generation: int) -> Iterator[psycopg.Connection]:
    """A connection whose statements (queued in one pipeline: one round trip) read one view of
    the database; :class:`SnapshotMoved` once the block ends if that view is not of
    ``generation``. Read the cursors after the block."""
    with pool.connection() as conn:
        with conn.pipeline():
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            head = conn.execute("SELECT generation FROM qabot_manifest")
            yield conn
            conn.execute("COMMIT")
        row = head.fetchone()
    if row is None or int(row[0]) != generation:
        raise SnapshotMoved(f"generation {generation} is no longer the database's")


class PassageRows:
    """One generation's passages by key, fetched when asked for, the last :data:`CACHED` kept."""

    def __init__(self, pool: ConnectionPool, generation: int, n: int, limit: int = CACHED) -> None:
        self.pool, self.generation, self.n, self.limit = pool, generation, n, limit
        self._rows: OrderedDict[int, Row] = OrderedDict()
        self._lock = threading.Lock()

    def missing(self, keys: Iterable[int]) -> list[int]:
        with self._lock:
            return [k for k in dict.fromkeys(keys) if k not in self._rows]

    def keep(self, found: Iterable[tuple[int, str, str, list[int]]]) -> dict[int, Row]:
        """Keep the :data:`ROWS` rows a trip fetched (checked for this generation)."""
        made = {int(key): Row(record, sentences, keys) for key, record, sentences, keys in found}
        with self._lock:
            for key, row in made.items():
                self._rows[key] = row
                self._rows.move_to_end(key)
            while len(self._rows) > self.limit:
                self._rows.popitem(last=False)
        return made

    def get(self, keys: Sequence[int]) -> list[Row]:
        """The rows of ``keys``, in that order (KeyError for a key the generation lacks)."""
        wanted = [int(k) for k in keys]
        with self._lock:
            found = {k: self._rows[k] for k in wanted if k in self._rows}
        missing = [k for k in dict.fromkeys(wanted) if k not in found]
        if missing:
            with checked(self.pool, self.generation) as conn:
                cur = conn.execute(ROWS, (missing,), binary=True)
            found.update(self.keep(cur.fetchall()))
        return [found[key] for key in wanted]

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One query's rows, checked for this generation."""
        with checked(self.pool, self.generation) as conn:
            cur = conn.execute(sql, params)
        return cur.fetchall()

    def stream(self) -> Iterator[Row]:
        """Every passage in order (a whole read, for tools and tests; none on the query path)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = conn.execute("SELECT generation FROM qabot_manifest").fetchone()
            if head is None or int(head[0]) != self.generation:
                raise SnapshotMoved(f"generation {self.generation} is no longer the database's")
            with conn.cursor(name="qabot_passages_read", binary=True) as cur:
                cur.itersize = STEP
                cur.execute(ROWS.split(" WHERE ")[0] + " ORDER BY position")
                for found in cur:
                    yield from self.keep([found]).values()


class LazyChunks(Sequence[Chunk]):
    """A generation's passages in order: their number at hand, a passage read when asked."""

    def __init__(self, rows: PassageRows) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return self._rows.n

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        at = i + len(self) if i < 0 else i
        found = self._rows.read("SELECT key FROM qabot_passages WHERE position = %s", (at,))
        if not found:
            raise IndexError(i)
        return self._rows.get([int(found[0][0])])[0].chunk

    def __iter__(self) -> Iterator[Chunk]:
        return (row.chunk for row in self._rows.stream())


class LazyByKey(Mapping[int, Chunk]):
    """Passage key → passage, read when asked for (cached)."""

    def __init__(self, rows: PassageRows) -> None:
        self._rows = rows

    def __getitem__(self, key: int) -> Chunk:
        return self._rows.get([key])[0].chunk

    def __iter__(self) -> Iterator[int]:
        found = self._rows.read("SELECT key FROM qabot_passages ORDER BY position")
        return (int(key) for key, in found)

    def __len__(self) -> int:
        return self._rows.n


class LazySentences(Mapping[int, list[str]]):
    """Passage key → its sentences, read with its passage."""

    def __init__(self, rows: PassageRows) -> None:
        self._rows = rows

    def __getitem__(self, key: int) -> list[str]:
        return self._rows.get([key])[0].sentences

    def __iter__(self) -> Iterator[int]:
        return iter(LazyByKey(self._rows))

    def __len__(self) -> int:
        return self._rows.n


def articles(rows: PassageRows) -> list[ArticleInfo]:
    """Every article and its number of passages, in order of first appearance, by one query
    (the attribution of each article's first passage, as the file store lists it)."""
    found = rows.read(
        "SELECT p.record - 'text', a.n FROM (SELECT record->>'article' AS article, "
        "min(position) AS first, count(*) AS n FROM qabot_passages GROUP BY 1) a "
        "JOIN qabot_passages p ON p.position = a.first ORDER BY a.first"
    )
    return [
        ArticleInfo(**{f: m.get(f) for f in ArticleMeta.model_fields}, id=m["article"], passages=n)
        for m, n in found
    ]
