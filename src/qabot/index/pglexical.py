"""The lexical leg in PostgreSQL: the same BM25 and coverage as :class:`LexicalIndex`, in SQL.

Each passage's matching keys (:func:`qabot.arabic.index_keys`: normalised words, both stems,
character trigrams) are stored as postings (key, passage, tf, passage length) with each key's
document frequency, so a question's top BM25 hits are one aggregate query over its keys'
postings, and the scores and coverage of the fused candidates come from their postings alone.
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
from .bm25 import pruned_df
from .legs import Groups
from .lexical import DEFAULT_B, DEFAULT_K1

#: A question's top BM25 hits, from its keys' text (their ids and document frequencies are
#: read in the same statement, so the hits cost one round trip); idf as :func:`idf`. As the
#: file store does (:func:`qabot.index.bm25.pruned_df`), only keys in at most ``maxdf``
#: passages are walked; when a key is left out, the best ``2k`` so found are rescored with
#: every key and the best ``k`` of them kept.
TOP = """
WITH q AS (
    SELECT t.id, t.df, q.qtf * ln(1 + (%(n)s::float8 - t.df + 0.5) / (t.df + 0.5)) AS w
    FROM unnest(%(terms)s::text[], %(qtf)s::int[]) AS q(term, qtf)
    JOIN qabot_terms t ON t.term = q.term AND t.df > 0
), net AS (
    SELECT p.passage
    FROM q JOIN qabot_postings p ON p.term = q.id
    WHERE q.df <= %(maxdf)s
    GROUP BY p.passage
    ORDER BY sum(q.w * p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / %(avgdl)s))) DESC,
             p.passage
    LIMIT (SELECT CASE WHEN bool_or(df > %(maxdf)s) THEN 2 ELSE 1 END * %(k)s FROM q)
)
SELECT p.passage, sum(q.w * p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / %(avgdl)s)))
    AS s
FROM net JOIN qabot_postings p ON p.passage = net.passage JOIN q ON q.id = p.term
GROUP BY p.passage ORDER BY s DESC, p.passage LIMIT %(k)s
"""
TERMS = "SELECT term, id, df FROM qabot_terms WHERE term = ANY(%s) AND df > 0"
POSTINGS = (
    "SELECT passage, term, tf, dl FROM qabot_postings WHERE passage = ANY(%s) AND term = ANY(%s)"
)
#: (passage keys, term ids) → their postings rows (passage, term, tf, dl).
Postings = Callable[[list[int], list[int]], list[tuple[int, int, int, int]]]


def idf(n: int, df: int) -> float:
    return math.log1p((n - df + 0.5) / (df + 0.5))


@dataclass
class Change:
    """A build's staged edit of the leg: passages to drop, and new passages' keys."""

    remove: set[int] = field(default_factory=set)
    add: dict[int, list[str]] = field(default_factory=dict)


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

    def wanted(self, query: str) -> tuple[Counter[str], list[tuple[str, ...]], list[str]]:
        """A query's keys with their counts, its content words' key groups, and every key
        to look up for them."""
        counts = Counter(index_keys(query))
        groups = list(dict.fromkeys(term_groups(query)))
        return counts, groups, list({*counts, *(t for g in groups for t in g)})

    def top_params(self, counts: Counter[str], k: int) -> dict[str, object] | None:
        """The parameters of :data:`TOP` for a query's keys; None when there is no search."""
        if not counts or k <= 0 or not self.n:
            return None
        return {
            "k1": DEFAULT_K1, "b": DEFAULT_B, "n": self.n, "avgdl": self.total_keys / self.n,
            "terms": list(counts), "qtf": list(counts.values()), "k": k,
            "maxdf": pruned_df(self.n),
        }  # fmt: skip

    def query(self, query: str, k: int) -> PgLexicalQuery:
        counts, groups, wanted = self.wanted(query)
        params = self.top_params(counts, k)
        with self.pool.connection() as conn, conn.pipeline():  # one round trip
            terms = conn.execute(TERMS, (wanted,)) if wanted else None
            top = conn.execute(TOP, params) if params else None
        rows = terms.fetchall() if terms else []
        return self.answer(counts, groups, terms_of(rows), top.fetchall() if top else [])

    def answer(
        self,
        counts: Counter[str],
        groups: list[tuple[str, ...]],
        terms: dict[str, _Term],
        top: list[tuple[int, float]],
        postings: Postings | None = None,
    ) -> PgLexicalQuery:
        """A query's hits from its looked-up ``terms`` and :data:`TOP` rows."""
        asked = [(terms[t], c) for t, c in counts.items() if t in terms]
        found = PgLexicalQuery(self, asked, self._weigh(groups, terms), terms, postings)
        found.hits = [
            (int(key), float(s))
            for key, s in top
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
        for key, text in zip(add_ids, add_texts, strict=True):
            change.add[int(key)] = index_keys(text)
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
        term_ids = self.term_ids()
        if not keys or not term_ids or not leg.n:
            return scores, coverage
        rows = self._postings(list(keys), sorted(term_ids))
        row_of = {key: i for i, key in enumerate(keys)}
        has: dict[int, set[int]] = {}
        avgdl = leg.total_keys / leg.n
        weight = {t.id: c * idf(leg.n, t.df) for t, c in self._asked}
        for passage, term, tf, dl in rows:
            has.setdefault(passage, set()).add(term)
            if term in weight:
                norm = DEFAULT_K1 * (1 - DEFAULT_B + DEFAULT_B * dl / avgdl)
                scores[row_of[passage]] += weight[term] * tf / (tf + norm)
        total = sum(w for _, w in self.groups)
        if total > 0:
            for passage, terms in has.items():
                got = sum(
                    w
                    for group, w in self.groups
                    if any(t in self._terms and self._terms[t].id in terms for t in group)
                )
                coverage[row_of[passage]] = min(1.0, got / total)
        return scores, coverage

    def _fetch(self, keys: list[int], terms: list[int]) -> list[tuple[int, int, int, int]]:
        with self._leg.pool.connection() as conn:
            return conn.execute(POSTINGS, (keys, terms)).fetchall()

    def term_ids(self) -> set[int]:
        """The ids of every key its scores and coverage read."""
        return {t.id for t, _ in self._asked} | {
            self._terms[t].id for g, _ in self.groups for t in g if t in self._terms
        }

    def scores(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._both(ids)[0]

    def coverage(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._both(ids)[1]
