"""The BM25 leg: ranking, scores, coverage, incremental updates and persistence."""

from __future__ import annotations

import math
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qabot.arabic import index_keys
from qabot.errors import IndexError_
from qabot.index import lexical
from qabot.index.lexical import DEFAULT_B, DEFAULT_K1, FILE_NAME, LexicalIndex

CORPUS: dict[int, str] = {
    101: "تأسست منظمة التعاون الإسلامي عام 1969 وتضم 57 دولة.",
    202: "يعقد وزير الخارجية الروسي سيرغي لافروف اجتماعا في موسكو مع الأمين العام.",
    303: "استضافت مدينة قازان القمة الاقتصادية الدولية «روسيا - العالم الإسلامي».",
    404: "ولد نجيب محفوظ في القاهرة وحصل على جائزة نوبل في الأدب عام 1988.",
    505: "كرة القدم هي الرياضة الأكثر شعبية في مصر والمغرب.",
}


@pytest.fixture()
def index() -> LexicalIndex:
    return LexicalIndex.build(list(CORPUS), list(CORPUS.values()))


def search(index: LexicalIndex, question: str, k: int) -> list[tuple[int, float]]:
    """Up to ``k`` (id, BM25 score) pairs with a positive score, best first."""
    return index.query(question, k).hits


def scores(index: LexicalIndex, question: str, ids: list[int]) -> np.ndarray:
    return index.query(question, 0).scores(ids)


def coverage(index: LexicalIndex, question: str, id: int) -> float:
    return float(index.query(question, 0).coverage([id])[0])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("متى تأسست منظمة المؤتمر الإسلامي؟", 101),
        ("أين اجتمع لافروف مع الأمين العام؟", 202),
        ("ما هي المدينة التي استضافت القمة الاقتصادية؟", 303),
        ("متى حصل نجيب محفوظ على جائزة نوبل؟", 404),
        ("ما هي الرياضة الأكثر شعبيةً في مِصر؟", 505),
    ],
)
def test_right_passage_wins(index: LexicalIndex, question: str, expected: int) -> None:
    hits = search(index, question, 3)
    assert hits[0][0] == expected
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)


def test_search_limits_and_misses(index: LexicalIndex) -> None:
    assert len(index) == 5
    assert len(search(index, "الإسلامي روسيا عام", 2)) == 2
    assert search(index, "الإسلامي", 0) == []
    assert search(index, "ما هو؟", 5) == []  # stopwords only
    assert search(index, "xylophone قطار", 5) == []  # unknown terms only
    # Only matching passages come back, never zero-score filler.
    assert {i for i, _ in search(index, "لافروف", 5)} == {202}


def test_scores_for_candidates(index: LexicalIndex) -> None:
    question = "أين اجتمع لافروف مع الأمين العام؟"
    hits = dict(search(index, question, 5))
    got = scores(index, question, [505, 202, 999])
    assert got.shape == (3,)
    assert got[2] == 0.0  # unknown id
    assert got[0] < got[1] / 4  # shares only a common trigram or two
    assert got[1] == pytest.approx(hits[202])


def test_empty_index() -> None:
    empty = LexicalIndex.build([], [])
    assert len(empty) == 0
    assert search(empty, "منظمة التعاون", 5) == []
    assert scores(empty, "منظمة", [1, 2]).tolist() == [0.0, 0.0]
    assert coverage(empty, "منظمة", 1) == 0.0
    only_stopwords = LexicalIndex.build([1], ["في من إلى"])
    assert search(only_stopwords, "في", 5) == []


def test_coverage(index: LexicalIndex) -> None:
    assert coverage(index, "متى تأسست منظمة التعاون الإسلامي؟", 101) == 1.0
    assert coverage(index, "منظمة التعاون الإسلامي", 505) == 0.0
    partial = coverage(index, "متى تأسست منظمة الأمم المتحدة؟", 101)
    assert 0.0 < partial < 1.0
    # An absent rare word outweighs a present common one.
    assert coverage(index, "الإسلامي زنجبيل", 101) < 0.5
    assert coverage(index, "ما هو؟", 101) == 0.0
    assert coverage(index, "منظمة", 999) == 0.0
    for pid in CORPUS:
        for q in ["روسيا والعالم الإسلامي", "جائزة نوبل في الأدب", "xyz"]:
            assert 0.0 <= coverage(index, q, pid) <= 1.0


def reference_coverage(index: LexicalIndex, query: str, id: int) -> float:
    """Coverage by its definition, from the passage's stored keys (no posting lists)."""
    if id not in index.ids.tolist():
        return 0.0
    keys = set(index.terms_of(id))
    groups = index.weighted_groups(query)
    total = sum(w for _, w in groups)
    found = sum(w for group, w in groups if any(t in keys for t in group))
    return min(1.0, found / total) if total > 0 else 0.0


def test_query_gives_hits_scores_and_coverage_of_any_passage(index: LexicalIndex) -> None:
    """One analysis serves the retriever's three needs, each as its definition says."""
    ids = [*CORPUS, 999]
    for q in ["متى تأسست منظمة الأمم المتحدة؟", "الإسلامي زنجبيل", "ما هو؟", "xyz"]:
        found = index.query(q, len(ids))
        expected_hits = {i: s for i, s in reference_bm25(index, q).items() if s > 0}
        assert dict(found.hits) == pytest.approx(expected_hits)
        assert [s for _, s in found.hits] == sorted((s for _, s in found.hits), reverse=True)
        assert found.groups == index.weighted_groups(q)
        hit_scores = dict(found.hits)  # every passage with a positive score is a hit here
        assert found.scores(ids).tolist() == pytest.approx([hit_scores.get(i, 0.0) for i in ids])
        expected = [reference_coverage(index, q, i) for i in ids]
        assert found.coverage(ids).tolist() == pytest.approx(expected)
    assert LexicalIndex.build([], []).query("منظمة", 3).coverage([1]).tolist() == [0.0]


def test_coverage_survives_updates_and_reloading(index: LexicalIndex, tmp_path: Path) -> None:
    """The posting lists behind coverage are rebuilt with the index, never left stale."""
    q = "متى تأسست منظمة الأمم المتحدة؟"
    grown = index.updated(add_ids=[777], add_texts=["تأسست منظمة الأمم المتحدة عام 1945."])
    assert coverage(grown, q, 777) == 1.0
    shrunk = grown.updated(remove=[777, 101])
    assert coverage(shrunk, q, 777) == 0.0 and coverage(shrunk, q, 101) == 0.0
    shrunk.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    ids = [*CORPUS, 777]
    assert loaded.query(q, 3).coverage(ids).tolist() == shrunk.query(q, 3).coverage(ids).tolist()


def test_coverage_accepts_either_stem() -> None:
    idx = LexicalIndex.build([1, 2], ["قرأت الكتاب", "مدرسة"])
    # "كتابهم" (their book): light stem كتابهم (no -هم rule), Snowball stem كتاب.
    assert "كتابهم" not in idx.terms_of(1)
    assert coverage(idx, "كتابهم", 1) == 1.0
    assert coverage(idx, "كتابهم", 2) == 0.0


def test_terms_of_and_build_from_terms(index: LexicalIndex) -> None:
    assert index.terms_of(404) == index_keys(CORPUS[404])
    with pytest.raises(KeyError):
        index.terms_of(999)
    rebuilt = LexicalIndex.build_from_terms(list(CORPUS), [index.terms_of(i) for i in CORPUS])
    q = "منظمة التعاون الإسلامي في قازان"
    assert search(rebuilt, q, 5) == search(index, q, 5)


def test_updated_matches_fresh_build(index: LexicalIndex) -> None:
    new = {606: "أعلنت منظمة الصحة العالمية انتهاء الجائحة.", 202: "لافروف يزور القاهرة."}
    updated = index.updated(remove=[505], add_ids=list(new), add_texts=list(new.values()))
    expected = {k: v for k, v in CORPUS.items() if k != 505} | new
    fresh = LexicalIndex.build(list(expected), list(expected.values()))
    assert sorted(updated.ids.tolist()) == sorted(expected)
    for q in ["منظمة الصحة", "لافروف في القاهرة", "كرة القدم", "جائزة نوبل"]:
        assert dict(search(updated, q, 10)) == pytest.approx(dict(search(fresh, q, 10)))
    assert updated.terms_of(202) == index_keys(new[202])
    assert len(index) == 5  # the original is untouched


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        LexicalIndex.build([1, 1], ["أ", "ب"])
    with pytest.raises(ValueError):
        LexicalIndex.build([1, 2], ["نص"])


def reference_bm25(index: LexicalIndex, query: str) -> dict[int, float]:
    """BM25, Lucene variant, by its definition from the passages' stored keys (no matrix):
    score(d) = sum over the query's keys t of idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl)),
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))."""
    docs = {i: Counter(index.terms_of(i)) for i in index.ids.tolist()}
    n = len(docs)
    avgdl = sum(sum(tf.values()) for tf in docs.values()) / n
    out = {}
    for i, tf in docs.items():
        norm = DEFAULT_K1 * (1 - DEFAULT_B + DEFAULT_B * sum(tf.values()) / avgdl)
        score = 0.0
        for key in index_keys(query):  # a key the question repeats counts again
            if key in tf:
                df = sum(1 for other in docs.values() if key in other)
                score += math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf[key] / (tf[key] + norm)
        out[i] = score
    return out


def test_scores_follow_the_bm25_definition(index: LexicalIndex) -> None:
    """The vectorised matrix gives what the formula gives, passage by passage."""
    ids = list(CORPUS)
    for query in ["منظمة التعاون الإسلامي", "لافروف موسكو", "عام 1969 1988", "الإسلامي الإسلامي"]:
        expected = reference_bm25(index, query)
        assert any(expected.values())
        got = scores(index, query, ids)
        np.testing.assert_allclose(got, [expected[i] for i in ids], rtol=1e-5)


@pytest.mark.parametrize("postings", ["stored", "made on load"])
def test_save_load_round_trip(
    index: LexicalIndex, tmp_path: Path, postings: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if postings == "stored":  # as a large index keeps them, to be memory-mapped
        monkeypatch.setattr(lexical, "DERIVED_KEYS", 0)
    path = index.save(tmp_path)
    members = {n.removesuffix(".npy") for n in zipfile.ZipFile(path).namelist()}
    assert ("data" in members) == ("indices" in members) == (postings == "stored")
    assert path == tmp_path / FILE_NAME
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temp file left over
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == len(index)
    assert loaded.ids.tolist() == index.ids.tolist()
    for q in ["منظمة التعاون الإسلامي", "لافروف في موسكو", "نجيب محفوظ نوبل", "قطار"]:
        assert search(loaded, q, 5) == search(index, q, 5)
        ids = list(CORPUS)
        np.testing.assert_array_equal(scores(loaded, q, ids), scores(index, q, ids))
        assert coverage(loaded, q, 101) == coverage(index, q, 101)
    assert loaded.terms_of(303) == index.terms_of(303)
    # Key numbers and posting rows are stored in the smallest type that holds them (one byte
    # here), and an index read that way is updated like a built one.
    assert loaded._flat.dtype == np.uint8
    assert loaded._indices.dtype == (np.uint8 if postings == "stored" else np.int32)
    grown = loaded.updated(add_ids=[777], add_texts=["قطار سريع إلى قازان"])
    assert search(grown, "قطار قازان", 1)[0][0] == 777
    # Saving again overwrites the file.
    loaded.save(tmp_path)
    assert search(LexicalIndex.load(tmp_path), "قازان", 1)[0][0] == 303


def test_empty_index_round_trip(tmp_path: Path) -> None:
    LexicalIndex.build([], []).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 0
    assert search(loaded, "منظمة", 3) == []


def test_missing_file_raises_index_error(tmp_path: Path) -> None:
    with pytest.raises(IndexError_, match="not found"):
        LexicalIndex.load(tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b"not a zip file at all",
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b"",
        lambda b: b[:100] + bytes(200) + b[300:],  # zeroed in the middle
    ],
)
def test_corrupt_file_raises_index_error(
    index: LexicalIndex, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    path = index.save(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IndexError_, match="corrupt") as err:
        LexicalIndex.load(tmp_path)
    assert err.value.hint  # tells the user what to do


def test_inconsistent_arrays_raise_index_error(index: LexicalIndex, tmp_path: Path) -> None:
    path = index.save(tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["flat"] = arrays["flat"][:-3]  # offsets no longer match
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(IndexError_, match="offsets"):
        LexicalIndex.load(tmp_path)


def test_stale_analysis_version_raises_index_error(
    index: LexicalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.save(tmp_path)
    monkeypatch.setattr("qabot.index.lexical.ANALYSIS_VERSION", 999)
    with pytest.raises(IndexError_, match="analysis version"):
        LexicalIndex.load(tmp_path)
