"""A build whose memory grows slowly with the corpus: blocks, spill files, streamed writes."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from qabot.index import LexicalIndex, bm25
from qabot.index.halfvectors import HalfIndex, HalfRows, code_bound, to_half
from qabot.index.spill import Spool, scratch, write_half_index


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


def test_streamed_half_index_file_is_faiss_own(tmp_path: Path) -> None:
    rows = to_half(np.random.default_rng(0).standard_normal((70_000, 8)).astype(np.float32))
    fp16, inner = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    stored = faiss.IndexScalarQuantizer(8, fp16, inner)
    stored.add(rows.astype(np.float32))
    faiss.write_index(stored, str(tmp_path / "faiss.index"))
    write_half_index(rows, tmp_path / "streamed.index")  # two steps of rows
    assert (tmp_path / "streamed.index").read_bytes() == (tmp_path / "faiss.index").read_bytes()
    mapped = HalfIndex.load(tmp_path / "streamed.index", 8, 70_000)
    np.testing.assert_array_equal(mapped.get(np.array([0, 69_999])), rows[[0, 69_999]])


def test_streamed_byte_codes_file_is_faiss_own(tmp_path: Path) -> None:
    """Sentence vectors as bytes stream to the file a step at a time (never every code in
    memory), and the file is what FAISS writes for an index that added them all."""
    rows = to_half(np.random.default_rng(1).standard_normal((70_000, 8)).astype(np.float32) / 5)
    bytes8, inner = faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    stored = faiss.IndexScalarQuantizer(8, bytes8, inner)
    bound = np.full(8, code_bound(8), dtype=np.float32)
    faiss.copy_array_to_vector(np.concatenate((-bound, 2 * bound)), stored.sq.trained)
    stored.is_trained = True
    stored.add(rows.astype(np.float32))
    faiss.write_index(stored, str(tmp_path / "faiss.index"))
    HalfIndex.save(HalfRows(rows), tmp_path / "streamed.index")  # two steps of rows
    assert (tmp_path / "streamed.index").read_bytes() == (tmp_path / "faiss.index").read_bytes()


def test_scratch_arrays_live_in_a_nameless_file(tmp_path: Path) -> None:
    array = scratch((1000, 16), np.float16, tmp_path / "index")
    assert isinstance(array, np.memmap) and not array.any()
    array[3] = 1.5
    assert array[3].sum() == 24 and list((tmp_path / "index").iterdir()) == []
    assert scratch((0, 16), np.float16, None).shape == (0, 16)


def test_a_spool_maps_back_what_was_written_and_appended() -> None:
    spool = Spool()
    spool.write(np.array([7, 8], np.uint16))
    spool.numbers.extend(range(10))
    spool.flush_if_full(limit=5)  # 10 > 5: to the file
    spool.numbers.append(-3)
    mapped = spool.mapped()
    np.testing.assert_array_equal(mapped, [7, 8, *range(10), -3])
    assert mapped.dtype == np.int32
    assert len(Spool().mapped()) == 0


def test_an_updated_index_renumbers_its_mapped_keys() -> None:
    index = LexicalIndex.build([1, 2, 3], ["القاهرة عاصمة مصر", "بغداد عاصمة العراق", "نهر النيل"])
    updated = index.updated(remove=[1], add_ids=[4], add_texts=["دمشق عاصمة سوريا"])
    fresh = LexicalIndex.build([2, 3, 4], ["بغداد عاصمة العراق", "نهر النيل", "دمشق عاصمة سوريا"])
    assert isinstance(updated._flat, np.memmap)
    assert len(updated._vocab) < len(set(index._vocab) | set(fresh._vocab))  # keys dropped
    assert sorted(updated._vocab) == sorted(fresh._vocab)
    for question in ["ما عاصمة سوريا؟", "أين يجري نهر النيل؟"]:
        assert updated.query(question, 3).hits == fresh.query(question, 3).hits
