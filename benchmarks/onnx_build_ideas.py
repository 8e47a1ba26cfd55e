"""Ideas for a faster ONNX build, measured in process CPU seconds (robust to load): batches
by a token budget instead of a fixed count, and ONNX Runtime's transformer optimiser (fused
attention and layer norms). Each arm is checked against the shipped encoding (min cosine).

    .venv/bin/python benchmarks/onnx_build_ideas.py [--start 100 --count 60] [--rounds 2]
        [--json PATH]

Wave 4 found nothing that helped at batches of 1,024 tokens and more; wave 6 tried smaller
budgets: 256 tokens a call is what ``OnnxEncoder`` ships (benchmarks/README.md, "Build
speed, wave 6").
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort

from qabot.arabic import split_sentences
from qabot.config import Settings
from qabot.encoder import OnnxEncoder
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.model import load_encoder

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


@contextmanager
def budget(enc: OnnxEncoder, tokens: int) -> Iterator[None]:
    """``enc``'s own batching, with calls of up to ``tokens`` tokens meanwhile."""
    shipped, enc.batch_tokens = enc.batch_tokens, tokens
    try:
        yield
    finally:
        enc.batch_tokens = shipped


def encode_by_budget(enc: OnnxEncoder, texts: list[str], tokens: int) -> np.ndarray:
    """As ``OnnxEncoder.encode_passages``, but each batch holds up to ``tokens`` tokens."""
    with budget(enc, tokens):
        return enc.encode_passages(texts)


def encode_wave5(enc: OnnxEncoder, texts: list[str]) -> np.ndarray:
    """The wave-5 batching: at least 16 texts a call, more while short (16 × 64 tokens)."""
    out = np.zeros((len(texts), enc.dim), dtype=np.float32)
    ids = enc._ids([enc.passage_prompt + t for t in texts])
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    start = 0
    while start < len(order):
        width = len(ids[order[start]])
        rows = order[start : start + max(16, 16 * 64 // width)]
        start += len(rows)
        with budget(enc, 1 << 30):  # one call for these rows, as wave 5 made it
            out[rows] = enc.encode_passages([texts[i] for i in rows])
    return out


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" /
                    "onnx_build_ideas.json")  # fmt: skip
    args = ap.parse_args()
    enc = load_encoder(Settings())
    assert isinstance(enc, OnnxEncoder)
    chunks = eval_chunks(load_eval_set(ARCD), Settings().max_chunk_tokens, enc.count_tokens)
    chunks = chunks[args.start : args.start + args.count]
    passages = [c.match_text for c in chunks]
    texts = passages + list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
    reference = enc.encode_passages(texts)
    from onnxruntime.transformers import optimizer

    with tempfile.TemporaryDirectory() as tmp:
        fused_path = str(Path(tmp) / "fused.onnx")
        fused_model = optimizer.optimize_model(
            enc.session._model_path, model_type="bert", num_heads=12, hidden_size=enc.dim
        )
        fused_model.save_model_to_file(fused_path)
        shipped, fused = enc.session, session(fused_path)

        def with_session(s: ort.InferenceSession, fn: Callable[[], np.ndarray]) -> np.ndarray:
            enc.session = s
            try:
                return fn()
            finally:
                enc.session = shipped

        arms: dict[str, Callable[[], np.ndarray]] = {
            "at least 16 texts a call (wave 5)": lambda: encode_wave5(enc, texts),
            **{
                f"token budget {b}" + (" (shipped)" if b == enc.batch_tokens else ""):
                lambda b=b: encode_by_budget(enc, texts, b)
                for b in (128, 256, 512, 1024, 2048)
            },
            "transformer optimiser, shipped batching": lambda: with_session(
                fused, lambda: enc.encode_passages(texts)
            ),
        }
        result: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):  # arms take turns
            for name, arm in arms.items():
                cpu, wall = time.process_time(), time.perf_counter()
                vectors = arm()
                row = result.setdefault(name, {"cpu_s": 0.0, "wall_s": 0.0})
                row["cpu_s"] += (time.process_time() - cpu) / args.rounds
                row["wall_s"] += (time.perf_counter() - wall) / args.rounds
                row["min_cosine"] = round(float((vectors * reference).sum(axis=1).min()), 6)
    record = {
        "passages": len(passages),
        "texts": len(texts),
        "load_average": os.getloadavg()[0],
        "arms": {k: {m: round(v, 3) for m, v in r.items()} for k, r in result.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
