"""The lexical (BM25) retrieval leg over Arabic matching keys.

Dense retrieval misses rare names, numbers and exact wordings; BM25 over normalised and
stemmed keys plus character trigrams (:func:`qabot.arabic.index_keys`) catches them. The
index is rebuilt on every incremental update, so it keeps each passage's keys: a rebuild or
a load never re-tokenises text.

Scoring is bm25s's (Lucene variant). The sparse score matrix is computed here with a few
vectorised numpy operations and handed to a ``bm25s.BM25`` object, because
``BM25.index`` loops over documents in Python (about 2 s for 50,000 passages against
0.4 s here); ``tests/test_lexical.py`` checks both give the same matrix.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from qabot.arabic import ANALYSIS_VERSION, index_keys, term_groups
from qabot.errors import REBUILD_HINT, IndexError_

__all__ = ["LexicalIndex", "LexicalQuery"]

FILE_NAME = "lexical.npz"
_FORMAT = "qabot-lexical"
_FORMAT_VERSION = 1

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
    """bm25s's Lucene-variant score matrix in CSC form (columns are keys, rows passages).

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


class LexicalQuery:
    """One question's BM25 hits, plus its score and coverage of any passage id."""

    def __init__(
        self,
        hits: list[tuple[int, float]],
        groups: list[tuple[tuple[str, ...], float]],
        scores: np.ndarray | None,
        coverage: np.ndarray,
        row: dict[int, int],
    ) -> None:
        self.hits = hits
        self.groups = groups  # the question's content words, as weighted_groups gives them
        self._scores = scores
        self._coverage = coverage
        self._row = row

    def _gather(self, values: np.ndarray | None, ids: Sequence[int]) -> np.ndarray:
        out = np.zeros(len(ids), dtype=np.float64)
        if values is not None:
            for i, id_ in enumerate(ids):
                row = self._row.get(int(id_))
                if row is not None:
                    out[i] = values[row]
        return out

    def scores(self, ids: Sequence[int]) -> np.ndarray:
        """BM25 scores of ``ids`` (0 for non-matching or unknown ids)."""
        return self._gather(self._scores, ids)

    def coverage(self, ids: Sequence[int]) -> np.ndarray:
        """:meth:`LexicalIndex.coverage` of ``ids`` (0 for unknown ids)."""
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
        self._indices = np.zeros(0, dtype=np.int32)  # postings: rows of each key, CSC order
        self._indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        self._bm25: bm25s.BM25 | None = None
        if len(self._flat):
            data, indices, indptr = _bm25_matrix(
                self._flat, np.diff(self._offsets), len(vocab), self._k1, self._b
            )
            bm25 = bm25s.BM25(k1=self._k1, b=self._b, method="lucene")
            bm25.scores = {
                "data": data,
                "indices": indices,
                "indptr": indptr,
                "num_docs": len(self._ids),
            }
            bm25.vocab_dict = self._key_id
            bm25.unique_token_ids_set = set(self._key_id.values())
            bm25.nonoccurrence_array = None
            self._bm25 = bm25
            self._indices, self._indptr = indices, indptr
        self._df = np.diff(self._indptr)

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        ids: Sequence[int],
        texts: Sequence[str],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> LexicalIndex:
        """Index ``texts`` under ``ids`` (unique), analysed with :func:`qabot.arabic.index_keys`."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        return cls.build_from_terms(ids, [index_keys(t) for t in texts], k1=k1, b=b)

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
        return LexicalIndex(
            ids, vocab, renumber[flat].astype(np.int32), offsets, k1=self._k1, b=self._b
        )

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
        key_ids = [self._key_id[t] for t in query_terms if t in self._key_id]
        if self._bm25 is None or not key_ids:
            return None
        return np.asarray(self._bm25.get_scores_from_ids(key_ids), dtype=np.float64)

    def search_terms(self, query_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Like :meth:`search`, for already analysed query keys."""
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

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (id, BM25 score) pairs with a positive score, best first."""
        return self.search_terms(index_keys(query), k)

    def query(self, query: str, k: int) -> LexicalQuery:
        """:meth:`search`, scores and coverage from one analysis of ``query``."""
        all_scores = self._all_scores(index_keys(query))
        groups = self.weighted_groups(query)
        return LexicalQuery(
            self._top(all_scores, k), groups, all_scores, self._coverages(groups), self._row
        )

    def _coverages(self, groups: list[tuple[tuple[str, ...], float]]) -> np.ndarray:
        """:meth:`coverage` of every passage at once, from the keys' posting lists.

        A word is found in a passage if any of its keys is: one boolean row per word.
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

    def scores(self, query: str, ids: Sequence[int]) -> np.ndarray:
        """BM25 scores of ``query`` for ``ids`` (0 for non-matching or unknown ids)."""
        return self.query(query, 0).scores(ids)

    def weighted_groups(self, query: str) -> list[tuple[tuple[str, ...], float]]:
        """The query's content words (each as its keys) with their IDF in this index.

        "Found in either form" is about as common as the commoner form, so a word weighs
        the IDF of that form; a word the index never saw weighs the most.
        """
        n = len(self._ids)
        out = []
        for group in dict.fromkeys(term_groups(query)):
            key_ids = [self._key_id[t] for t in group if t in self._key_id]
            df = max((int(self._df[k]) for k in key_ids), default=0)
            out.append((group, math.log1p((n - df + 0.5) / (df + 0.5))))
        return out

    def coverage(self, query: str, id: int) -> float:
        """IDF-weighted share of the query's content words found in passage ``id``, in [0, 1].

        A word is found if any of its keys (light or Snowball stem) is in the passage.
        Words absent from the whole index weigh the most, so a question about something
        the corpus never mentions scores low: a signal for abstaining. 0.0 for a query
        without content words or an unknown id.
        """
        return float(self.query(query, 0).coverage([id])[0])

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> Path:
        """Write ``lexical.npz`` into ``directory`` atomically; return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / FILE_NAME
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "analysis": ANALYSIS_VERSION,
            "k1": self._k1,
            "b": self._b,
            "vocab": self._vocab,
        }
        meta_bytes = json.dumps(meta, ensure_ascii=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".lexical-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    meta=np.frombuffer(meta_bytes, dtype=np.uint8),
                    ids=self._ids,
                    flat=self._flat,
                    offsets=self._offsets,
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

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
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            EOFError,
            zipfile.BadZipFile,
        ) as exc:
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
