"""BM25 arithmetic over arrays: the posting-list matrix and the exact scores of candidates.

Scoring is BM25's Lucene variant (as Lucene and bm25s compute it):
score(d, t) = idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl)),
idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .spill import scratch

# k1 is Lucene's default. On ARCD, k1 between 0.8 and 1.2 beat bm25s's default 1.5
# (R@1 0.680-0.687 vs 0.675): a word matched by both of its stem keys counts twice, so
# earlier saturation suits the dual-key analysis. b is above Lucene's 0.75 because the
# character trigrams multiply a long paragraph's keys: in the fused ranking on ARCD,
# b 0.85-1.0 gave R@1 0.770-0.775 against 0.766 at 0.75 (0.755 at 0.5).
DEFAULT_K1 = 1.2
DEFAULT_B = 0.9
#: A key in more than this share of the passages (and in more than MIN_PRUNED_DF of them)
#: keeps no posting list: it adds little to a ranking (IDF ≤ 3) but would cost a walk over
#: most of the corpus. Below MIN_PRUNED_DF passages nothing is pruned (ARCD: unchanged).
MAX_DF_SHARE = 0.05
MIN_PRUNED_DF = 5_000
#: Passages counted at a time when building the matrix (see :func:`score_matrix`).
BLOCK_PASSAGES = 1 << 14


def pruned_df(n_docs: int) -> int:
    """The largest document frequency that keeps its posting list."""
    return max(MIN_PRUNED_DF, int(MAX_DF_SHARE * n_docs))


def score_matrix(
    flat: np.ndarray, lengths: np.ndarray, n_vocab: int, k1: float, b: float,
    block: int = BLOCK_PASSAGES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The score matrix in CSC form (columns are keys, rows passages: the columns are the
    posting lists), without the columns of pruned keys; and every key's document frequency.

    Built ``block`` passages at a time, twice over (document frequencies first, then each
    block's entries scattered into their columns), so the temporaries stay a block's size:
    one COO matrix of a million passages' ~500M keys needed ~4× their size at once.
    """  # fmt: skip
    n_docs = len(lengths)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = range(0, n_docs, block)

    def counts(start: int) -> sparse.csc_matrix:
        """The (passage, key) counts of one block, passages numbered from 0 in it."""
        stop = min(n_docs, start + block)
        keys = flat[offsets[start] : offsets[stop]]
        rows = np.repeat(np.arange(stop - start, dtype=np.int32), lengths[start:stop])
        ones = np.ones(len(keys), dtype=np.float32)
        # COO → CSC counts the pairs in linear time and sums repeats into tf (sorted rows).
        matrix = sparse.coo_matrix((ones, (rows, keys)), shape=(stop - start, n_vocab)).tocsc()
        matrix.sum_duplicates()
        return matrix

    df = np.zeros(n_vocab, dtype=np.int64)
    for start in starts:
        df += np.diff(counts(start).indptr)
    kept = df <= pruned_df(n_docs)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(np.where(kept, df, 0), out=indptr[1:])
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    mean_length = lengths.mean() if n_docs else 1.0
    # The posting lists go to scratch files: their pages are written back, not held.
    data = scratch((int(indptr[-1]),), np.float32, None)
    indices = scratch((int(indptr[-1]),), np.int32, None)
    free = indptr[:-1].copy()  # each column's next free entry
    for start in starts:
        matrix = counts(start)
        per_key = np.where(kept, np.diff(matrix.indptr), 0)
        entries = kept[np.repeat(np.arange(n_vocab, dtype=np.int32), np.diff(matrix.indptr))]
        tf, rows = matrix.data[entries], matrix.indices[entries].astype(np.int64) + start
        del matrix, entries
        cols = np.repeat(np.arange(n_vocab, dtype=np.int32), per_key)
        first = np.cumsum(per_key) - per_key  # each column's first entry in this block
        at = np.repeat(free - first, per_key) + np.arange(len(cols), dtype=np.int64)
        norm = k1 * (1.0 - b + b * lengths[rows] / mean_length)
        data[at] = (idf[cols] * tf / (tf + norm)).astype(np.float32)
        indices[at] = rows
        free += per_key
    return data, indices, indptr, df


def term_counts(
    flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray, keys: np.ndarray
) -> np.ndarray:
    """counts[i, j]: how often key ``keys[j]`` (sorted, distinct) is in passage ``rows[i]``,
    counted from the passages' own keys (``flat[offsets[r]:offsets[r + 1]]``): no posting
    list is walked, so a common key costs no more than a rare one."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    if not len(keys) or not lengths.sum():
        return np.zeros((len(rows), len(keys)), dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    found = flat[shift + np.arange(int(lengths.sum()))]
    owner = np.repeat(np.arange(len(rows)), lengths)
    # Key number → column through a lookup table: one gather, no search per key.
    column = np.full(max(int(keys[-1]), int(found.max())) + 1, -1, dtype=np.int64)
    column[keys] = np.arange(len(keys))
    col = column[found]
    hit = col >= 0
    counts = np.bincount(owner[hit] * len(keys) + col[hit], minlength=len(rows) * len(keys))
    return counts.reshape(len(rows), len(keys))


def scores(
    counts: np.ndarray, norm: np.ndarray, idf: np.ndarray, repeats: np.ndarray
) -> np.ndarray:
    """Each row's BM25 score from its key ``counts``, its length norm
    (``k1 * (1 - b + b * |d| / avgdl)``), the keys' ``idf`` and how often the question has
    each key; per key in float32, as the matrix holds them."""
    tf = counts.astype(np.float64)
    each = (idf * tf / (tf + norm[:, None])).astype(np.float32)
    return (each @ repeats.astype(np.float32)).astype(np.float64)
