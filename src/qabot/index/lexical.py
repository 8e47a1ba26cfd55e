"""The lexical (BM25) retrieval leg over Arabic matching keys.

Dense retrieval misses rare names, numbers and exact wordings; BM25 over normalised and
stemmed keys plus character trigrams (:func:`qabot.arabic.index_keys`) catches them. The
index keeps each passage's keys, so an incremental update (:mod:`.lexupdate`, merged) or a
load never re-tokenises text. One question's hits and scores: :mod:`.lexquery`.

Scoring is BM25's Lucene variant (as Lucene and bm25s compute it). Two structures serve a
question: posting lists (a CSC score matrix, one column per key) find the top BM25 hits, and
each passage's own keys give the exact score and coverage of the few candidates the
retriever pools. At scale the keys of common words (``#_ال``…) are in most passages: their
posting lists are not kept (see :data:`MAX_DF_SHARE`), so no question walks them, while
candidates are still scored with every key.
"""

from __future__ import annotations

import itertools
import json
import math
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..arabic import ANALYSIS_VERSION, index_keys, is_arabic_token, term_groups
from ..errors import REBUILD_HINT, IndexError_
from . import bm25, lexupdate
from .bm25 import DEFAULT_B, DEFAULT_K1
from .lexquery import LexicalQuery
from .npz import read_npz, smallest, write_npz

__all__ = ["DEFAULT_B", "DEFAULT_K1", "LexicalIndex", "LexicalQuery"]

FILE_NAME = "lexical.npz"
_FORMAT = "qabot-lexical"
_FORMAT_VERSION = 2
#: What reading a damaged file raises, from the zip layer up to our own checks.
_DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile)
#: Arrays read through a memory map (see :func:`.npz.read_npz`).
_MAPPED = ("flat", "data", "indices")
#: Up to this many keys (~2,000 paragraphs), posting lists are made on load (ARCD: ~30 ms).
DERIVED_KEYS = 1 << 20


class LexicalIndex:
    """BM25 over int64 passage ids, keeping each passage's keys for rebuilds and coverage."""

    def __init__(
        self,
        ids: np.ndarray,
        vocab: list[str],
        flat: np.ndarray,
        offsets: np.ndarray,
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        matrix: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Use :meth:`build`, :meth:`build_from_terms` or :meth:`load` instead.

        Keys are stored compactly: ``vocab`` lists the distinct keys, ``flat`` holds every
        passage's key numbers back to back, passage ``i`` is ``flat[offsets[i]:offsets[i+1]]``.
        ``matrix`` is what :func:`_bm25_matrix` made of them before (a load).
        """
        self._ids = np.asarray(ids, dtype=np.int64)
        self._vocab = vocab
        self._flat = flat if flat.dtype.kind in "iu" else np.asarray(flat, dtype=np.int32)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._k1 = float(k1)
        self._b = float(b)
        # Id → row by binary search: no dict of a million ints to build on every load.
        self._order = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[self._order]
        if len(self._ids) and (np.diff(self._sorted_ids) == 0).any():
            raise ValueError("passage ids must be unique")
        self._key_id: dict[str, int] = {t: i for i, t in enumerate(vocab)}
        lengths = np.diff(self._offsets)
        self._avgdl = float(lengths.mean()) if len(lengths) else 1.0
        # The score matrix, CSC: key k's passages (rows) and scores are
        # indices/data[indptr[k]:indptr[k + 1]], so the rows double as posting lists.
        if matrix is None:
            if len(self._flat):
                matrix = bm25.score_matrix(self._flat, lengths, len(vocab), self._k1, self._b)
            else:
                empty = np.zeros(len(vocab) + 1, dtype=np.int64)
                matrix = (np.zeros(0, np.float32), np.zeros(0, np.int32), empty, empty[1:])
        self._data: np.ndarray = matrix[0]
        self._indices: np.ndarray = matrix[1]
        self._indptr: np.ndarray = matrix[2]
        self._df: np.ndarray = matrix[3]
        n = len(self._ids)
        self._idf = np.log1p((n - self._df + 0.5) / (self._df + 0.5))

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(cls, ids: Sequence[int], texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` under ``ids`` (unique), analysed with :func:`qabot.arabic.index_keys`."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        return cls.build_from_terms(ids, [index_keys(t) for t in texts])

    @classmethod
    def build_from_terms(
        cls,
        ids: Sequence[int],
        term_lists: Sequence[Sequence[str]],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> LexicalIndex:
        """Index already analysed passages (e.g. from :meth:`terms_of`), skipping tokenising."""
        if len(ids) != len(term_lists):
            raise ValueError(f"{len(ids)} ids but {len(term_lists)} term lists")
        vocab = list(dict.fromkeys(itertools.chain.from_iterable(term_lists)))
        key_id = {t: i for i, t in enumerate(vocab)}
        flat = np.fromiter(
            map(key_id.__getitem__, itertools.chain.from_iterable(term_lists)), dtype=np.int32
        )
        offsets = np.zeros(len(term_lists) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, term_lists), dtype=np.int64), out=offsets[1:])
        return cls(np.asarray(ids, dtype=np.int64).reshape(-1), vocab, flat, offsets, k1=k1, b=b)

    def updated(
        self,
        *,
        remove: Iterable[int] = (),
        add_ids: Sequence[int] = (),
        add_texts: Sequence[str] = (),
    ) -> LexicalIndex:
        """A new index without ``remove`` and with the added passages (same id = replace),
        merged rather than rebuilt (:mod:`.lexupdate`)."""
        parts = lexupdate.merge(self, remove, add_ids, add_texts)
        return LexicalIndex(*parts[:4], k1=self._k1, b=self._b, matrix=parts.matrix)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """The indexed passage ids, in index order (a copy)."""
        return self._ids.copy()

    def _rows(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The index rows of ``ids``, and which of them are indexed at all."""
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(self._ids):
            return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
        at = np.minimum(np.searchsorted(self._sorted_ids, wanted), len(self._ids) - 1)
        return self._order[at], self._sorted_ids[at] == wanted

    def terms_of(self, id: int) -> list[str]:
        """The stored keys of passage ``id`` (KeyError if unknown), for :meth:`build_from_terms`."""
        rows, known = self._rows([id])
        if not known[0]:
            raise KeyError(id)
        row = int(rows[0])
        keys = self._flat[self._offsets[row] : self._offsets[row + 1]].tolist()
        return [self._vocab[k] for k in keys]

    def _tf(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return bm25.term_counts(self._flat, self._offsets, rows, keys)

    def _scores(
        self, rows: np.ndarray, counts: np.ndarray, keys: np.ndarray, repeats: np.ndarray
    ) -> np.ndarray:
        """Exact BM25 scores of ``rows`` holding ``counts`` (:meth:`_tf`) of ``keys``, each
        key counted ``repeats`` times."""
        lengths = self._offsets[rows + 1] - self._offsets[rows]
        norm = self._k1 * (1.0 - self._b + self._b * lengths / self._avgdl)
        return bm25.scores(counts, norm, self._idf[keys], repeats)

    def _key_numbers(self, query_terms: Sequence[str]) -> np.ndarray:
        return np.array([self._key_id[t] for t in query_terms if t in self._key_id], np.int64)

    def _walk(self, key_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The top ``k`` passages by BM25, found through the kept posting lists, then scored
        exactly (pruned keys included): the ranking can differ only where pruning bites."""
        if not len(key_ids) or k <= 0:
            return []
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for key in key_ids.tolist():  # a key's rows are distinct, so a fancy-indexed add is exact
            span = slice(self._indptr[key], self._indptr[key + 1])
            scores[self._indices[span]] += self._data[span]
        rows = np.flatnonzero(scores > 0)
        pruned = bool((self._indptr[key_ids + 1] == self._indptr[key_ids]).any())
        if pruned:  # rescore a wider net with every key, as the candidates are
            if len(rows) > 2 * k:
                rows = rows[np.argpartition(-scores[rows], 2 * k - 1)[: 2 * k]]
            keys, repeats = np.unique(key_ids, return_counts=True)
            exact = self._scores(rows, self._tf(rows, keys), keys, repeats)
        else:
            exact = scores[rows].astype(np.float64)
        if len(rows) > k:
            top = np.argpartition(-exact, k - 1)[:k]
            rows, exact = rows[top], exact[top]
        # Best first; ties in index order, so results are deterministic.
        order = np.lexsort((rows, -exact))
        return [(int(self._ids[rows[i]]), float(exact[i])) for i in order]

    def search_terms(self, query_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (id, BM25 score) pairs with a positive score, best first, for already
        analysed query keys (what :meth:`query` gives as ``hits`` for :func:`index_keys`)."""
        return self._walk(self._key_numbers(query_terms), k)

    def knows(self, word: str) -> bool:
        """Whether some passage has ``word`` (in one of its stem forms)."""
        return any(t in self._key_id for group in term_groups(word) for t in group)

    def query(self, query: str, k: int) -> LexicalQuery:
        """The top ``k`` hits, and the means to score any passage, from one analysis."""
        key_ids = self._key_numbers(index_keys(query))
        groups = self.weighted_groups(query)
        group_ids = self._key_numbers([t for group, _ in groups for t in group])
        keys = np.union1d(key_ids, group_ids).astype(np.int64)
        repeats = np.bincount(np.searchsorted(keys, key_ids), minlength=len(keys))
        return LexicalQuery(self._walk(key_ids, k), groups, self, keys, repeats)

    def weighted_groups(self, query: str) -> list[tuple[tuple[str, ...], float]]:
        """The query's content words (each as its keys) with their IDF in this index.

        "Found in either form" is about as common as the commoner form, so a word weighs
        the IDF of that form; a word the index never saw weighs the most.
        """
        n = len(self._ids)
        out = []
        for group in dict.fromkeys(term_groups(query)):
            key_ids = [self._key_id[t] for t in group if t in self._key_id]
            if not key_ids and not is_arabic_token(group[0]) and group[0].isalpha():
                # A Latin name or acronym the articles never use ("OIC" in an Arabic
                # question) says nothing against them: only the ones they contain count.
                continue
            df = max((int(self._df[k]) for k in key_ids), default=0)
            out.append((group, math.log1p((n - df + 0.5) / (df + 0.5))))
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> Path:
        """Write ``lexical.npz`` (uncompressed, so :meth:`load` can map it) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "analysis": ANALYSIS_VERSION}
        meta |= {"k1": self._k1, "b": self._b, "vocab": self._vocab}
        meta_bytes = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8)
        # A new file, never the old one rewritten: a loaded index may be mapping the old one.
        path = directory / FILE_NAME
        path.unlink(missing_ok=True)
        arrays: dict[str, np.ndarray] = {"meta": meta_bytes, "ids": self._ids}
        arrays["flat"] = smallest(self._flat)
        arrays["offsets"] = self._offsets
        if len(self._flat) > DERIVED_KEYS:  # else the posting lists are made again on load
            arrays |= {"data": self._data, "indices": smallest(self._indices)}
            arrays |= {"indptr": self._indptr, "df": self._df}
        write_npz(path, arrays, mapped=_MAPPED)
        return path

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read what :meth:`save` wrote; a missing, corrupt or stale file raises IndexError_."""
        path = Path(directory) / FILE_NAME
        hint = REBUILD_HINT
        if not path.is_file():
            raise IndexError_(f"lexical index not found: {path}", hint)
        try:
            arrays = read_npz(path, mapped=_MAPPED)
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise ValueError("not a qabot lexical index")
            if meta.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unsupported format version {meta.get('version')!r}")
            vocab = meta["vocab"]
            if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
                raise ValueError("vocabulary is not a list of strings")
            ids, flat, offsets = arrays["ids"], arrays["flat"], arrays["offsets"]
            stored = tuple(arrays[k] for k in ("data", "indices", "indptr", "df") if k in arrays)
            if not all(a.ndim == 1 for a in (ids, flat, offsets, *stored)):
                raise ValueError("arrays are not one-dimensional")
            if len(offsets) != len(ids) + 1 or offsets[0] != 0 or offsets[-1] != len(flat):
                raise ValueError("passage offsets do not match the ids and keys")
            if np.any(np.diff(offsets) < 0):
                raise ValueError("passage offsets are not increasing")
            matrix = None  # a small index keeps no posting lists (DERIVED_KEYS)
            if stored:
                data, indices, ptr, df = matrix = stored[0], stored[1], stored[2], stored[3]
                if len(ptr) != len(vocab) + 1 or len(df) != len(vocab) or ptr[-1] != len(data):
                    raise ValueError("posting lists do not match the vocabulary")
                if len(indices) != len(data) or np.any(np.diff(ptr) < 0):
                    raise ValueError("posting lists are inconsistent")
            k1, b = float(meta["k1"]), float(meta["b"])
            index = cls(ids, vocab, flat, offsets, k1=k1, b=b, matrix=matrix)
        except _DAMAGE as exc:
            raise IndexError_(f"lexical index {path} is corrupt: {exc}", hint) from exc
        if meta.get("analysis") != ANALYSIS_VERSION:
            raise IndexError_(
                f"lexical index {path} was built with Arabic analysis version "
                f"{meta.get('analysis')!r}, this qabot uses {ANALYSIS_VERSION}",
                hint,
            )
        if (index._k1, index._b) != (DEFAULT_K1, DEFAULT_B):
            raise IndexError_(
                f"lexical index {path} uses BM25 k1={index._k1}, b={index._b}; this qabot "
                f"uses k1={DEFAULT_K1}, b={DEFAULT_B}",
                hint,
            )
        return index
