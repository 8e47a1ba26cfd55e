"""A reader's generation in PostgreSQL: the manifest at load, passages per question.

Loading reads the manifest and, while questions search sentence vectors (up to the ANN
threshold), which passages hold each sentence text (:class:`Owners`: keys only, no text).
Passages, their sentences and their sentence vectors come with a question's candidates
(:mod:`.pgquery`, :mod:`.pgrows`); listings and counts are queries. Every read checks that the
database still holds this generation (:class:`~qabot.index.snapshot.SnapshotMoved` if not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ..chunking import Chunk
from ..errors import REBUILD_HINT, IndexError_
from ..results import ArticleInfo
from . import pgquery, pgrows
from .pgbase import HEAD, check_head
from .pglexical import PgLexical
from .pgrows import LazyByKey, LazyChunks, LazySentences, PassageRows
from .pgvectorcopy import stored_ids
from .pgvectors import PgSentenceVectors, PgVectorIndex
from .pgwrite import generation_name
from .snapshot import Snapshot

#: Every passage's key and sentence count, and every sentence's text key, in passage order.
_OWNERS = (
    "SELECT coalesce(string_agg(int8send(key), ''::bytea ORDER BY position), ''::bytea), "
    "coalesce(string_agg(int4send(cardinality(sentence_keys)), ''::bytea ORDER BY position), "
    "''::bytea) FROM qabot_passages",
    "SELECT coalesce(string_agg(int8send(s), ''::bytea ORDER BY p.position, u.o), ''::bytea) "
    "FROM qabot_passages p, unnest(p.sentence_keys) WITH ORDINALITY u(s, o)",
)


def _array(value: bytes | None, kind: str) -> np.ndarray:
    return np.frombuffer(bytes(value) if value else b"", dtype=kind).astype(np.int64)


@dataclass(frozen=True)
class Owners:
    """Sentence text key → the passages holding that text, in passage order (a passage once
    per time it holds it), as the file store's layout gives them (:meth:`Snapshot._owners`)."""

    texts: np.ndarray  # the distinct sentence keys, sorted
    offsets: np.ndarray  # texts[i]'s passages are passages[offsets[i] : offsets[i + 1]]
    passages: np.ndarray
    sentences: int  # how many sentences the passages hold

    @classmethod
    def read(cls, conn: psycopg.Connection) -> tuple[Owners, int]:
        """The owners, and the number of passages (in the caller's transaction)."""
        head = conn.execute(_OWNERS[0], binary=True).fetchone()
        body = conn.execute(_OWNERS[1], binary=True).fetchone()
        keys = _array(head[0] if head else None, ">i8")
        counts = _array(head[1] if head else None, ">i4")
        texts = _array(body[0] if body else None, ">i8")
        order = np.argsort(texts, kind="stable")  # stable: passage order within a text
        ordered = texts[order]
        distinct, starts = np.unique(ordered, return_index=True)
        offsets = np.append(starts, len(ordered)).astype(np.int64)
        owners = np.repeat(keys, counts)[order]
        return cls(distinct, offsets, owners, len(texts)), len(keys)

    def of(self, key: int) -> np.ndarray:
        i = int(np.searchsorted(self.texts, key))
        if i == len(self.texts) or self.texts[i] != key:
            return self.passages[:0]  # a text no passage of this generation holds
        return self.passages[self.offsets[i] : self.offsets[i + 1]]


@dataclass(eq=False)
class PgSnapshot(Snapshot):
    """A generation in the database: vectors, postings and passages stay there, read per
    question; sentence vector ids are their texts' row keys (:func:`.text_key`)."""

    passages: PgVectorIndex
    sentence_vectors: PgSentenceVectors
    rows: PassageRows | None = None
    owners: Owners | None = None  # None past the ANN threshold (no sentence search)

    def __post_init__(self) -> None:
        """No sentence layout: it would read every passage."""

    @property
    def _read(self) -> PassageRows:
        assert self.rows is not None
        return self.rows

    def prepare_search(self) -> Snapshot:
        return self  # nothing to lay out: the owners were read with the manifest

    @cached_property
    def by_key(self) -> Mapping[int, Chunk]:
        return LazyByKey(self._read)

    def articles(self) -> list[ArticleInfo]:
        """The listing, queried once per generation (a GROUP BY over every passage)."""
        return list(self._articles)

    @cached_property
    def _articles(self) -> list[ArticleInfo]:
        return pgrows.articles(self._read)

    def sentence_count(self) -> int:
        if self.owners is not None:
            return self.owners.sentences
        found = self._read.read(
            "SELECT coalesce(sum(cardinality(sentence_keys)), 0) FROM qabot_passages"
        )
        return int(found[0][0])

    def check(self, where: str, passages: int | None = None, sentences: int | None = None) -> None:
        n = len(self.chunks)
        if (
            len(self.passages) != n
            or len(self.lexical) != n
            or passages not in (None, n)
            or sentences not in (None, self.sentence_count())
        ):
            raise IndexError_(f"index {where} is inconsistent", REBUILD_HINT)

    def passage_hashes(self) -> dict[int, str]:
        found = self._read.read("SELECT key, hash FROM qabot_passages")
        return {int(k): str(h) for k, h in found}

    def vectors_by_hash(self) -> Mapping[str, np.ndarray]:
        return self.passages.by_hash(set(self.passage_hashes().values()))

    def stored_sentence_ids(self, texts: Sequence[str]) -> np.ndarray:
        return stored_ids(self._read.pool, texts)

    def sentence_ids_by_text(self) -> dict[str, int]:
        return {
            s: int(k)
            for row in self._read.stream()
            for s, k in zip(row.sentences, row.keys.tolist(), strict=True)
        }

    def sentence_rows(self, keys: Sequence[int]) -> list[np.ndarray]:
        """Each passage's sentence keys (fetched with the question's candidates)."""
        return [row.keys for row in self._read.get(keys)]

    def sentence_passages(self, vector: np.ndarray, k: int) -> list[int]:
        return [] if self.owners is None else super().sentence_passages(vector, k)

    def holders(self, sid: int) -> np.ndarray:
        assert self.owners is not None
        return self.owners.of(sid)

    def for_question(
        self,
        texts: Sequence[str],
        vector: np.ndarray | None,
        n: int,
        lexical_k: int,
    ) -> Snapshot:
        """A view that fetched what the question will ask for in one round trip (and the
        candidates' passages, vectors and postings in one more): :mod:`.pgquery`."""
        return pgquery.prime(self, self._read, texts, vector, n, lexical_k)


def load(pool: ConnectionPool, location: str, ann_threshold: int) -> PgSnapshot:
    """The current generation: its manifest (and its :class:`Owners` while sentence vectors
    are searched), in one consistent view."""
    owners, counted = None, None
    with pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = conn.execute(f"SELECT {HEAD} FROM qabot_manifest").fetchone()
        if head is not None and int(head[5]) <= ann_threshold:
            owners, counted = Owners.read(conn)
    n = int(head[5]) if head is not None else 0
    generation, model, dim, prompts, built, _, total_keys, _ = check_head(
        head, n if counted is None else counted, location
    )
    rows = PassageRows(pool, int(generation), n)
    distinct = len(owners.texts) if owners is not None else None
    return PgSnapshot(
        model=model,
        dim=dim,
        chunks=LazyChunks(rows),
        sentences=LazySentences(rows),
        passages=PgVectorIndex(
            pool, "qabot_passage_vectors", dim, count=n, ann_threshold=ann_threshold
        ),
        sentence_vectors=PgSentenceVectors(pool, dim, distinct),
        lexical=PgLexical(pool, n, total_keys),
        prompts=dict(prompts),
        built=built,
        name=generation_name(int(generation)),
        rows=rows,
        owners=owners,
    )

