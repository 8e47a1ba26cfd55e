"""The current generation as an indexer needs it to update it: keys and text hashes, not passages.

A reader reads passages per question (:mod:`.pgreader`). An edit needs its own view: each
passage's key and text hash (to find what changed), the few changed passages themselves (the
bridge's word counts lose their text), and which sentence texts already have a stored vector.
:func:`load_base` reads just those, in SQL, so an edit parses no passage's JSON. Only a run
that changed no text at all reads the whole generation, to tell whether anything else (an
attribution, an order, a sentence split) changed (:class:`_StoredChunks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ..arabic import ANALYSIS_VERSION
from ..chunking import Chunk
from ..errors import REBUILD_HINT, IndexError_
from . import pgvectorcopy
from .pglexical import PgLexical
from .pgvectors import PgSentenceVectors, PgVectorIndex
from .pgwrite import generation_name
from .snapshot import Snapshot

#: Passages' rows fetched at a time by a load.
LOAD_STEP = 10_000
#: The manifest's columns a load reads, in :func:`check_head`'s order.
HEAD = "generation, model, dim, prompts, built, passages, total_keys, analysis"


def check_head(head: tuple[Any, ...] | None, n: int, location: str) -> tuple[Any, ...]:
    """The manifest row, refused if there is none, if it was built with another Arabic
    analysis, or if the table holds another number (``n``) of passages."""
    if head is None:
        raise IndexError_(f"no index in the database {location}", "build it with `qabot index`")
    if head[7] != ANALYSIS_VERSION:
        raise IndexError_(
            f"the index in {location} was built with Arabic analysis version "
            f"{head[7]}, this qabot uses {ANALYSIS_VERSION}",
            REBUILD_HINT,
        )
    if n != head[5]:
        raise IndexError_(f"index {location} is inconsistent", REBUILD_HINT)
    return head


def read_passages(conn: psycopg.Connection) -> tuple[list[Chunk], dict[int, list[str]]]:
    """The passages in order and their sentences, made a step of rows at a time through a
    server-side cursor: a million rows' JSON and their passages never coexist in memory."""
    chunks: list[Chunk] = []
    sentences: dict[int, list[str]] = {}
    with conn.cursor(name="qabot_load") as cur:
        cur.itersize = LOAD_STEP
        cur.execute("SELECT record, sentences FROM qabot_passages ORDER BY position")
        for record, found in cur:
            chunk = Chunk.model_validate(record)
            chunks.append(chunk)
            sentences[chunk.key] = list(found)
    return chunks, sentences


class _Generation:
    """Every stored passage and its sentences, read once, when first asked for."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    @cached_property
    def whole(self) -> tuple[list[Chunk], dict[int, list[str]]]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return read_passages(conn)


class _StoredChunks(Sequence[Chunk]):
    """The stored passages in order, read only when iterated or compared whole."""

    def __init__(self, generation: _Generation, n: int) -> None:
        self._generation, self._n = generation, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Chunk:  # type: ignore[override]  # no slices asked
        return self._generation.whole[0][i]

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._generation.whole[0])

    def __eq__(self, other: object) -> bool:
        return self._generation.whole[0] == other

    __hash__ = None  # type: ignore[assignment]


class _StoredSentences(Mapping[int, list[str]]):
    """Passage key → its stored sentences, read with the passages when first asked for."""

    def __init__(self, generation: _Generation) -> None:
        self._generation = generation

    def __getitem__(self, key: int) -> list[str]:
        return self._generation.whole[1][key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._generation.whole[1])

    def __len__(self) -> int:
        return len(self._generation.whole[1])


class _ByKey(Mapping[int, Chunk]):
    """Passage key → the stored passage, each read from its row when asked for."""

    def __init__(self, pool: ConnectionPool, hashes: Mapping[int, str]) -> None:
        self._pool, self._hashes = pool, hashes
        self._cache: dict[int, Chunk] = {}

    def __getitem__(self, key: int) -> Chunk:
        if key not in self._hashes:
            raise KeyError(key)
        if key not in self._cache:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "SELECT record FROM qabot_passages WHERE key = %s", (key,)
                ).fetchone()
            if row is None:
                raise KeyError(key)
            self._cache[key] = Chunk.model_validate(row[0])
        return self._cache[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._hashes)

    def __len__(self) -> int:
        return len(self._hashes)


@dataclass(eq=False)
class PgBase(Snapshot):
    """The generation an indexer updates: passages are read only where it asks for them."""

    passages: PgVectorIndex
    hashes: dict[int, str] = field(default_factory=dict)  # passage key → its text's hash
    pool: ConnectionPool | None = None

    def __post_init__(self) -> None:
        """No sentence layout: it would read every passage (a new one is made anyway)."""

    def passage_hashes(self) -> dict[int, str]:
        return dict(self.hashes)

    @cached_property
    def by_key(self) -> Mapping[int, Chunk]:
        assert self.pool is not None
        return _ByKey(self.pool, self.hashes)

    def vectors_by_hash(self) -> Mapping[str, np.ndarray]:
        return self.passages.by_hash(set(self.hashes.values()))

    def stored_sentence_ids(self, texts: Sequence[str]) -> np.ndarray:
        assert self.pool is not None
        return pgvectorcopy.stored_ids(self.pool, texts)


def load_base(pool: ConnectionPool, location: str, ann_threshold: int) -> PgBase:
    """Read the manifest and every passage's key and text hash, in one consistent view."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = conn.execute(f"SELECT {HEAD} FROM qabot_manifest").fetchone()
        rows = conn.execute("SELECT key, hash FROM qabot_passages").fetchall() if head else []
    hashes = {int(k): str(h) for k, h in rows}
    generation_id, model, dim, prompts, built, n, total_keys, _ = check_head(
        head, len(hashes), location
    )
    keys = set(hashes)
    generation = _Generation(pool)
    return PgBase(
        model=model,
        dim=dim,
        chunks=_StoredChunks(generation, n),
        sentences=_StoredSentences(generation),
        passages=PgVectorIndex(
            pool, "qabot_passage_vectors", dim, count=n, known=keys, ann_threshold=ann_threshold
        ),
        sentence_vectors=PgSentenceVectors(pool, dim, 0),  # (its texts are asked by key)
        lexical=PgLexical(pool, n, total_keys, known=keys),
        prompts=dict(prompts),
        built=built,
        name=generation_name(generation_id),
        hashes=hashes,
        pool=pool,
    )
