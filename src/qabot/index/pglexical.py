"""The lexical leg in PostgreSQL: the same BM25 and coverage as :class:`LexicalIndex`, in SQL.

Each passage's matching keys (:func:`qabot.arabic.index_keys`: normalised words, both stems,
character trigrams) are stored as postings (key, passage, tf, passage length) with each key's
document frequency, and as one posting list per key (:mod:`.pglists`): a question's top BM25
hits are added up from its keys' lists, and the scores and coverage of the fused candidates
come from their postings alone.
The formula and parameters are :mod:`qabot.index.lexical`'s (Lucene's BM25 variant).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from psycopg_pool import ConnectionPool

from ..arabic import index_keys, is_arabic_token, term_groups
from . import pgkeys, pglists
from .bm25 import pruned_df
from .legs import Groups

#: A question's keys: id and document frequency, and the posting list (:mod:`.pglists`) of
#: those its BM25 walks: as the file store does (:func:`qabot.index.bm25.pruned_df`), only
#: keys in at most ``maxdf`` passages.
LOOKUP = """
SELECT t.term, t.id, t.df, l.postings FROM qabot_terms t
LEFT JOIN qabot_lists l ON l.term = t.id AND t.df <= %(maxdf)s AND t.term = ANY(%(walk)s)
WHERE t.term = ANY(%(wanted)s) AND t.df > 0
"""
TERMS = "SELECT term, id, df FROM qabot_terms WHERE term = ANY(%s) AND df > 0"
#: Some passages' stored keys (:mod:`.pgkeys`) and lengths: their postings.
KEYS_OF = "SELECT key, keys, n_keys FROM qabot_passages WHERE key = ANY(%s)"
#: (passage keys, term ids) → their postings rows (passage, term, tf, dl).
Postings = Callable[[list[int], list[int]], np.ndarray]
#: A query's keys with their counts, its content words' key groups, every key to look up.
Plan = tuple[Counter[str], list[tuple[str, ...]], list[str]]


def idf(n: int, df: int) -> float:
    return math.log1p((n - df + 0.5) / (df + 0.5))


@dataclass
class Change:
    """A build's staged edit of the leg: passages to drop, and new passages, each as its
    texts and its index there (analysed only as the commit writes them: a million passages'
    keys would not fit in memory at once)."""

    remove: set[int] = field(default_factory=set)
    add: dict[int, tuple[Sequence[str], int]] = field(default_factory=dict)

    def text(self, key: int) -> str:
        texts, i = self.add[key]
        return texts[i]


@dataclass
class _Term:
    id: int
    df: int


def terms_of(rows: Iterable[tuple[str, int, int]]) -> dict[str, _Term]:
    """:data:`TERMS` rows by term."""
    return {term: _Term(id_, df) for term, id_, df in rows}


class PgLexical:
    """BM25 over the postings tables, as of one snapshot (its passage count and mean length)."""

    def __init__(
        self,
        pool: ConnectionPool,
        passages: int,
        total_keys: int,
        *,
        known: Container[int] | None = None,
        change: Change | None = None,
    ) -> None:
        self.pool = pool
        self.n, self.total_keys = passages, total_keys
        self.known = known
        self.change = change or Change()

    def __len__(self) -> int:
        return self.n

    def _terms(self, keys: Iterable[str]) -> dict[str, _Term]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(TERMS, (wanted,)).fetchall()
        return terms_of(rows)

    def knows(self, word: str) -> bool:
        return bool(self._terms(t for group in term_groups(word) for t in group))

    def wanted(self, query: str) -> Plan:
        """A query's keys with their counts, its content words' key groups, and every key
        to look up for them."""
        counts = Counter(index_keys(query))
        groups = list(dict.fromkeys(term_groups(query)))
        return counts, groups, list({*counts, *(t for g in groups for t in g)})

    def lookup_params(self, plans: Iterable[Plan], k: int) -> dict[str, object]:
        """The parameters of :data:`LOOKUP` for some queries' :meth:`wanted` keys."""
        plans = list(plans)
        walk = {t for counts, _, _ in plans for t in counts} if k > 0 and self.n else set()
        return {
            "maxdf": pruned_df(self.n), "walk": sorted(walk),
            "wanted": sorted({t for _, _, keys in plans for t in keys}),
        }  # fmt: skip

    def query(self, query: str, k: int) -> PgLexicalQuery:
        plan = self.wanted(query)
        with self.pool.connection() as conn:
            rows = conn.execute(LOOKUP, self.lookup_params([plan], k), binary=True).fetchall()
        return self.answer(plan, rows, k)

    def answer(
        self,
        plan: Plan,
        rows: Sequence[tuple[str, int, int, bytes | None]],
        k: int,
        postings: Postings | None = None,
    ) -> PgLexicalQuery:
        """A query's hits and means of scoring from its :data:`LOOKUP` ``rows``: the top
        ``k`` by its walked keys' lists, rescored with every key (``postings``: one more
        round trip) when a key was too common to walk, as :meth:`LexicalIndex._walk` does."""
        counts, groups, _ = plan
        terms = terms_of((term, id_, df) for term, id_, df, _ in rows)
        lists = {int(id_): bytes(blob) for _, id_, _, blob in rows if blob is not None}
        asked = [(terms[t], c) for t, c in counts.items() if t in terms]
        found = PgLexicalQuery(self, asked, self._weigh(groups, terms), terms, postings)
        if k <= 0 or not asked or not self.n:
            return found
        limit = pruned_df(self.n)
        walked = [(t, c) for t, c in asked if t.df <= limit]
        keys, scores = pglists.scores(
            [lists.get(t.id, b"") for t, _ in walked],
            [c * idf(self.n, t.df) for t, c in walked],
            self.n,
            self.total_keys,
        )
        pruned = [(t, c) for t, c in asked if t.df > limit]
        if pruned and len(keys):
            net = pglists.best(keys, scores, 2 * k)
            keys, scores = keys[net], scores[net] + found.scores_of(keys[net].tolist(), pruned)
        top = pglists.best(keys, scores, k)
        found.hits = [
            (key, s)
            for key, s in zip(keys[top].tolist(), scores[top].tolist(), strict=True)
            if s > 0 and (self.known is None or key in self.known)
        ]
        return found

    def _weigh(self, groups: list[tuple[str, ...]], terms: dict[str, _Term]) -> Groups:
        """:meth:`LexicalIndex.weighted_groups`, from the stored document frequencies."""
        out = []
        for group in groups:
            known = [terms[t].df for t in group if t in terms]
            if not known and not is_arabic_token(group[0]) and group[0].isalpha():
                continue  # a Latin name the articles never use says nothing against them
            out.append((group, idf(self.n, max(known, default=0))))
        return out

    def updated(
        self,
        *,
        remove: Iterable[int] = (),
        add_ids: Sequence[int] = (),
        add_texts: Sequence[str] = (),
    ) -> PgLexical:
        """The leg with this edit staged; the store writes it with the rest of the commit."""
        if len(add_ids) != len(add_texts):
            raise ValueError(f"{len(add_ids)} ids but {len(add_texts)} texts")
        change = Change(set(self.change.remove), dict(self.change.add))
        for key in remove:
            change.remove.add(int(key))
            change.add.pop(int(key), None)
        for i, key in enumerate(add_ids):
            change.add[int(key)] = (add_texts, i)
        return PgLexical(self.pool, self.n, self.total_keys, known=self.known, change=change)


class PgLexicalQuery:
    """One question's hits; BM25 and coverage of candidates from their postings."""

    def __init__(
        self,
        leg: PgLexical,
        asked: list[tuple[_Term, int]],
        groups: Groups,
        terms: dict[str, _Term],
        postings: Postings | None = None,
    ) -> None:
        self.hits: list[tuple[int, float]] = []
        self.groups = groups
        self._leg, self._asked, self._terms = leg, asked, terms
        self._postings = postings or self._fetch
        self._cached: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None

    def _both(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = tuple(int(i) for i in ids)
        if self._cached is None or self._cached[0] != keys:
            self._cached = (keys, *self._compute(keys))
        return self._cached[1], self._cached[2]

    def _compute(self, keys: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        leg = self._leg
        scores = np.zeros(len(keys), dtype=np.float64)
        coverage = np.zeros(len(keys), dtype=np.float64)
        term_ids = sorted(self.term_ids())
        if not keys or not term_ids or not leg.n:
            return scores, coverage
        at, term, part = self._read(list(keys), term_ids)
        scores = self._bm25(len(keys), at, term, part, self._asked)
        total = sum(w for _, w in self.groups)
        if total > 0 and len(at):
            ids = np.asarray(term_ids, dtype=np.int64)
            present = np.zeros((len(keys), len(ids)), dtype=bool)
            present[at, np.searchsorted(ids, term)] = True
            got = np.zeros(len(keys), dtype=np.float64)
            for group, w in self.groups:
                found = [self._terms[t].id for t in group if t in self._terms]
                if found:
                    got += w * present[:, np.searchsorted(ids, found)].any(axis=1)
            coverage = np.minimum(1.0, got / total)
        return scores, coverage

    def _read(
        self, keys: list[int], term_ids: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The postings of ``keys`` × ``term_ids``: each one's index in ``keys``, its term,
        and its BM25 term-frequency part."""
        rows = np.asarray(self._postings(keys, term_ids), dtype=np.int64).reshape(-1, 4)
        wanted = np.asarray(keys, dtype=np.int64)
        order = np.argsort(wanted)
        at = order[np.searchsorted(wanted, rows[:, 0], sorter=order)]
        leg = self._leg
        return at, rows[:, 1], pglists.saturation(rows[:, 2], rows[:, 3], leg.n, leg.total_keys)

    def _bm25(
        self,
        size: int,
        at: np.ndarray,
        term: np.ndarray,
        part: np.ndarray,
        asked: list[tuple[_Term, int]],
    ) -> np.ndarray:
        """Each of ``size`` passages' BM25 by the ``asked`` keys, from :meth:`_read`'s."""
        ids = np.asarray(sorted(t.id for t, _ in asked), dtype=np.int64)
        weight = {t.id: c * idf(self._leg.n, t.df) for t, c in asked}
        if not len(ids) or not len(term):
            return np.zeros(size, dtype=np.float64)
        col = np.minimum(np.searchsorted(ids, term), len(ids) - 1)
        hit = ids[col] == term
        w = np.asarray([weight[int(i)] for i in ids], dtype=np.float64)
        return np.bincount(at[hit], weights=w[col[hit]] * part[hit], minlength=size)

    def scores_of(self, keys: list[int], asked: list[tuple[_Term, int]]) -> np.ndarray:
        """BM25 of passages ``keys`` by the ``asked`` keys only (with their query counts)."""
        ids = sorted({t.id for t, _ in asked})
        return self._bm25(len(keys), *self._read(keys, ids), asked)

    def _fetch(self, keys: list[int], terms: list[int]) -> np.ndarray:
        with self._leg.pool.connection() as conn:
            rows = conn.execute(KEYS_OF, (keys,), binary=True).fetchall()
        return pgkeys.postings(rows, terms)

    def term_ids(self) -> set[int]:
        """The ids of every key its scores and coverage read."""
        return {t.id for t, _ in self._asked} | {
            self._terms[t].id for g, _ in self.groups for t in g if t in self._terms
        }

    def scores(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._both(ids)[0]

    def coverage(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._both(ids)[1]
