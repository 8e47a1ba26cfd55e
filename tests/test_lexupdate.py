"""An incremental edit merges the BM25 posting lists into the rebuilt matrix, bit for bit."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEncoder

from qabot.chunking import paragraph_chunks
from qabot.index import FileStore, LexicalIndex, bm25, index_chunks, lexical, lexupdate

WORDS = ["مدينة", "قطار", "مطار", "جامعة", "مستشفى", "ملعب", "متحف", "سوق", "مكتبة", "حديقة",
         "الحكومة", "أعلنت", "زلزال", "انتخابات"]  # fmt: skip
MATRIX = ("_data", "_indices", "_indptr", "_df")


@pytest.fixture()
def pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune keys found in more than 30 % of the passages, whatever the corpus size, so that
    small edits move keys across the threshold both ways."""
    monkeypatch.setattr(bm25, "MIN_PRUNED_DF", 1)
    monkeypatch.setattr(bm25, "MAX_DF_SHARE", 0.3)


def text(rng: random.Random) -> str:
    """Zipf-like: the first words are common, so their keys sit near the pruning threshold."""
    words = WORDS[: rng.randint(2, len(WORDS))]
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 15)))


def rebuilt(index: LexicalIndex) -> LexicalIndex:
    """The same keys, with the matrix built from them from scratch."""
    return LexicalIndex(index._ids, index._vocab, np.asarray(index._flat), index._offsets)


def listed(index: LexicalIndex) -> set[str]:
    """The keys that have a posting list (not pruned)."""
    return {index._vocab[k] for k in np.flatnonzero(np.diff(index._indptr) == index._df)}


def test_merged_posting_lists_are_the_rebuilt_ones_bit_for_bit(pruning: None) -> None:
    rng = random.Random(0)
    texts = {i: text(rng) for i in range(200)}
    index = LexicalIndex.build(list(texts), list(texts.values()))
    first = LexicalIndex.build([], []).updated(add_ids=list(texts), add_texts=list(texts.values()))
    for name in MATRIX:  # a first build merges into an empty index
        assert (
            np.asarray(getattr(first, name)).tobytes() == np.asarray(getattr(index, name)).tobytes()
        )
    pruned_then_listed = listed_then_pruned = 0
    for step in range(40):
        remove = rng.sample(sorted(texts), rng.randint(0, 6))
        # Common words come in, then go: their keys cross the threshold up, then down.
        words = WORDS[:3] if step < 20 else WORDS[6:]
        new_texts = [" ".join(rng.choices(words, k=5)) for _ in range(rng.randint(0, 8))]
        add = {rng.randint(0, 400): t for t in new_texts}
        for key in remove:
            del texts[key]
        texts |= add
        new = index.updated(remove=remove, add_ids=list(add), add_texts=list(add.values()))
        fresh = rebuilt(new)
        for name in MATRIX:
            got, want = np.asarray(getattr(new, name)), np.asarray(getattr(fresh, name))
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
        assert sorted(new.ids.tolist()) == sorted(texts)
        before, after = listed(index), listed(new)
        pruned_then_listed += len((after - before) & set(index._vocab))
        listed_then_pruned += len(before - after)
        index = new
    # The run crossed the threshold both ways, so both paths of the merge were checked.
    assert pruned_then_listed > 0 and listed_then_pruned > 0


def test_scores_that_are_not_term_counts_are_rebuilt_instead(pruning: None) -> None:
    texts = {i: text(random.Random(i)) for i in range(50)}
    index = LexicalIndex.build(list(texts), list(texts.values()))
    index._data = index._data * np.float32(1.1)  # not what this code computes
    assert lexupdate.merge(index, [3], [], []).matrix is None
    new = index.updated(remove=[3])
    for name in MATRIX:
        np.testing.assert_array_equal(getattr(new, name), getattr(rebuilt(new), name))


def test_an_edited_store_searches_as_a_full_build(
    pruning: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the store, with the posting lists saved (as a large index keeps them): the
    incremental index's BM25 hits are the full build's, passage for passage."""
    monkeypatch.setattr(lexical, "DERIVED_KEYS", 0)
    rng = random.Random(1)

    def chunks(texts: dict[int, str]) -> list:
        return [
            c
            for i, t in texts.items()
            for c in paragraph_chunks(f"a{i}#1", t, 400, len, article=f"a{i}", paragraph=1)
        ]

    texts = {i: text(rng) for i in range(120)}
    encoder = HashEncoder()
    inc = FileStore(tmp_path / "inc")
    index_chunks(chunks(texts), inc, encoder)
    for _ in range(4):
        for key in rng.sample(sorted(texts), 3):
            del texts[key]
        texts |= {rng.randint(0, 300): text(rng) for _ in range(4)}
        index_chunks(chunks(texts), inc, encoder)
    full = FileStore(tmp_path / "full")
    index_chunks(chunks(texts), full, encoder, full=True)
    a, b = inc.load().lexical, full.load().lexical
    assert isinstance(a, LexicalIndex) and isinstance(b, LexicalIndex)
    saved = tmp_path / "inc" / str(inc.current_name()) / "lexical" / lexical.FILE_NAME
    assert "data.npy" in zipfile.ZipFile(saved).namelist()  # the merged lists were saved
    found = 0
    for question in [*WORDS, *(f"{x} {y}" for x, y in zip(WORDS, WORDS[3:], strict=False))]:
        hits_a, hits_b = dict(a.query(question, 500).hits), dict(b.query(question, 500).hits)
        assert hits_a.keys() == hits_b.keys()
        assert list(hits_a.values()) == pytest.approx([hits_b[k] for k in hits_a], rel=1e-6)
        found += len(hits_a)
    assert found > 100
