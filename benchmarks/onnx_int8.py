"""One measurement: would a dynamically quantised (int8) ONNX export keep ARCD's R@1?

    python benchmarks/onnx_int8.py [FILE.retrieval.json] [--cache DIR]
        [--json benchmarks/results/onnx_int8.json]

The int8 model is ONNX Runtime's ``quantize_dynamic`` of the fp32 export (weights int8,
activations quantised per batch). It would ship only if hybrid R@1 dropped by at most 0.005
against the fp32 export (issue 12). ``--cache``: the fp32 eval index (as ``qabot eval
--cache``) to reuse; the int8 index is always built afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

from qabot.config import Settings
from qabot.encoder import OnnxEncoder
from qabot.evaluate import evaluate, load_eval_set
from qabot.model import load_encoder
from qabot.model.export import ONNX_FILE, onnx_dir
from qabot.model.load import model_dir

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", type=Path, default=ARCD)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=RESULTS / "onnx_int8.json")
    args = ap.parse_args()
    settings = Settings(backend="onnx")
    fp32 = load_encoder(settings)
    assert isinstance(fp32, OnnxEncoder)
    source = onnx_dir(model_dir(settings.cache_dir.expanduser().resolve())) / ONNX_FILE
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "model-int8.onnx"
        # The export is fused (com.microsoft operators that shape inference cannot type):
        # its tensors are float32, so say so.
        quantize_dynamic(
            source,
            int8_path,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        int8 = OnnxEncoder(
            ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"]),
            fp32.tokenizer,
            fp32.model_id + "+int8",
            dim=fp32.dim,
            prompts={"query": fp32.query_prompt, "passage": fp32.passage_prompt},
            max_length=fp32.max_length,
            batch_tokens=fp32.batch_tokens,
        )
        questions = [q.question for q in load_eval_set(args.file).questions[:200]]
        cos = np.einsum("ij,ij->i", fp32.encode_queries(questions), int8.encode_queries(questions))
        start = time.perf_counter()
        reports = {
            "fp32": evaluate(args.file, settings, fp32, cache=args.cache),
            "int8": evaluate(args.file, settings, int8),
        }
        seconds = time.perf_counter() - start
        size_mb = int8_path.stat().st_size / 1e6
    result = {
        "r1": {k: r.r1 for k, r in reports.items()},
        "r1_drop": round(reports["fp32"].r1 - reports["int8"].r1, 4),
        "mrr10": {k: r.mrr10 for k, r in reports.items()},
        "query_cosine_int8_vs_fp32": {
            "min": round(float(cos.min()), 4),
            "mean": round(float(cos.mean()), 4),
        },
        "int8_mb": round(size_mb, 1),
        "fp32_mb": round(source.stat().st_size / 1e6, 1),
        "ships": bool(reports["fp32"].r1 - reports["int8"].r1 <= 0.005),
        "seconds": round(seconds, 1),
        "load_average": os.getloadavg(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
