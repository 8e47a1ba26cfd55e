"""The ONNX export of the converted model, made once beside it, for the ONNX Runtime backend.

sentence-transformers' own ``backend="onnx"`` loads through optimum-onnx, whose only release
(0.1.0) pins transformers < 4.58, while qabot runs on transformers 5. So the converted folder's
``BertModel`` is exported here with torch's TorchScript exporter, its operators fused by ONNX
Runtime's transformer optimiser (:func:`_fuse`), checked against torch on a padded batch, and
written like the conversion: a temp folder renamed into place under a file lock, a marker last.
Only this module imports torch, transformers and onnx for the export; the exported folder is
then run by :class:`qabot.encoder.OnnxEncoder` without torch.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import ModelError

from .convert import MARKER as CONVERSION_MARKER
from .convert import publish_under_lock

#: Bump when the export changes (exporter, fusions, inputs), so old exports are redone.
FORMAT_VERSION = 2  # 2: BERT fusions (attention, skip + layer norm, bias + GELU, embeddings)
MARKER = "qabot-onnx.json"
ONNX_FILE = "model.onnx"
OPSET = 17
#: The export is refused unless it reproduces torch's vectors this closely (cosine).
MIN_COSINE = 0.9999
#: Mixed lengths, so the traced graph is the padded (masked) one and the check covers padding.
_CHECK_TEXTS = ["passage: وزير الخارجية الروسي سيرغي لافروف في موسكو", "query: capital?"]


def onnx_dir(converted: Path) -> Path:
    """Where the export of the converted model ``converted`` lives: beside it. The format is in
    the name, so two qabot versions sharing a cache keep an export each instead of redoing
    each other's (format 1 lived in ``…-onnx``)."""
    return converted.with_name(f"{converted.name}-onnx{FORMAT_VERSION}")


def _fuse(raw: Path, out: Path, config: dict[str, Any]) -> dict[str, int]:
    """ONNX Runtime's BERT fusions of the export ``raw``, written to ``out``: ~100 operators
    instead of ~480 (one attention operator a layer, its three projections in one product).
    One question then costs 10-16 % less and the build's embedding the same, within noise
    (benchmarks/README.md, "ONNX question latency, wave 8"); the vectors are the same."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
    )
    model.save_model_to_file(str(out))
    return {k: v for k, v in model.get_fused_operator_statistics().items() if v}


def _source(converted: Path) -> dict[str, Any]:
    """What the export was made from: the converted folder's own marker."""
    marker = json.loads((converted / CONVERSION_MARKER).read_text(encoding="utf-8"))
    return {"format": marker["format"], "sha256": marker["sha256"]}


def is_exported(folder: Path, converted: Path) -> bool:
    """True if ``folder`` holds a finished export of ``converted`` as it is now (cheap: stats)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != FORMAT_VERSION or marker.get("source") != _source(converted):
            return False
        files = marker["files"]
        return bool(files) and all(
            (folder / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _export_into(converted: Path, folder: Path) -> None:
    """Export and check the model of ``converted`` into the (empty) ``folder``."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar for a local model
    try:
        model = AutoModel.from_pretrained(
            converted, attn_implementation="eager", local_files_only=True
        ).eval()
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(converted, local_files_only=True)
    batch = tokenizer(_CHECK_TEXTS, padding=True, return_tensors="pt")
    inputs = (batch["input_ids"], batch["attention_mask"])

    class Hidden(torch.nn.Module):
        """The model as a function of the two inputs ONNX Runtime gets."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state

    raw, path = folder / "torch-export.onnx", folder / ONNX_FILE
    axes = {0: "batch", 1: "tokens"}
    hidden = Hidden().eval()  # eval: no dropout (the exporter restores the mode it found)
    with torch.no_grad(), warnings.catch_warnings():
        expected = hidden(*inputs).numpy()
        warnings.simplefilter("ignore")  # tracer chatter about shape-derived Python values
        torch.onnx.export(
            hidden,
            inputs,
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    fusions = _fuse(raw, path, model.config.to_dict())
    raw.unlink()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": inputs[0].numpy(), "attention_mask": inputs[1].numpy()}
    got = session.run(None, feeds)[0]
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    a, b = ((x * mask).sum(1) for x in (expected, got))
    cosine = float(np.min((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
    if cosine < MIN_COSINE:
        raise ModelError(
            f"the ONNX export disagrees with torch (cosine {cosine:.6f} < {MIN_COSINE})",
            hint="set QABOT_BACKEND=torch",
        )
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    marker = {
        "format": FORMAT_VERSION,
        "source": _source(converted),
        "opset": OPSET,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "check_cosine": round(cosine, 7),
        "fusions": fusions,
        "files": files,
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def export_onnx(converted: Path, *, force: bool = False) -> Path:
    """Export the converted model in ``converted`` to ONNX beside it; return the export's folder.

    Idempotent, safe to interrupt and to run from two processes at once, as the conversion.
    """
    target = onnx_dir(converted)
    return publish_under_lock(
        target,
        complete=lambda: is_exported(target, converted),
        fill=lambda tmp: _export_into(converted, tmp),
        force=force,
        doing="exporting the model",
        what="the ONNX export",
    )
