"""Many texts' BM25 keys as key numbers, analysed once per distinct word.

A passage's keys (:func:`qabot.arabic.index_keys`) are its words' keys back to back, and a
corpus repeats its words: ARCD's 483 passages hold ~45k words but ~13k distinct ones, and
~240k keys. So each distinct word is analysed and its keys numbered once, kept as a row of
numbers, and a block of texts becomes the gather of its words' rows (numpy) instead of a
dictionary look-up per key in Python. Keys are numbered exactly as one pass over the texts'
keys in order would number them (a new key gets the next number where it first occurs),
because a key first occurs in the first occurrence of some word.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..arabic import tokenize, tokens_keys

#: Texts numbered at a time (their words' rows are held as Python lists meanwhile, and the
#: gather's int64 temporaries: ~50 MB a block at ~500 keys a passage).
BLOCK_TEXTS = 1 << 12
#: Distinct words whose key rows are kept; past this the table starts afresh (the keys'
#: numbers stay: they live in the vocabulary, not in the table).
MAX_WORDS = 1 << 20


class KeyNumbers:
    """Numbers the keys of texts: a key of ``known`` keeps its number, a new one gets the
    next number from ``base`` on, in order of first occurrence (collected in :attr:`new`)."""

    def __init__(self, known: Mapping[str, int], base: int) -> None:
        #: New keys and their numbers, in order of first occurrence.
        self.new: dict[str, int] = {}
        self._known = known if base else self.new  # a first build: every key is new
        self._base = base
        self._words: dict[str, int] = {}  # word → its row in the table
        self._ends = array.array("q", [0])  # row i's keys: _keys[_ends[i]:_ends[i + 1]]
        self._keys = array.array("i")

    def _add(self, words: list[str]) -> None:
        """Append new ``words``' rows to the table, numbering their new keys in order."""
        each = tokens_keys(words)
        keys = list(itertools.chain.from_iterable(each))
        known, new = self._known, self.new
        first = known is new  # a first build: no key is known before
        numbers = [] if first else list(map(known.get, keys))
        if first or None in numbers:
            fresh = [k for k in dict.fromkeys(keys) if k not in known and k not in new]
            new.update(zip(fresh, itertools.count(self._base + len(new))))
            if first:
                numbers = list(map(new.__getitem__, keys))
            else:
                numbers = [new[k] if n is None else n for k, n in zip(keys, numbers, strict=True)]
        self._keys.extend(numbers)  # type: ignore[arg-type]  # no None left
        ends = itertools.accumulate(map(len, each), initial=self._ends[-1])
        next(ends)  # (the table's end so far)
        self._ends.extend(ends)

    def blocks(self, texts: Iterable[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per block of :data:`BLOCK_TEXTS` texts: every key number of its texts back to back
        (int32), and how many keys each text has."""
        each = iter(texts)
        while block := list(itertools.islice(each, BLOCK_TEXTS)):
            yield self._block(block)

    def _block(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(self._words) > MAX_WORDS:
            self._words.clear()
            self._ends, self._keys = array.array("q", [0]), array.array("i")
        rows = array.array("i")
        counts = np.zeros(len(texts), dtype=np.int64)
        seen: dict[str, list[int]] = {}  # a repeated text is tokenised once
        words, pending = self._words, []
        for i, text in enumerate(texts):
            found = seen.get(text)
            if found is None:
                tokens = tokenize(text)
                for word in dict.fromkeys(tokens):  # new words in order of occurrence
                    if word not in words:
                        words[word] = len(words)
                        pending.append(word)
                found = seen[text] = list(map(words.__getitem__, tokens))
            rows.extend(found)
            counts[i] = len(found)
        self._add(pending)
        return self._gather(np.frombuffer(rows, dtype=np.int32), counts)

    def _gather(self, rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The key numbers of words ``rows`` back to back, and each text's count of keys (its
        ``counts`` words' keys)."""
        ends = np.frombuffer(self._ends, dtype=np.int64)
        table = np.frombuffer(self._keys, dtype=np.int32)
        per_word = ends[rows + 1] - ends[rows]
        total = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(per_word, out=total[1:])
        shift = np.repeat(ends[rows] - total[:-1], per_word)
        numbers = table[shift + np.arange(int(total[-1]), dtype=np.int64)]
        text_ends = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=text_ends[1:])
        return numbers, np.diff(total[text_ends])
