"""The lexical (BM25) retrieval leg over Arabic matching keys.

Dense retrieval misses rare names, numbers and exact wordings; BM25 over normalised and
stemmed keys plus character trigrams (:func:`qabot.arabic.index_keys`) catches them. The
index is rebuilt on every incremental update, so it keeps each passage's keys: a rebuild or
a load never re-tokenises text.

Scoring is BM25's Lucene variant (as Lucene and bm25s compute it), precomputed per
(key, passage) into a sparse matrix in CSC form with a few vectorised numpy operations: a
question's scores are the sum of its keys' columns. The same columns are the keys' posting
lists, which give :meth:`LexicalIndex.query` its coverage.
"""

from __future__ import annotations

import itertools
import json
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arabic import ANALYSIS_VERSION, index_keys, is_arabic_token, term_groups
from ..errors import REBUILD_HINT, IndexError_

__all__ = ["LexicalIndex", "LexicalQuery"]

FILE_NAME = "lexical.npz"
_FORMAT = "qabot-lexical"
_FORMAT_VERSION = 1
#: What reading a damaged file raises, from the zip layer up to our own checks.
_DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile)

# k1 is Lucene's default. On ARCD, k1 between 0.8 and 1.2 beat bm25s's default 1.5
# (R@1 0.680-0.687 vs 0.675): a word matched by both of its stem keys counts twice, so
# earlier saturation suits the dual-key analysis. b is above Lucene's 0.75 because the
# character trigrams multiply a long paragraph's keys: in the fused ranking on ARCD,
# b 0.85-1.0 gave R@1 0.770-0.775 against 0.766 at 0.75 (0.755 at 0.5).
DEFAULT_K1 = 1.2
DEFAULT_B = 0.9


def _bm25_matrix(
    flat: np.ndarray, lengths: np.ndarray, n_vocab: int, k1: float, b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Lucene-variant BM25 score matrix in CSC form (columns are keys, rows passages).

    score(d, t) = idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl)),
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)).
    """
    n_docs = len(lengths)
    rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # Sorting (key, passage) pairs yields the CSC order directly; counts are the tf.
    pairs, tf = np.unique(flat.astype(np.int64) * n_docs + rows, return_counts=True)
    cols = pairs // n_docs
    rows = pairs - cols * n_docs
    df = np.bincount(cols, minlength=n_vocab)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    tf_f = tf.astype(np.float64)
    norm = k1 * (1.0 - b + b * lengths[rows] / lengths.mean())
    data = (idf[cols] * tf_f / (tf_f + norm)).astype(np.float32)
    return data, rows.astype(np.int32), indptr


@dataclass
class LexicalQuery:
    """One question's BM25 hits, plus its score and coverage of any passage id."""

    hits: list[tuple[int, float]]
    groups: list[tuple[tuple[str, ...], float]]  # content words, as weighted_groups gives them
    _scores: np.ndarray | None  # per index row; None when no key of the question is known
    _coverage: np.ndarray
    _row: dict[int, int]

    def _gather(self, values: np.ndarray | None, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        out = np.zeros(len(ids), dtype=np.float64)
        if values is not None:
            for i, id_ in enumerate(ids):
                row = self._row.get(int(id_))
                if row is not None:
                    out[i] = values[row]
        return out

    def scores(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """BM25 scores of ``ids`` (0 for non-matching or unknown ids)."""
        return self._gather(self._scores, ids)

    def coverage(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Coverage of ``ids`` (see :meth:`LexicalIndex.query`; 0 for unknown ids)."""
        return self._gather(self._coverage, ids)


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
    ) -> None:
        """Use :meth:`build`, :meth:`build_from_terms` or :meth:`load` instead.

        Keys are stored compactly: ``vocab`` lists the distinct keys, ``flat`` holds every
        passage's key numbers back to back, passage ``i`` is ``flat[offsets[i]:offsets[i+1]]``.
        """
        self._ids = np.asarray(ids, dtype=np.int64)
        self._vocab = vocab
        self._flat = np.asarray(flat, dtype=np.int32)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._k1 = float(k1)
        self._b = float(b)
        self._row: dict[int, int] = {i: r for r, i in enumerate(self._ids.tolist())}
        if len(self._row) != len(self._ids):
            raise ValueError("passage ids must be unique")
        self._key_id: dict[str, int] = {t: i for i, t in enumerate(vocab)}
        # The score matrix, CSC: key k's passages (rows) and scores are
        # indices/data[indptr[k]:indptr[k + 1]], so the rows double as posting lists.
        self._data = np.zeros(0, dtype=np.float32)
        self._indices = np.zeros(0, dtype=np.int32)
        self._indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        if len(self._flat):
            self._data, self._indices, self._indptr = _bm25_matrix(
                self._flat, np.diff(self._offsets), len(vocab), self._k1, self._b
            )
        self._df = np.diff(self._indptr)

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
        """A new index without ``remove`` and with the added passages (same id = replace).

        Kept passages reuse their stored keys, so an incremental update only analyses the
        new texts. Keys no passage uses any more are dropped from the vocabulary.
        """
        if len(add_ids) != len(add_texts):
            raise ValueError(f"{len(add_ids)} ids but {len(add_texts)} texts")
        gone = {int(i) for i in remove} | {int(i) for i in add_ids}
        keep = np.fromiter((i not in gone for i in self._ids.tolist()), dtype=bool)
        starts = self._offsets[:-1][keep]
        lengths = np.diff(self._offsets)[keep]
        # Gather the kept passages' key slices in one go.
        base = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        kept_flat = self._flat[base + np.arange(int(lengths.sum()), dtype=np.int64)]

        key_id = dict(self._key_id)
        vocab = list(self._vocab)
        new_lists = [index_keys(t) for t in add_texts]
        for key in itertools.chain.from_iterable(new_lists):
            if key not in key_id:
                key_id[key] = len(vocab)
                vocab.append(key)
        new_flat = np.fromiter(
            map(key_id.__getitem__, itertools.chain.from_iterable(new_lists)), dtype=np.int32
        )
        flat = np.concatenate((kept_flat, new_flat))
        all_lengths = np.concatenate((lengths, np.fromiter(map(len, new_lists), dtype=np.int64)))
        offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)
        np.cumsum(all_lengths, out=offsets[1:])

        used = np.zeros(len(vocab), dtype=bool)
        used[flat] = True
        renumber = np.cumsum(used) - 1
        vocab = [t for t, u in zip(vocab, used.tolist(), strict=True) if u]
        ids = np.concatenate((self._ids[keep], np.asarray(add_ids, dtype=np.int64).reshape(-1)))
        flat = renumber[flat].astype(np.int32)
        return LexicalIndex(ids, vocab, flat, offsets, k1=self._k1, b=self._b)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """The indexed passage ids, in index order (a copy)."""
        return self._ids.copy()

    def terms_of(self, id: int) -> list[str]:
        """The stored keys of passage ``id`` (KeyError if unknown), for :meth:`build_from_terms`."""
        row = self._row[int(id)]
        keys = self._flat[self._offsets[row] : self._offsets[row + 1]].tolist()
        return [self._vocab[k] for k in keys]

    def _all_scores(self, query_terms: Sequence[str]) -> np.ndarray | None:
        """Every passage's score: its column entries summed key by key, in float32."""
        key_ids = [self._key_id[t] for t in query_terms if t in self._key_id]
        if not key_ids:
            return None
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for k in key_ids:  # a key's rows are distinct, so a fancy-indexed add is exact
            span = slice(self._indptr[k], self._indptr[k + 1])
            scores[self._indices[span]] += self._data[span]
        return scores.astype(np.float64)

    def search_terms(self, query_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (id, BM25 score) pairs with a positive score, best first, for already
        analysed query keys (what :meth:`query` gives as ``hits`` for :func:`index_keys`)."""
        return self._top(self._all_scores(query_terms), k)

    def _top(self, scores: np.ndarray | None, k: int) -> list[tuple[int, float]]:
        if scores is None or k <= 0:
            return []
        rows = np.flatnonzero(scores > 0)
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        # Best first; ties in index order, so results are deterministic.
        rows = rows[np.lexsort((rows, -scores[rows]))]
        return [(int(self._ids[r]), float(scores[r])) for r in rows]

    def knows(self, word: str) -> bool:
        """Whether some passage has ``word`` (in one of its stem forms)."""
        return any(t in self._key_id for group in term_groups(word) for t in group)

    def query(self, query: str, k: int) -> LexicalQuery:
        """The top ``k`` hits, scores and coverage from one analysis of ``query``."""
        all_scores = self._all_scores(index_keys(query))
        groups = self.weighted_groups(query)
        return LexicalQuery(
            self._top(all_scores, k), groups, all_scores, self._coverages(groups), self._row
        )

    def _coverages(self, groups: list[tuple[tuple[str, ...], float]]) -> np.ndarray:
        """Every passage's coverage: the IDF-weighted share of the question's content words
        found in it, in [0, 1], from the keys' posting lists.

        A word is found if any of its keys (light or Snowball stem) is in the passage. Words
        absent from the whole index weigh the most, so a question about something the corpus
        never mentions scores low: a signal for abstaining. 0.0 for a query without content
        words.
        """
        total = sum(w for _, w in groups)
        out = np.zeros(len(self._ids), dtype=np.float64)
        if total <= 0:
            return out
        for group, weight in groups:
            found = np.zeros(len(self._ids), dtype=bool)
            for key in group:
                k = self._key_id.get(key)
                if k is not None:
                    found[self._indices[self._indptr[k] : self._indptr[k + 1]]] = True
            out += weight * found
        return np.minimum(1.0, out / total)

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
        """Write ``lexical.npz`` into ``directory``; return its path.

        Not atomic by itself: the store writes it into a folder it renames into place.
        """
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "analysis": ANALYSIS_VERSION}
        meta |= {"k1": self._k1, "b": self._b, "vocab": self._vocab}
        meta_bytes = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8)
        with open(directory / FILE_NAME, "wb") as fh:
            np.savez(fh, meta=meta_bytes, ids=self._ids, flat=self._flat, offsets=self._offsets)
        return directory / FILE_NAME

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read what :meth:`save` wrote; a missing, corrupt or stale file raises IndexError_."""
        path = Path(directory) / FILE_NAME
        hint = REBUILD_HINT
        if not path.is_file():
            raise IndexError_(f"lexical index not found: {path}", hint)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode("utf-8"))
                ids = np.asarray(data["ids"])
                flat = np.asarray(data["flat"])
                offsets = np.asarray(data["offsets"])
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise ValueError("not a qabot lexical index")
            if meta.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unsupported format version {meta.get('version')!r}")
            vocab = meta["vocab"]
            if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
                raise ValueError("vocabulary is not a list of strings")
            if not all(a.ndim == 1 and a.dtype.kind == "i" for a in (ids, flat, offsets)):
                raise ValueError("arrays are not one-dimensional integer arrays")
            if len(offsets) != len(ids) + 1 or offsets[0] != 0 or offsets[-1] != len(flat):
                raise ValueError("passage offsets do not match the ids and keys")
            if np.any(np.diff(offsets) < 0):
                raise ValueError("passage offsets are not increasing")
            if len(flat) and (flat.min() < 0 or flat.max() >= len(vocab)):
                raise ValueError("key numbers out of range")
            k1, b = float(meta["k1"]), float(meta["b"])
            index = cls(ids, vocab, flat, offsets, k1=k1, b=b)
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
