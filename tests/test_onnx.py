"""The ONNX Runtime backend gives torch's vectors, and its export is made and healed like the
conversion (real model: the export is made here through the normal load path if missing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qabot.config import Settings
from qabot.encoder import OnnxEncoder, SentenceTransformerEncoder
from qabot.index import build_index
from qabot.model import load_encoder
from qabot.model.export import MARKER, ONNX_FILE, export_onnx, is_exported, onnx_dir
from qabot.model.load import model_dir
from qabot.retriever import Retriever

pytestmark = pytest.mark.slow

MIN_COSINE = 0.9999
LONG_AR = "أعلنت وزارة الخارجية الروسية أن الوزير سيرغي لافروف التقى في موسكو الأمين العام. "
TEXTS = [
    "ما هي عاصمة مصر؟",
    "What is the capital of Egypt?",
    "متى هبط أول إنسان على سطح القمر؟",
    "Lavrov met OIC Secretary-General Hissein Brahim Taha in Moscow on 24 October 2022.",
    LONG_AR * 3,
    "Mixed: وزير الخارجية Sergey Lavrov زار Moscow في 2022 " * 5,
    LONG_AR * 40,  # > 512 tokens: truncated, as sentence-transformers truncates
    "x",
]


@pytest.fixture(scope="module")
def onnx_encoder() -> OnnxEncoder:
    encoder = load_encoder(Settings(backend="onnx"))
    assert isinstance(encoder, OnnxEncoder)
    return encoder


@pytest.fixture(scope="module")
def torch_encoder() -> SentenceTransformerEncoder:
    encoder = load_encoder(Settings(backend="torch"))
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape and a.dtype == np.float32
    return np.einsum("ij,ij->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("kind", ["queries", "passages"])
def test_single_texts_agree_with_torch(
    kind: str, onnx_encoder: OnnxEncoder, torch_encoder: SentenceTransformerEncoder
) -> None:
    for text in TEXTS:
        got = getattr(onnx_encoder, f"encode_{kind}")([text])
        want = getattr(torch_encoder, f"encode_{kind}")([text])
        assert _cosines(got, want)[0] >= MIN_COSINE, text
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["queries", "passages"])
def test_padded_batches_agree_with_torch_and_with_single_texts(
    kind: str, onnx_encoder: OnnxEncoder, torch_encoder: SentenceTransformerEncoder
) -> None:
    """Mixed lengths in one batch: the short texts are padded, and the mask must hide it."""
    tokens, onnx_encoder.batch_tokens = onnx_encoder.batch_tokens, 1 << 20
    try:  # one batch, padded to the longest text
        batch = getattr(onnx_encoder, f"encode_{kind}")(TEXTS)
    finally:
        onnx_encoder.batch_tokens = tokens
    single = np.concatenate([getattr(onnx_encoder, f"encode_{kind}")([t]) for t in TEXTS])
    want = getattr(torch_encoder, f"encode_{kind}")(TEXTS)
    assert _cosines(batch, want).min() >= MIN_COSINE
    assert _cosines(batch, single).min() >= MIN_COSINE
    # the order of the output is the order of the input, whatever the batching sorted
    assert np.argmax(batch @ want.T, axis=1).tolist() == list(range(len(TEXTS)))


def test_tokens_prompts_and_model_id_are_torch_s(
    onnx_encoder: OnnxEncoder, torch_encoder: SentenceTransformerEncoder
) -> None:
    assert [onnx_encoder.count_tokens(t) for t in TEXTS] == [
        torch_encoder.count_tokens(t) for t in TEXTS
    ]
    assert onnx_encoder.count_tokens(TEXTS[-2]) > 512  # counted whole, as chunking needs
    assert (onnx_encoder.query_prompt, onnx_encoder.passage_prompt) == ("", "passage: ")
    assert (onnx_encoder.model_id, onnx_encoder.dim) == (torch_encoder.model_id, 384)
    assert onnx_encoder.encode_queries([]).shape == (0, 384)


def test_an_index_built_with_torch_is_searched_with_onnx(
    seed_settings: Settings,
    tmp_path: Path,
    onnx_encoder: OnnxEncoder,
    torch_encoder: SentenceTransformerEncoder,
) -> None:
    settings = seed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    build_index(settings, encoder=torch_encoder)
    by_torch = Retriever.load(settings=settings, encoder=torch_encoder)
    by_onnx = Retriever.load(settings=settings, encoder=onnx_encoder)
    report = build_index(settings, encoder=onnx_encoder)
    assert report.embedded == 0 and report.reason is None  # same model id: nothing re-embedded
    question = "متى هبط أول إنسان على سطح القمر؟"
    want = [p.id for p in by_torch.search(question, k=3)]
    assert [p.id for p in by_onnx.search(question, k=3)] == want


def test_export_is_made_once_and_a_broken_one_is_made_again(
    onnx_encoder: OnnxEncoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = model_dir(Settings().cache_dir.expanduser().resolve())
    converted = model_dir(tmp_path)
    converted.parent.mkdir(parents=True)
    shutil.copytree(source, converted)
    shutil.copytree(onnx_dir(source), onnx_dir(converted))
    exported = onnx_dir(converted)
    assert is_exported(exported, converted)
    stamp = (exported / MARKER).stat().st_mtime_ns
    assert export_onnx(converted) == exported
    assert (exported / MARKER).stat().st_mtime_ns == stamp  # idempotent: not redone

    with (exported / ONNX_FILE).open("r+b") as fh:
        fh.write(b"\xff" * 64)  # garbage protobuf header, same size: the cheap check passes
    assert is_exported(exported, converted)
    healed = load_encoder(Settings(cache_dir=tmp_path, backend="onnx"))
    assert "making it again" in capsys.readouterr().err
    text = [TEXTS[1]]
    assert _cosines(healed.encode_queries(text), onnx_encoder.encode_queries(text))[0] > 0.99999
    marker = json.loads((exported / MARKER).read_text(encoding="utf-8"))
    assert marker["check_cosine"] >= MIN_COSINE
    assert [p.name for p in exported.parent.iterdir() if ".tmp-" in p.name] == []

    with (exported / ONNX_FILE).open("r+b") as fh:
        fh.truncate(1000)
    assert not is_exported(exported, converted)  # a truncated export is seen without loading
    (converted / "qabot-conversion.json").write_text("{}", encoding="utf-8")
    assert not is_exported(exported, converted)  # nor does it outlive its source
