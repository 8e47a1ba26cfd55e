"""One question's reads from PostgreSQL in two round trips, not one per leg and lookup.

The retriever asks its legs one after the other (passage hits, sentence hits, BM25 hits, then
the candidates' vectors, sentence vectors and postings): against a database each ask would
be a round trip. :func:`prime` sends the first ones at once (one pipeline: the HNSW searches,
the keys' ids, document frequencies and posting lists, from which the BM25 top hits are
added up here), and the first ``get`` of the candidates' passage vectors fetches their
passages (text, attribution, sentences: what renders them), sentence vectors and postings
with them. Each trip is one repeatable-read transaction that checks the generation
(:func:`.pgrows.checked`). At scale, when a question has a key too common to
walk, its best hits are rescored with it in one more (small) trip. It returns
a view of the snapshot whose legs answer from those results, and ask the database themselves
for anything else (the same answers either way).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from pgvector import HalfVector

from . import pgkeys
from .pglexical import KEYS_OF, LOOKUP, PgLexical, PgLexicalQuery
from .pgrows import ROWS, PassageRows, checked
from .pgvectors import SENTENCES, PgSentenceVectors, PgVectorIndex
from .snapshot import Snapshot

_HITS = "SELECT key, -(embedding <#> %s) FROM {table} ORDER BY embedding <#> %s LIMIT %s"
_VECTORS = "SELECT key, embedding FROM {table} WHERE key = ANY(%s)"
#: The vectors of some passages' sentences (:mod:`.pgrows`: each row lists its texts' keys).
_SENTENCE_VECTORS = (
    f"SELECT key, embedding FROM {SENTENCES} WHERE key IN "
    "(SELECT unnest(sentence_keys) FROM qabot_passages WHERE key = ANY(%s))"
)


def _vector(values: object) -> np.ndarray:
    return values.to_numpy() if isinstance(values, HalfVector) else np.asarray(values)


class _Candidates:
    """The second trip: the candidates' passages (:mod:`.pgrows`), passage vectors, sentence
    vectors and postings."""

    def __init__(
        self, view: Snapshot, lexical: PgLexical, terms: set[int], rows: PassageRows
    ) -> None:
        self.view, self.lexical, self.terms, self.rows = view, lexical, terms, rows
        self.keys: set[int] = set()
        self.passages: dict[int, np.ndarray] = {}
        self.sentences: dict[int, np.ndarray] = {}
        self.postings = np.zeros((0, 4), dtype=np.int64)

    def fetch(self, keys: list[int]) -> None:
        passages = self.view.passages
        assert isinstance(passages, PgVectorIndex)
        missing = self.rows.missing(keys)
        with checked(passages.pool, self.rows.generation) as conn:
            # binary: pgvector's text form takes ~1 ms a vector to parse
            p = conn.execute(_VECTORS.format(table=passages.table), (keys,), binary=True)
            r = conn.execute(ROWS, (missing,), binary=True) if missing else None
            s = conn.execute(_SENTENCE_VECTORS, (keys,), binary=True)
            post = conn.execute(KEYS_OF, (keys,), binary=True) if self.terms else None
        self.rows.keep(r.fetchall() if r else [])
        self.passages = {int(k): _vector(v) for k, v in p.fetchall()}
        self.sentences = {int(k): _vector(v) for k, v in s.fetchall()}
        found = post.fetchall() if post else []
        self.postings = pgkeys.postings(found, self.terms)
        self.keys = set(keys)

    def rows_of(self, keys: list[int], terms: list[int]) -> np.ndarray:
        """Postings of ``keys`` × ``terms``: from the trip when it covered them."""
        if not self.keys.issuperset(keys) or not self.terms.issuperset(terms):
            with checked(self.lexical.pool, self.rows.generation) as conn:
                cur = conn.execute(KEYS_OF, (keys,), binary=True)
            return pgkeys.postings(cur.fetchall(), terms)
        rows = self.postings
        hit = np.isin(rows[:, 0], keys) & np.isin(rows[:, 1], terms)
        return rows[hit]


class _Passages(PgVectorIndex):
    """The passage vectors, their hits for the primed query vectors already at hand."""

    def __init__(
        self,
        base: PgVectorIndex,
        hits: list[tuple[np.ndarray, int, list[tuple[int, float]]]],
        trip: _Candidates,
    ) -> None:
        self.__dict__.update(base.__dict__)
        self._hits, self._trip = hits, trip

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        for primed, n, hits in self._hits:
            if primed is vector and n == k:
                return hits
        return super().search(vector, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        keys = [int(k) for k in np.asarray(ids).tolist()]
        self._trip.fetch(keys)
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in self._trip.passages:
                out[i] = self._trip.passages[key]
        return out


class _Sentences(PgSentenceVectors):
    """The sentence vectors, with the primed sentence hits and the trip's vectors."""

    def __init__(
        self,
        base: PgSentenceVectors,
        hits: tuple[np.ndarray, int, list[tuple[int, float]]] | None,
        trip: _Candidates,
    ) -> None:
        self.__dict__.update(base.__dict__)
        self._hits, self._trip = hits, trip

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._hits is not None and self._hits[0] is vector and self._hits[1] == k:
            return self._hits[2]
        return super().search(vector, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        keys = np.asarray(ids, np.int64).tolist()
        found = self._trip.sentences
        if not all(k in found for k in keys):
            return super().get(ids)
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out


class _Lexical(PgLexical):
    """The lexical leg, with the primed texts' hits and the trip's postings."""

    def __init__(self, base: PgLexical, answers: dict[tuple[str, int], PgLexicalQuery]) -> None:
        self.__dict__.update(base.__dict__)
        self._answers = answers

    def query(self, query: str, k: int) -> PgLexicalQuery:
        return self._answers.get((query, k)) or super().query(query, k)


def prime(
    snapshot: Snapshot,
    rows: PassageRows,
    texts: Sequence[str],
    vector: np.ndarray | None,
    n: int,
    lexical_k: int,
) -> Snapshot:
    """A view of ``snapshot`` (whose passages ``rows`` holds) for one question: what the
    retriever's candidate search will ask (:meth:`Snapshot.for_question`) fetched in one round
    trip, the rest in one more; both read the snapshot's generation or raise
    :class:`~qabot.index.snapshot.SnapshotMoved`."""
    passages, sentences, lexical = snapshot.passages, snapshot.sentence_vectors, snapshot.lexical
    assert isinstance(passages, PgVectorIndex) and isinstance(sentences, PgSentenceVectors)
    assert isinstance(lexical, PgLexical)
    dense = [] if vector is None else [vector]
    plans = {text: lexical.wanted(text) for text in dict.fromkeys(texts)}
    lookup = lexical.lookup_params(plans.values(), lexical_k)
    hits_sql = _HITS.format(table=passages.table)
    with checked(passages.pool, rows.generation) as conn:  # one round trip
        dense_cur = [
            conn.execute(hits_sql, (q, q, n))
            for q in (np.asarray(v, np.float32).reshape(-1) for v in dense)
        ]
        sentence_cur = None
        if vector is not None and not passages.approximate:  # else no sentence search
            half = HalfVector(np.asarray(vector, np.float32).reshape(-1))
            sentence_cur = conn.execute(_HITS.format(table=SENTENCES), (half, half, 2 * n))
        terms_cur = conn.execute(LOOKUP, lookup, binary=True) if lookup["wanted"] else None
    known = passages.known
    passage_hits = [
        (v, n, [(int(k), float(s)) for k, s in cur.fetchall() if known is None or k in known])
        for v, cur in zip(dense, dense_cur, strict=True)
    ]
    sentence_hits = None
    if vector is not None and sentence_cur is not None:  # the retriever asks for 2n
        sentence_hits = (vector, 2 * n, [(int(k), float(s)) for k, s in sentence_cur.fetchall()])
    found_rows = terms_cur.fetchall() if terms_cur else []
    view = copy.copy(snapshot)
    trip = _Candidates(view, lexical, set(), rows)
    answers: dict[tuple[str, int], PgLexicalQuery] = {}
    for text, plan in plans.items():
        found = lexical.answer(plan, found_rows, lexical_k, trip.rows_of)
        trip.terms |= found.term_ids()
        answers[(text, lexical_k)] = found
    view.passages = _Passages(passages, passage_hits, trip)
    view.sentence_vectors = _Sentences(sentences, sentence_hits, trip)
    view.lexical = _Lexical(lexical, answers)
    return view
