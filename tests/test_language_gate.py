"""The language gate, directly: which questions get BM25 and the Arabic calibration.

A mostly Arabic question is answered by fused dense + BM25 + coverage and calibrated with
``conf_arabic``; any other question by the dense leg alone (BM25 over Arabic keys cannot
match it) and calibrated with ``conf_other``, unless the index has an English→Arabic bridge
(tests/test_bridge.py; this index has none). The fast fake encoder is enough: the gate is
about which arithmetic runs, not about meaning.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fakes import HashEncoder

from qabot.arabic import is_mostly_arabic
from qabot.config import Settings
from qabot.fusion import FusionWeights, confidence_of
from qabot.index import build_index
from qabot.index.lexical import LexicalIndex
from qabot.index.store import open_store
from qabot.retriever import Retriever

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"
ARABIC = "متى تأسست منظمة التعاون الإسلامي؟"
ENGLISH = "When was the Organisation of Islamic Cooperation founded? منظمة التعاون"
#: Two calibrations far apart and unsaturated for the fake's small cosines, so which one
#: was used shows in every confidence.
WEIGHTS = FusionWeights(
    conf_arabic=(4.0, 1.0, -1.0), conf_other=(-3.0, 0.0, 1.0), conf_more_arabic=()
)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tmp_path_factory.mktemp("gate")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings(articles_dir=root / "articles", index_dir=root / "index")
    build_index(settings, encoder=HashEncoder())
    (root / "index" / "bridge.npz").unlink()  # no bridge: English by the dense leg alone
    return Retriever(open_store(settings), HashEncoder(), settings, WEIGHTS)


def test_half_arabic_letters_is_arabic_and_less_is_not() -> None:
    assert is_mostly_arabic("abcd ابجد")  # exactly half: Arabic
    assert not is_mostly_arabic("abcde ابجد")  # one Latin letter more: not
    assert is_mostly_arabic("abc ابجد 12345 ...")  # digits and punctuation are not letters
    assert not is_mostly_arabic("١٢٣ 123")  # Arabic-Indic digits are not letters either


def test_english_question_is_dense_only_with_the_other_calibration(retriever: Retriever) -> None:
    assert not is_mostly_arabic(ENGLISH)
    hybrid = retriever.search(ENGLISH, k=5)
    dense = retriever.search(ENGLISH, k=5, mode="dense")
    assert [p.id for p in hybrid] == [p.id for p in dense]
    assert [p.score for p in hybrid] == [p.score for p in dense]
    for p in hybrid:  # the score is the dense score; the confidence is conf_other's
        assert p.confidence == confidence_of(p.score, 0.0, False, WEIGHTS)
        assert abs(p.confidence - confidence_of(p.score, 0.0, True, WEIGHTS)) > 0.05


def test_arabic_question_is_fused_with_the_arabic_calibration(retriever: Retriever) -> None:
    hybrid = retriever.search(ARABIC, k=5)
    dense = retriever.search(ARABIC, k=5, mode="dense")
    assert [p.score for p in hybrid] != [p.score for p in dense]  # z-scored fusion, not dense
    by_id = {p.id: p for p in retriever.search(ARABIC, k=len(retriever), mode="dense")}
    vector = retriever.encoder.encode_queries([ARABIC])[0]
    found = retriever.candidates(ARABIC, vector)
    assert found is not None
    coverage = {
        retriever._snapshot.by_key[int(k)].id: float(c)
        for k, c in zip(found.keys, found.coverage, strict=True)
    }
    for p in hybrid:
        expected = confidence_of(by_id[p.id].score, coverage[p.id], True, WEIGHTS)
        assert p.confidence == expected
        assert abs(p.confidence - confidence_of(by_id[p.id].score, 0.0, False, WEIGHTS)) > 0.05


def test_bm25_is_not_even_consulted_for_a_non_arabic_question(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    query = LexicalIndex.query

    def spy(self: LexicalIndex, text: str, k: int) -> Any:
        asked.append(k)
        return query(self, text, k)

    monkeypatch.setattr(LexicalIndex, "query", spy)
    retriever.search(ENGLISH, k=3)
    assert asked == [0]  # coverage only, no BM25 hits pooled
    retriever.search(ARABIC, k=3)
    assert asked[1] > 0
