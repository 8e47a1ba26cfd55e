"""What a retriever and a build need from the lexical leg, whichever store keeps it.

:class:`qabot.index.lexical.LexicalIndex` is the in-memory leg (the file store's);
:class:`qabot.index.pglexical.PgLexical` computes the same BM25 and coverage in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

#: A question's content words, each as its keys, with their IDF weight.
Groups = list[tuple[tuple[str, ...], float]]


class LexicalHits(Protocol):
    """One question's BM25 hits, plus its score and coverage of any passage key."""

    hits: list[tuple[int, float]]
    groups: Groups

    def scores(self, ids: Sequence[int] | np.ndarray) -> np.ndarray: ...

    def coverage(self, ids: Sequence[int] | np.ndarray) -> np.ndarray: ...


class LexicalLeg(Protocol):
    """BM25 and coverage over Arabic matching keys, keyed by passage key."""

    def __len__(self) -> int: ...

    def query(self, query: str, k: int) -> LexicalHits: ...

    def knows(self, word: str) -> bool: ...

    def updated(
        self,
        *,
        remove: Iterable[int] = (),
        add_ids: Sequence[int] = (),
        add_texts: Sequence[str] = (),
    ) -> LexicalLeg: ...
