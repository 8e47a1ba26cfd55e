"""Scale: the approximate vector index past a threshold, and BM25 without huge posting lists."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from fakes import HashEncoder

from qabot.chunking import paragraph_chunks
from qabot.config import Settings
from qabot.index import FaissIndex, FileStore, LexicalIndex, bm25, index_chunks, lexical, npz
from qabot.index import vectors as vectors_module
from qabot.index.halfvectors import HalfIndex, HalfRows, to_half
from qabot.retriever import Retriever

DIM = 32


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 20 centres, like embeddings of a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM))
    vectors = centres[rng.integers(0, 20, n)] + 0.4 * rng.standard_normal((n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def recall10(index: FaissIndex, ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T
    found = [{i for i, _ in index.search(q, 10)} for q in queries]
    shared = [len(set(ids[e].tolist()) & f) / 10 for e, f in zip(exact, found, strict=True)]
    return float(np.mean(shared))


def test_below_the_threshold_the_index_stays_exact() -> None:
    index = FaissIndex(DIM, ann_threshold=1000)
    vectors = clustered(1000)
    index.add(np.arange(1000), vectors)
    assert not index.approximate
    assert isinstance(index._index, faiss.IndexIDMap2)
    assert recall10(index, np.arange(1000), vectors, clustered(50, seed=1)) == 1.0


def test_crossing_the_threshold_switches_to_ivf_with_high_recall(tmp_path: Path) -> None:
    vectors = clustered(3000)
    ids = np.arange(3000, dtype=np.int64) * 7 + 5  # ids unrelated to positions
    index = FaissIndex(DIM, ann_threshold=2000)
    index.add(ids[:1500], vectors[:1500])
    assert not index.approximate
    index.add(ids[1500:], vectors[1500:])  # crosses the threshold: retrained as IVF
    assert index.approximate and len(index) == 3000
    assert sorted(index.ids().tolist()) == ids.tolist()
    np.testing.assert_array_equal(index.get(ids[[0, 2999]]), vectors[[0, 2999]])
    queries = clustered(100, seed=2)
    assert recall10(index, ids, vectors, queries) >= 0.98

    # Incremental edits work on the lists in place: remove, then add again.
    assert index.remove(ids[:100]) == 100
    assert len(index) == 2900
    assert all(i not in ids[:100] for q in queries[:20] for i, _ in index.search(q, 10))
    index.add(ids[:100], vectors[:100])
    assert recall10(index, ids, vectors, queries) >= 0.98

    # Saved and loaded as it is, with its search settings.
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss", DIM)
    assert loaded.approximate and loaded._index.nprobe == index._index.nprobe
    assert [loaded.search(q, 10) for q in queries[:5]] == [index.search(q, 10) for q in queries[:5]]


def test_build_and_edits_through_the_store_with_an_approximate_index(tmp_path: Path) -> None:
    """index_chunks and the retriever work unchanged over IVF (threshold set low)."""
    words = ["مدينة", "قطار", "مطار", "جامعة", "مستشفى", "ملعب", "متحف", "سوق", "مكتبة", "حديقة"]
    texts = [f"{words[i % 10]} رقم {i} في {words[(i * 3) % 10]} الكبير." for i in range(400)]

    def chunks(n: int) -> list:
        return [
            c
            for i, text in enumerate(texts[:n])
            for c in paragraph_chunks(f"a{i}#1", text, 400, len, article=f"a{i}", paragraph=1)
        ]

    store = FileStore(tmp_path / "index", ann_threshold=200)
    encoder = HashEncoder()
    index_chunks(chunks(300), store, encoder)
    snap = store.load()
    assert snap.passages.approximate  # type: ignore[attr-defined]
    # Sentence vectors are stored once per distinct text in bytes (index/halfvectors.py);
    # past the threshold no search runs over all of them: the sentences of the candidates
    # that the passage vectors and BM25 find are scored, nothing more.
    assert isinstance(snap.sentence_vectors, HalfIndex)
    question = encoder.encode_queries([texts[10]])[0]
    assert snap.sentence_passages(question, 10) == []
    before = snap.sentence_vectors.get(snap.sentence_vectors.ids())
    report = index_chunks(chunks(400)[50:], store, encoder)  # 50 removed, 100 added
    assert (report.added, report.removed) == (100, 50)
    snap = store.load()
    assert len(snap.passages) == 350
    # The reused sentence vectors are the stored ones, bit for bit (no rounding twice).
    kept = snap.sentence_vectors.get(snap.sentence_vectors.ids())
    assert {r.tobytes() for r in before[50:300]} <= {r.tobytes() for r in kept}
    retriever = Retriever(store, encoder, Settings(index_dir=tmp_path / "index"))
    assert retriever.search(texts[360], k=1)[0].id == "a360#1"


@pytest.fixture()
def pruning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune keys found in more than 30 % of the passages, whatever the corpus size."""
    monkeypatch.setattr(bm25, "MIN_PRUNED_DF", 1)
    monkeypatch.setattr(bm25, "MAX_DF_SHARE", 0.3)


def corpus() -> tuple[list[int], list[str]]:
    common = "أعلنت الحكومة اليوم في بيان رسمي"
    rare = ["زلزال", "انتخابات", "فيضان", "مهرجان", "بطولة", "معرض", "قمة", "اتفاق"]
    texts = [f"{common} عن {rare[i % 8]} في المدينة رقم {i}" for i in range(40)]
    return list(range(100, 140)), texts


def test_common_keys_keep_no_posting_list_but_candidates_score_exactly(pruning: None) -> None:
    ids, texts = corpus()
    pruned = LexicalIndex.build(ids, texts)
    bm25.MIN_PRUNED_DF = 10**9  # the same corpus, nothing pruned
    full = LexicalIndex.build(ids, texts)
    common = pruned._key_id["#_ال"]
    assert pruned._df[common] == 40 and pruned._indptr[common + 1] == pruned._indptr[common]
    assert full._indptr[common + 1] - full._indptr[common] == 40
    assert len(pruned._data) < len(full._data) / 2
    for question in ["متى أعلنت الحكومة عن الزلزال في المدينة؟", "بيان رسمي عن الفيضان"]:
        a, b = pruned.query(question, 5), full.query(question, 5)
        np.testing.assert_allclose(a.scores(ids), b.scores(ids), rtol=1e-6)
        np.testing.assert_array_equal(a.coverage(ids), b.coverage(ids))
        # The top hits still come through the rare word's posting list, scored exactly.
        assert [i for i, _ in a.hits] == [i for i, _ in b.hits]
        assert [s for _, s in a.hits] == pytest.approx([s for _, s in b.hits], rel=1e-6)


@pytest.mark.parametrize("size", ["large", "small"])
def test_pruned_index_survives_save_and_load(
    pruning: None, tmp_path: Path, size: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if size == "large":  # saved as a large index is: posting lists kept, arrays mapped
        monkeypatch.setattr(lexical, "DERIVED_KEYS", 0)
        monkeypatch.setattr(npz, "MAP_FROM", 0)
    ids, texts = corpus()
    index = LexicalIndex.build(ids, texts)
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    # Large: mapped, not read. Small: read whole, the posting lists made again (pruned too).
    assert isinstance(loaded._flat.base, np.memmap) == (size == "large")
    np.testing.assert_array_equal(loaded._indptr, index._indptr)
    question = "متى أعلنت الحكومة عن الزلزال؟"
    assert loaded.query(question, 5).hits == index.query(question, 5).hits
    np.testing.assert_array_equal(
        loaded.query(question, 0).coverage(ids), index.query(question, 0).coverage(ids)
    )


def test_below_the_threshold_every_sentence_is_searched(tmp_path: Path) -> None:
    texts = [f"جملة رقم {i} عن موضوع {i % 7}. وجملة ثانية {i * 3} هنا." for i in range(60)]
    chunks = [
        c
        for i, text in enumerate(texts)
        for c in paragraph_chunks(f"a{i}#1", text, 400, len, article=f"a{i}", paragraph=1)
    ]
    store = FileStore(tmp_path / "index", ann_threshold=1000)
    encoder = HashEncoder()
    index_chunks(chunks, store, encoder)
    snap = store.load()
    assert not snap.passages.approximate  # type: ignore[attr-defined]
    hits = snap.sentence_passages(encoder.encode_queries(["جملة رقم 17 عن موضوع 3."])[0], 5)
    assert hits[0] == chunks[17].key and len(hits) == 5


def test_float16_rows_round_exactly_as_faiss_stores_them() -> None:
    vectors = clustered(2000) * 0.37  # off the unit sphere: more values fall between halves
    stored = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_fp16)
    stored.add(vectors)
    half = to_half(vectors)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half.astype(np.float32), stored.reconstruct_n(0, 2000))
    rows = HalfRows(half)
    np.testing.assert_array_equal(rows.get(np.array([5, 1999])), half[[5, 1999]].astype(np.float32))
    assert rows.search(vectors[42] / 0.37, 1)[0][0] == 42


def exact_top(index: FaissIndex, query: np.ndarray, k: int = 10) -> list[int]:
    return [i for i, _ in index.search(query, k)]


@pytest.mark.parametrize("share", [1.0, 0.0])
def test_edits_past_the_threshold_match_exact_search(
    tmp_path: Path, share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Add, update and remove past a lowered threshold: the approximate index returns what
    exact search over the same edits returns; a removed or replaced vector never comes back.
    With the removed codes kept as tombstones (share 1.0) and rebuilt away (0.0)."""
    monkeypatch.setattr(vectors_module, "TOMBSTONE_SHARE", share)
    vectors = clustered(2400, seed=3)
    ids = np.arange(2400, dtype=np.int64) * 11 + 2
    approximate, exact = FaissIndex(DIM, ann_threshold=500), FaissIndex(DIM, ann_threshold=10**6)
    for index in (approximate, exact):
        index.add(ids[:2000], vectors[:2000])
    assert approximate.approximate and approximate._rows is not None
    removed, updated, added = ids[:150], ids[150:250], ids[2000:]
    fresh = clustered(100, seed=4)  # the updated passages' new vectors
    for index in (approximate, exact):
        assert index.remove(removed) == 150
        index.remove(updated)
        index.add(updated, fresh)
        index.add(added, vectors[2000:])
    assert len(approximate) == len(exact) == 2250
    assert approximate._index.ntotal == (2500 if share else 2250)  # tombstones, or none
    assert sorted(approximate.ids().tolist()) == sorted(exact.ids().tolist())
    np.testing.assert_array_equal(approximate.get(updated[:3]), fresh[:3])
    np.testing.assert_array_equal(approximate.get(added[-2:]), vectors[-2:])
    with pytest.raises(KeyError):
        approximate.get(removed[:1])
    # Queries that would find the removed and replaced vectors first if edits were ignored.
    queries = np.concatenate((vectors[:150:5], vectors[150:250:5], fresh[::5], vectors[2000::20]))
    loaded = tmp_path / "v.faiss"
    approximate.save(loaded)
    reread = FaissIndex.load(loaded, DIM)
    assert isinstance(reread._rows.rows, np.memmap)  # type: ignore[union-attr]
    for index in (approximate, reread):
        found = [exact_top(index, q) for q in queries]
        expected = [exact_top(exact, q) for q in queries]
        shared = [len(set(f) & set(e)) / 10 for f, e in zip(found, expected, strict=True)]
        assert np.mean(shared) >= 0.98
        assert not {i for f in found for i in f} & set(removed.tolist())
        # an updated passage is found by its new vector, with its new score
        for row, key in enumerate(updated[::5]):
            best, score = index.search(fresh[row * 5], 1)[0]
            assert best == key and score == pytest.approx(1.0, abs=1e-5)
        # scores are exact inner products, not code estimates
        hits = index.search(queries[-1], 10)
        assert [s for _, s in hits] == pytest.approx([s for _, s in exact.search(queries[-1], 10)])
    # Saved with a removal pending (rows not copied yet), read back without those rows.
    reread.remove(added[:5])
    reread.save(tmp_path / "w.faiss")
    again = FaissIndex.load(tmp_path / "w.faiss", DIM)
    assert len(again) == 2245 and not set(again.ids().tolist()) & set(added[:5].tolist())
    np.testing.assert_array_equal(again.get(added[5:8]), vectors[2005:2008])
    np.testing.assert_array_equal(again.get(updated[:3]), fresh[:3])


def test_an_older_ivf_flat_index_is_read_and_rewritten_with_exact_rows(tmp_path: Path) -> None:
    vectors = clustered(3000, seed=5)
    ids = np.arange(3000, dtype=np.int64) * 3
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 64, faiss.METRIC_INNER_PRODUCT)
    old.set_direct_map_type(faiss.DirectMap.Hashtable)
    old.train(vectors)
    old.add_with_ids(vectors, ids)
    old.nprobe = 32
    faiss.write_index(old, str(tmp_path / "old.faiss"))
    index = FaissIndex.load(tmp_path / "old.faiss", DIM)
    assert index.approximate and index._rows is None
    queries = clustered(50, seed=6)
    assert recall10(index, ids, vectors, queries) >= 0.98
    assert index.remove(ids[:10]) == 10
    index.save(tmp_path / "new.faiss")
    new = FaissIndex.load(tmp_path / "new.faiss", DIM)
    assert isinstance(new._index, faiss.IndexIVFPQFastScan) and new._rows is not None
    assert len(new) == 2990 and not set(new.ids().tolist()) & set(ids[:10].tolist())
    assert recall10(new, ids[10:], vectors[10:], queries) >= 0.98
