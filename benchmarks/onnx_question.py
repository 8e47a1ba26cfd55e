"""One question through ONNX Runtime: where its milliseconds go, and which session options cut
them without costing the build (issue 12, wave 8).

    .venv/bin/python benchmarks/onnx_question.py [--queries 200] [--arms shipped,spin-stop]
        [--start 100 --count 40] [--rounds 2] [--json PATH]

Every arm is the shipped ``OnnxEncoder`` with its session swapped for one made from the same
model file with other options, or from the transformer optimiser's fusions of it (with the
fused export shipped since wave 8, "fused" arms fuse an already fused graph). Reported:

- ``question_ms``: wall ms of ``encode_queries([q])`` for ARCD questions, the arms taking turns
  question by question so load changes hit all alike (p50/p95);
- ``question_cpu_ms``: process CPU ms a question, per arm in a block of questions 5 ms apart,
  so threads left spinning between calls (what a bot waiting for its next question pays)
  are counted;
- ``build``: CPU and wall seconds of ``encode_passages`` on a slice of ARCD's passages and
  sentences (the build's embedding), arms taking turns for ``--rounds`` rounds;
- ``min_cosine``: each arm's vectors against the shipped arm's, questions and slice;
- ``parts_ms``: the shipped arm's question split into tokenising (``encode_batch`` of one
  text, as the encoder does, against ``encode``), the session's run, and the encoder's own
  Python work around the run (padding, pooling, normalising: the run stubbed out).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from qabot.arabic import split_sentences
from qabot.config import Settings
from qabot.encoder import OnnxEncoder
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.model import load_encoder

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = Path(__file__).resolve().parent / "results" / "onnx_question.json"

#: Session config entries: threads sleep when idle (shipped), or spin within a run and stop
#: when it returns (``force_spinning_stop``), optionally with ONNX Runtime's dynamic blocks.
SLEEP = {"session.intra_op.allow_spinning": "0"}
SPIN_STOP = {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1"}
DYNAMIC = {**SPIN_STOP, "session.dynamic_block_base": "4"}
#: arm -> (session config entries, intra-op threads (0: ONNX Runtime's default), graph: the
#: export as it is, or the transformer optimiser's fusions, all or all but attention).
#: Spinning without the stop is left out: its threads spin on after a call, into the next
#: arm's call, so it cannot take turns with the others in one process.
ARMS: dict[str, tuple[dict[str, str], int, str]] = {
    "shipped": (SLEEP, 0, "export"),
    "one-thread": (SLEEP, 1, "export"),
    "spin-stop": (SPIN_STOP, 0, "export"),
    "fused": (SLEEP, 0, "fused"),
    "fused-no-attention": (SLEEP, 0, "fused-no-attention"),
    "fused-one-thread": (SLEEP, 1, "fused"),
    "fused-spin-stop": (SPIN_STOP, 0, "fused"),
    "fused-spin-stop-dynamic": (DYNAMIC, 0, "fused"),
}


def fuse(model: str, out: str, dim: int, attention: bool) -> None:
    """ONNX Runtime's transformer optimiser on the export (BERT fusions), saved to ``out``."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_attention = attention
    fused = optimizer.optimize_model(
        model, model_type="bert", num_heads=12, hidden_size=dim, optimization_options=options
    )
    fused.save_model_to_file(out)


def make_session(path: str, entries: dict[str, str], threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


class _Hidden:
    """A session stand-in that returns a fixed output at once: the encoder's own Python cost."""

    def __init__(self, hidden: np.ndarray) -> None:
        self.hidden = hidden

    def run(self, names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        width = feeds["input_ids"].shape[1]
        return [self.hidden[:, :width]]


def parts(enc: OnnxEncoder, questions: list[str]) -> dict[str, Any]:
    """The shipped question path taken apart: tokenising (``encode_batch`` of one text, as
    ``_ids`` does, and ``encode``), the session's run, the encoder's work around the run."""
    ms: dict[str, list[float]] = {"encode_batch": [], "encode": [], "run": [], "python": []}
    stub = copy.copy(enc)
    stub.session = _Hidden(np.random.default_rng(0).random((1, 512, enc.dim), np.float32))
    for q in questions:
        t0 = time.perf_counter()
        enc.tokenizer.encode_batch([q])
        t1 = time.perf_counter()
        enc.tokenizer.encode(q)
        t2 = time.perf_counter()
        ids = enc._ids([enc.query_prompt + q])[0]
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
        }
        t3 = time.perf_counter()
        enc.session.run(None, feeds)
        t4 = time.perf_counter()
        stub.encode_queries([q])
        t5 = time.perf_counter()
        for name, seconds in (
            ("encode_batch", t1 - t0), ("encode", t2 - t1), ("run", t4 - t3),
            ("python", t5 - t4),
        ):  # fmt: skip
            ms[name].append(seconds * 1000)
    out: dict[str, Any] = {k: pct(v, 50) for k, v in ms.items()}
    out["tokens_p50"] = int(np.median([len(enc._ids([q])[0]) for q in questions]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--arms", default=",".join(ARMS), help="comma-separated, of: " + ",".join(ARMS))
    ap.add_argument("--start", type=int, default=100, help="first passage of the build slice")
    ap.add_argument("--count", type=int, default=40, help="passages in the build slice")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    names = [a for a in args.arms.split(",") if a]
    if "shipped" not in names:
        names.insert(0, "shipped")
    shipped = load_encoder(Settings(backend="onnx"))
    assert isinstance(shipped, OnnxEncoder)
    data = load_eval_set(ARCD)
    questions = [q.question for q in data.questions[: args.queries]]
    chunks = eval_chunks(data, Settings().max_chunk_tokens, shipped.count_tokens)
    chunks = chunks[args.start : args.start + args.count]
    passages = [c.match_text for c in chunks]
    texts = passages + list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
    model_path = shipped.session._model_path

    with tempfile.TemporaryDirectory() as tmp:
        graphs = {"export": model_path}
        for graph in {ARMS[n][2] for n in names} - {"export"}:
            graphs[graph] = str(Path(tmp) / f"{graph}.onnx")
            fuse(model_path, graphs[graph], shipped.dim, attention=graph == "fused")
        operators = {g: len(onnx.load(path).graph.node) for g, path in graphs.items()}
        encoders: dict[str, OnnxEncoder] = {}
        start_s: dict[str, float] = {}
        for name in names:
            entries, threads, graph = ARMS[name]
            enc = copy.copy(shipped)
            started = time.perf_counter()
            enc.session = make_session(graphs[graph], entries, threads)
            start_s[name] = round(time.perf_counter() - started, 2)
            enc.encode_queries(["warm up"])
            enc.encode_passages(texts[:4])
            encoders[name] = enc
        load_before = os.getloadavg()

        wall: dict[str, list[float]] = {n: [] for n in names}
        for i, q in enumerate(questions):  # arms take turns, the first arm rotating
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                encoders[name].encode_queries([q])
                wall[name].append((time.perf_counter() - started) * 1000)

        cpu_ms: dict[str, float] = {}
        block = questions[:50]
        for name in names:
            enc, cpu = encoders[name], time.process_time()
            for q in block:
                enc.encode_queries([q])
                time.sleep(0.005)
            time.sleep(0.05)
            cpu_ms[name] = round((time.process_time() - cpu) * 1000 / len(block), 3)

        reference_q = shipped.encode_queries(questions)
        reference_t = shipped.encode_passages(texts)
        build: dict[str, dict[str, float]] = {}
        cosine: dict[str, float] = {}
        for _ in range(args.rounds):
            for name in names:
                enc = encoders[name]
                cpu, started = time.process_time(), time.perf_counter()
                vectors = enc.encode_passages(texts)
                row = build.setdefault(name, {"cpu_s": 0.0, "wall_s": 0.0})
                row["cpu_s"] += (time.process_time() - cpu) / args.rounds
                row["wall_s"] += (time.perf_counter() - started) / args.rounds
                q_vectors = enc.encode_queries(questions[:50])
                cosine[name] = round(
                    min(
                        float((vectors * reference_t).sum(axis=1).min()),
                        float((q_vectors * reference_q[:50]).sum(axis=1).min()),
                    ),
                    6,
                )
        breakdown = parts(shipped, questions)
    load_after = os.getloadavg()

    def per_arm(n: str) -> dict[str, Any]:
        return {
            "question_ms": {"p50": pct(wall[n], 50), "p95": pct(wall[n], 95)},
            "question_cpu_ms": cpu_ms[n],
            "build_cpu_s": round(build[n]["cpu_s"], 3),
            "build_wall_s": round(build[n]["wall_s"], 3),
            "min_cosine": cosine[n],
            "session_start_s": start_s[n],
        }

    record = {
        "questions": len(questions),
        "build_slice": {"passages": len(passages), "texts": len(texts), "rounds": args.rounds},
        "onnxruntime": ort.__version__,
        "model": model_path,
        "operators": operators,
        "load_average": {"before": load_before, "after": load_after},
        "arms": {n: per_arm(n) for n in names},
        "parts_ms": breakdown,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
