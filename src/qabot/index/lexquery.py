"""One question's BM25 hits, and its exact score and coverage of any passage it is asked about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .lexical import LexicalIndex


@dataclass
class LexicalQuery:
    """One question's BM25 hits, plus its score and coverage of any passage id."""

    hits: list[tuple[int, float]]
    groups: list[tuple[tuple[str, ...], float]]  # content words, as weighted_groups gives them
    _index: LexicalIndex
    _keys: np.ndarray  # the question's known key numbers (sorted, distinct)
    _repeats: np.ndarray  # how often BM25 counts each (0: a coverage-only key)
    _last: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _tf(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The known rows among ``ids``, which are known, and their counts of the question's
        keys; kept for the next call, as the retriever asks scores and coverage of the same."""
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        if self._last is None or not np.array_equal(self._last[0], wanted):
            rows, known = self._index._rows(wanted)
            self._last = (wanted, rows[known], known, self._index._tf(rows[known], self._keys))
        return self._last[1:]

    def scores(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """BM25 scores of ``ids`` (0 for non-matching or unknown ids)."""
        rows, known, tf = self._tf(ids)
        out = np.zeros(len(known), dtype=np.float64)
        out[known] = self._index._scores(rows, tf, self._keys, self._repeats)
        return out

    def coverage(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Coverage of ``ids`` (see :meth:`LexicalIndex.query`; 0 for unknown ids).

        A word is found if any of its keys (light or Snowball stem) is in the passage. Words
        absent from the whole index weigh the most, so a question about something the corpus
        never mentions scores low: a signal for abstaining. 0.0 without content words.
        """
        rows, known, tf = self._tf(ids)
        out = np.zeros(len(known), dtype=np.float64)
        total = sum(w for _, w in self.groups)
        if total <= 0 or not known.any():
            return out
        present = tf > 0
        found = np.zeros(int(known.sum()), dtype=np.float64)
        key_id = self._index._key_id
        for group, weight in self.groups:
            cols = np.searchsorted(self._keys, [key_id[t] for t in group if t in key_id])
            if len(cols):
                found += weight * present[:, cols].any(axis=1)
        out[known] = np.minimum(1.0, found / total)
        return out
