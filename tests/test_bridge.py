"""The English→Arabic word bridge: its vocabulary, its file, and how English questions use it."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import HashEncoder

from qabot import bridge as bridge_module
from qabot.arabic import normalize
from qabot.bridge import (
    FILE_NAME,
    VOCABULARY,
    Bridge,
    arabic_vocabulary,
    english_words,
    load_bridge,
    update_bridge,
)
from qabot.config import Settings
from qabot.fusion import FusionWeights, confidence_of
from qabot.index import build_index
from qabot.index.lexical import LexicalIndex
from qabot.index.store import open_store
from qabot.retriever import Retriever

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"


class Counting(HashEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        return super().encode_queries(texts)


def test_vocabulary_is_content_words_in_their_commonest_spelling() -> None:
    texts = ["المدرسةُ في المدينة", "المدرسة كبيرة", "في المدرسة والمدينة", "school 2020"]
    assert arabic_vocabulary(texts) == ["المدرسة", "المدينة", "كبيرة", "والمدينة"]
    assert arabic_vocabulary(texts, min_count=2) == ["المدرسة"]  # «في» is a stopword


def test_words_are_counted_and_normalised_as_one_by_one() -> None:
    """A block of texts read as one string, and the spellings normalised in one call, give
    what each text and each word alone give: presentation forms and ligatures that NFKC
    expands, marks, a final sigma, words at a text's edge."""
    words = ["ﷺ", "ﻻ", "ﺍﻟﻤﺪﻳﻨﺔ", "أَحْمَد", "إسلام", "ـمدينةـ", "ΟΔΟΣ", "Σ", "ΣΑ", "İstanbul",
             "Straße", "ﬁne", "ﻷ", "ـ", "٣", "x\u0301", "ﭼ", "ي\u0654"]  # fmt: skip
    assert bridge_module._normalized(words) == [normalize(w) for w in words]
    texts = [" ".join(words[i:] + words[:i]) + "ُ" for i in range(len(words))] + ["", "ُ"]
    texts += texts[3:6] + texts[4:5]  # repeated texts
    one_by_one: Counter[str] = Counter()
    for text in texts:
        one_by_one += bridge_module.word_counts([text])
    counted = bridge_module.word_counts(texts)
    assert counted == one_by_one and list(counted) == list(bridge_module.word_counts(texts[:1]))


def test_english_words_are_the_latin_content_words() -> None:
    assert english_words("When was the OIC founded? متى تأسست؟ In 1969, founded.") == [
        "oic",
        "founded",
    ]


def test_nearest_keeps_k_words_above_the_threshold() -> None:
    vectors = np.eye(4, dtype=np.float32)
    bridge = Bridge("m", ["أ", "ب", "ج", "د"], vectors)
    query = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 0.6, 0.8]], dtype=np.float32)
    assert bridge.nearest(query, 1, 0.5) == ["أ", "د"]
    assert bridge.nearest(query, 2, 0.5) == ["أ", "د", "ج"]
    assert bridge.nearest(query, 2, 0.7) == ["أ", "د"]
    assert bridge.nearest(query[:0], 2, 0.0) == []


def test_update_embeds_only_new_words_and_keeps_the_model(tmp_path: Path) -> None:
    enc = Counting()
    update_bridge(tmp_path, ["الحرب السلام"], enc, changed=True)
    assert sorted(enc.encoded) == ["الحرب", "السلام"]
    update_bridge(tmp_path, ["الحرب السلام"], enc, changed=False)
    assert len(enc.encoded) == 2  # unchanged and present: not rewritten
    update_bridge(tmp_path, ["الحرب الحرب القمة"], enc, changed=True)
    assert enc.encoded[2:] == ["القمة"]
    bridge = load_bridge(tmp_path, enc)
    assert bridge is not None and bridge.words == ["الحرب", "القمة"]
    np.testing.assert_allclose(
        bridge.vectors.astype(np.float32), enc.encode_queries(bridge.words), atol=1e-3
    )
    assert load_bridge(tmp_path, HashEncoder(model_id="another-model")) is None
    Bridge.build(["الحرب الحرب القمة"], enc, bridge, min_count=2).save(tmp_path / FILE_NAME)
    before = len(enc.encoded)
    update_bridge(tmp_path, ["الحرب الحرب القمة"], enc, changed=False)  # chosen otherwise
    rebuilt = load_bridge(tmp_path, enc)
    assert rebuilt is not None and rebuilt.words == ["الحرب", "القمة"]
    assert enc.encoded[before:] == ["القمة"]  # rebuilt, reusing the vector it had
    (tmp_path / FILE_NAME).write_bytes(b"not a bridge")
    assert load_bridge(tmp_path, enc) is None  # damaged: English falls back to dense alone


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("bridge")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings(articles_dir=root / "articles", index_dir=root / "index")
    build_index(settings, encoder=HashEncoder())
    return settings


def test_the_build_writes_the_bridge_of_the_articles(settings: Settings) -> None:
    bridge = load_bridge(settings.index_dir, HashEncoder())
    assert bridge is not None and {"منظمة", "التعاون", "روسيا"} <= set(bridge.words)


def test_an_english_question_searches_bm25_with_its_bridged_words(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake encoder has no meaning, so the bridge here holds one word whose vector is
    "founded"'s: the English question must then be ranked with BM25 on «تأسست»."""
    enc = HashEncoder()
    Bridge(enc.model_id, ["تأسست"], enc.encode_queries(["founded"])).save(
        settings.index_dir / FILE_NAME
    )
    weights = FusionWeights(bridge_lexical=0.9, bridge_coverage=0.0)
    retriever = Retriever(open_store(settings), enc, settings, weights)
    asked: list[tuple[str, int]] = []
    query = LexicalIndex.query

    def spy(self: LexicalIndex, text: str, k: int) -> Any:
        asked.append((text, k))
        return query(self, text, k)

    monkeypatch.setattr(LexicalIndex, "query", spy)
    question = "When was the Organisation founded?"
    hybrid = retriever.search(question, k=3)
    assert asked == [("تأسست", weights.candidates)]
    assert "تأسست" in hybrid[0].text  # BM25 decides at this weight
    dense = {p.id: p for p in retriever.search(question, k=len(retriever), mode="dense")}
    assert [p.id for p in hybrid] != sorted(dense, key=lambda i: -dense[i].score)[:3]
    for p in hybrid:  # still judged by the English (dense-only) calibration
        assert p.confidence == confidence_of(dense[p.id].score, 0.0, False, weights)
    asked.clear()
    retriever.search("When was the Organisation set up?", k=3)  # no bridged word: dense only
    assert asked == [("When was the Organisation set up?", 0)]


def test_real_model_bridges_english_words_to_their_arabic_translations(
    encoder: Any, tmp_path: Path
) -> None:
    update_bridge(tmp_path, [SEED.read_text(encoding="utf-8")], encoder, changed=True)
    bridge = load_bridge(tmp_path, encoder)
    assert bridge is not None
    w = FusionWeights()
    for english, arabic in (("Russia", "روسيا"), ("cooperation", "التعاون"), ("summit", "قمة")):
        words = bridge.arabic_query(english, encoder, w.bridge_words, w.bridge_threshold)
        assert arabic in words.split(), (english, words)


def test_saved_vectors_are_bytes_read_back_within_half_a_step_and_never_rounded_twice(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(200, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = [f"كلمة{chr(0x0628 + i % 20)}{i}" for i in range(200)]
    Bridge("m", words, vectors, VOCABULARY).save(tmp_path / FILE_NAME)
    loaded = Bridge.load(tmp_path / FILE_NAME)
    assert loaded.words == words and loaded.vocabulary == VOCABULARY
    step = np.abs(vectors).max(axis=1, keepdims=True) / 127  # each row over its largest value
    error = np.abs(loaded.vectors.astype(np.float32) - vectors)
    assert (error <= step / 2 + 1e-3).all() and error.max() > 1e-3  # bytes, not float16
    assert (tmp_path / FILE_NAME).stat().st_size < 200 * 64 * 2  # under float16 alone
    loaded.save(tmp_path / "again.npz")
    again = Bridge.load(tmp_path / "again.npz")
    np.testing.assert_array_equal(again.vectors, loaded.vectors)
    # A bridge written before (float16 vectors, a word array) is still read.
    buffer = io.BytesIO()
    meta = np.frombuffer(json.dumps({"model": "m", "vocabulary": VOCABULARY}).encode(), np.uint8)
    np.savez(buffer, meta=meta, words=np.array(words), vectors=vectors.astype(np.float16))
    (tmp_path / "old.npz").write_bytes(buffer.getvalue())
    old = Bridge.load(tmp_path / "old.npz")
    assert old.words == words
    np.testing.assert_array_equal(old.vectors, vectors.astype(np.float16))


def test_an_edit_updates_the_word_counts_as_a_full_count_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each edit counts only the texts it removes and adds; the words and counts are a full
    count's, and a bridge written by a build that never committed is counted again."""
    from qabot.chunking import paragraph_chunks
    from qabot.index import FileStore, index_chunks

    words = ["المدرسة", "المدينة", "الحرب", "السلام", "القمة", "الجامعة", "المكتبة", "الحديقة"]

    def chunks(texts: dict[int, str]) -> list:
        return [
            c
            for i, t in texts.items()
            for c in paragraph_chunks(f"a{i}#1", t, 400, len, article=f"a{i}", paragraph=1)
        ]

    counted: list[int] = []
    count = bridge_module.word_counts

    def spy(texts: Any) -> Any:
        texts = list(texts)
        counted.append(len(texts))
        return count(texts)

    monkeypatch.setattr(bridge_module, "word_counts", spy)
    texts = {i: f"{words[i % 8]} {words[(i * 3) % 8]} رقم {i}" for i in range(40)}
    store, enc = FileStore(tmp_path / "index"), HashEncoder()
    index_chunks(chunks(texts), store, enc)
    assert counted == [40]
    for i in range(3):
        del texts[i]
        texts[100 + i] = f"{words[i]} جديدة {i}"
        texts[10] = f"{words[i + 4]} معدلة"
        counted.clear()
        index_chunks(chunks(texts), store, enc)
        assert sorted(counted) == [2, 2]  # removed (1 + edited), added (1 + edited)
        kept = load_bridge(store.folder, enc)
        assert kept is not None and kept.counts == count(c.match_text for c in chunks(texts))
        assert kept.words == arabic_vocabulary([c.match_text for c in chunks(texts)])
    # A build killed between its bridge and its commit: the bridge is ahead of the index.
    ahead = chunks({**texts, 200: "كلمة لم تلتزم"})
    update_bridge(store.folder, bridge_module.TextChanges(
        lambda: (c.match_text for c in ahead), [], ["كلمة لم تلتزم"], kept.source, "other"
    ), enc, changed=True)  # fmt: skip
    counted.clear()
    texts[11] = "تعديل أخير"
    index_chunks(chunks(texts), store, enc)
    assert counted == [len(texts)]  # counted again from every text
    rebuilt = load_bridge(store.folder, enc)
    assert rebuilt is not None and rebuilt.counts == count(c.match_text for c in chunks(texts))
