"""A build whose memory grows slowly with the corpus: blocks, spill files, streamed writes."""

from __future__ import annotations

import numpy as np
import pytest

from qabot.index import bm25


@pytest.mark.parametrize("block", [1, 3, 64, 1 << 16])
def test_score_matrix_built_in_blocks_is_the_one_built_at_once(block: int) -> None:
    rng = np.random.default_rng(block)
    lengths = rng.integers(0, 40, 500)
    lengths[[0, 7]] = 0  # passages without keys, one at a block's start
    flat = (rng.zipf(1.4, int(lengths.sum())) % 300).astype(np.int32)
    n_vocab = 310  # ten keys no passage has
    at_once = bm25.score_matrix(flat, lengths, n_vocab, 1.2, 0.9, block=len(lengths))
    blocked = bm25.score_matrix(flat, lengths, n_vocab, 1.2, 0.9, block=block)
    for whole, part in zip(at_once, blocked, strict=True):
        assert whole.dtype == part.dtype
        np.testing.assert_array_equal(whole, part)


def test_blocks_prune_the_keys_common_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bm25, "MIN_PRUNED_DF", 50)
    lengths = np.full(200, 3)
    # key 0 in every passage (pruned: df 200 > 50); key 1 in 40, spread over the blocks
    flat = np.array([[0, 1 if i % 5 == 0 else 2 + i, 0] for i in range(200)], np.int32).ravel()
    data, indices, indptr, df = bm25.score_matrix(flat, lengths, 202, 1.2, 0.9, block=16)
    assert df[0] == 200 and indptr[1] == indptr[0]  # no posting list for key 0
    assert df[1] == 40
    np.testing.assert_array_equal(indices[indptr[1] : indptr[2]], np.arange(0, 200, 5))
    assert len(data) == indptr[-1] == 40 + 160
