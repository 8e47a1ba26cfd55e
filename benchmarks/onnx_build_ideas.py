"""Ideas for a faster ONNX build, measured in process CPU seconds (robust to load) and wall
seconds: ONNX Runtime's intra-op threads against calls side by side, the token budget of a
call, and ONNX Runtime's transformer optimiser (fused attention and layer norms). Every arm is
the shipped ``OnnxEncoder`` with one thing changed, and is checked against the shipped
encoding (min cosine). The texts are ARCD passages ``--start``…``--start + --count`` (or every
``--every``-th passage) and their distinct sentences, embedded as a build embeds them.

    .venv/bin/python benchmarks/onnx_build_ideas.py [--start 100 --count 40 | --every 8]
        [--rounds 2] [--json PATH]

Wave 4 found nothing that helped at batches of 1,024 tokens and more; wave 6 shipped 256
tokens a call; wave 7 (this version) runs the calls side by side, one per core, each on one
intra-op thread (benchmarks/README.md, "ONNX build, wave 7").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from qabot.config import Settings
from qabot.encoder import OnnxEncoder
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.index.build import split_all
from qabot.index.reuse import embed_all
from qabot.index.snapshot import sentence_layout
from qabot.model import load_encoder

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def session(path: str, threads: int = 0) -> ort.InferenceSession:
    """A session as ``model.load`` makes one, with ``threads`` intra-op threads (0: ORT's
    default, one per core)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def variant(
    enc: OnnxEncoder, sess: ort.InferenceSession | None = None, **changes: int
) -> OnnxEncoder:
    """``enc`` with another session and/or ``workers`` / ``batch_tokens``."""
    out = copy.copy(enc)
    out.session = sess or enc.session
    for name, value in changes.items():
        setattr(out, name, value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--every", type=int, default=0, help="every N-th passage instead")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" /
                    "onnx_build_ideas.json")  # fmt: skip
    args = ap.parse_args()
    settings = Settings()
    enc = load_encoder(settings)
    assert isinstance(enc, OnnxEncoder)
    chunks = eval_chunks(load_eval_set(ARCD), settings.max_chunk_tokens, enc.count_tokens)
    chunks = chunks[:: args.every] if args.every else chunks[args.start : args.start + args.count]
    sentences, _ = sentence_layout(chunks, split_all(chunks))
    passages = [c.match_text for c in chunks]
    path = enc.session._model_path  # type: ignore[attr-defined]
    from onnxruntime.transformers import optimizer

    fused_path = str(Path(os.environ.get("TMPDIR", "/tmp")) / "qabot-onnx-fused.onnx")
    fused_model = optimizer.optimize_model(path, model_type="bert", num_heads=12,
                                           hidden_size=enc.dim)  # fmt: skip
    fused_model.save_model_to_file(fused_path)
    one_stream = session(path)  # wave 6: one call at a time, split over ORT's threads
    arms: dict[str, OnnxEncoder] = {
        f"shipped: {enc.workers} calls at once × 1 thread, {enc.batch_tokens} tokens": enc,
        "wave 6: 1 call at a time × ORT's default threads": variant(enc, one_stream, workers=1),
        "1 call at a time × 1 thread (one core)": variant(enc, workers=1),
        **{
            f"{enc.workers} calls at once, {b} tokens": variant(enc, batch_tokens=b)
            for b in (128, 512, 1024)
        },
        "transformer optimiser, shipped otherwise": variant(enc, session(fused_path, 1)),
    }

    def build_embedding(e: OnnxEncoder) -> Callable[[], np.ndarray]:
        return lambda: np.concatenate(
            [embed_all(e, texts, settings.batch_size, False, "") for texts in (passages, sentences)]
        )

    reference = build_embedding(enc)()
    result: dict[str, dict[str, float]] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):  # arms take turns
        for name, arm in arms.items():
            cpu, wall = time.process_time(), time.perf_counter()
            vectors = build_embedding(arm)()
            row = result.setdefault(name, {"cpu_s": 0.0, "wall_s": 0.0})
            row["cpu_s"] += (time.process_time() - cpu) / args.rounds
            row["wall_s"] += (time.perf_counter() - wall) / args.rounds
            row["min_cosine"] = round(float((vectors * reference).sum(axis=1).min()), 6)
            loads.append(os.getloadavg()[0])
            print(name, {k: round(v, 3) for k, v in row.items()}, loads[-1], flush=True)
    os.unlink(fused_path)
    record = {
        "passages": len(passages),
        "sentences": len(sentences),
        "slice": f"every {args.every}th" if args.every else f"{args.start}+{args.count}",
        "rounds": args.rounds,
        "load_average": [round(x, 1) for x in (min(loads), max(loads))],
        "arms": {k: {m: round(v, 3) for m, v in r.items()} for k, r in result.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
