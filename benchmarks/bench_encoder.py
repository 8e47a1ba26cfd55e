"""The ONNX Runtime backend against torch, side by side in one run (issue 12).

    python benchmarks/bench_encoder.py [FILE.retrieval.json] [--queries 200] [--limit N]
        [--onnx-batch-tokens 1024] [--baseline SRC --rounds 2] [--json PATH]

- question encoding, one question at a time: torch p50/p95 and ONNX p50/p95, the two backends
  interleaved question by question so load changes hit both alike;
- ``Retriever.search`` (k=3) p50/p95 on the ONNX backend, next to torch's bare encode;
- the index build of the file (passages + sentences, ``index_chunks`` end to end) on torch and
  on ONNX, with ``QABOT_BATCH_SIZE`` (``Settings().batch_size``);
- the build's embedding alone: torch in the order the build used before issue 12 (slices of
  8 batches in file order, sorted only within each slice), torch and ONNX longest-first over
  all texts (the build's order now), and ONNX with ``--onnx-batch-tokens`` tokens per call
  (``encoder.BATCH_TOKENS`` otherwise).

``--limit N`` takes the first N passages (and their sentences), for a quick look. Builds and
embeddings also report process CPU seconds (``build_cpu_s``, ``embed_cpu_s``), steadier than
wall seconds on a shared machine.

``--baseline SRC`` compares two qabot source trees (e.g. ``git archive <commit> src | tar -x -C
/tmp/base``): the whole measurement runs ``--rounds`` times per tree, each run in its own
process, the trees taking turns (baseline, this, baseline, this…); the JSON holds every run and
each tree's ``search_over_torch_encode_p50`` per round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qabot.arabic import split_sentences
from qabot.config import Settings
from qabot.encoder import Encoder
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.index import FileStore, index_chunks
from qabot.model import load_encoder
from qabot.retriever import Retriever

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = Path(__file__).resolve().parent / "results"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clocked(fn: Callable[[], Any], cpu: dict[str, float], name: str) -> float:
    """Wall seconds of ``fn``; its process CPU seconds go to ``cpu[name]``."""
    start = time.process_time()
    wall = timed(fn)
    cpu[name] = round(time.process_time() - start, 2)
    return wall


def embed_file_order(encoder: Encoder, texts: list[str], step: int) -> None:
    """The build's embedding before issue 12: slices in file order."""
    for i in range(0, len(texts), step):
        encoder.encode_passages(texts[i : i + step])


def embed_longest_first(encoder: Encoder, texts: list[str], step: int) -> None:
    """The build's embedding now (index/build.py `_embed`): longest first over all texts."""
    ordered = sorted(texts, key=len, reverse=True)
    for i in range(0, len(ordered), step):
        encoder.encode_passages(ordered[i : i + step])


def say(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def compare(args: argparse.Namespace, options: list[str]) -> None:
    """Run the measurement on this tree and on ``args.baseline``, in turns, each in a process."""
    this = Path(__file__).resolve().parents[1] / "src"
    arms = {"baseline": args.baseline.resolve(), "this": this}
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for arm, src in arms.items():
                out = Path(tmp) / f"{arm}-{r}.json"
                env = os.environ | {"PYTHONPATH": str(src)}
                say(f"round {r + 1}: {arm} ({src})")
                subprocess.run(
                    [sys.executable, __file__, *options, "--json", str(out)],
                    env=env, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                runs[arm].append(json.loads(out.read_text(encoding="utf-8")))
    result = {
        "arms": {arm: str(src) for arm, src in arms.items()},
        "rounds": args.rounds,
        "search_over_torch_encode_p50": {
            arm: [run["search_over_torch_encode_p50"] for run in rs] for arm, rs in runs.items()
        },
        "onnx_encode_p50_ms": {
            arm: [run["query_ms"]["onnx"]["p50"] for run in rs] for arm, rs in runs.items()
        },
        "search_p50_ms": {
            arm: [run["query_ms"]["search"]["p50"] for run in rs] for arm, rs in runs.items()
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ARCD))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--limit", type=int, default=0, help="first N passages only (0: all)")
    ap.add_argument("--onnx-batch-tokens", type=int, default=1024)
    ap.add_argument("--json", type=Path, help="default: results/bench_encoder[-compare].json")
    ap.add_argument("--baseline", type=Path, help="another qabot src folder, run in turns")
    ap.add_argument("--rounds", type=int, default=2, help="runs per tree with --baseline")
    ap.add_argument(
        "--questions-only", action="store_true",
        help="skip the torch build and the embedding timings (questions and search only)",
    )  # fmt: skip
    args = ap.parse_args()
    name = "bench_encoder-compare.json" if args.baseline else "bench_encoder.json"
    args.json = args.json or RESULTS / name
    if args.baseline:
        options = [args.file, "--queries", str(args.queries), "--limit", str(args.limit)]
        options += ["--questions-only"] if args.questions_only else []
        compare(args, [*options, "--onnx-batch-tokens", str(args.onnx_batch_tokens)])
        return
    settings = Settings()
    batch = settings.batch_size
    torch_enc = load_encoder(settings.model_copy(update={"backend": "torch"}))
    onnx_enc = load_encoder(settings.model_copy(update={"backend": "onnx"}))
    say("encoders loaded")
    data = load_eval_set(Path(args.file))
    chunks = eval_chunks(data, settings.max_chunk_tokens, onnx_enc.count_tokens)
    if args.limit:
        chunks = chunks[: args.limit]
    passages = [c.match_text for c in chunks]
    sentences = list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
    texts = passages + sentences
    for enc in (torch_enc, onnx_enc):
        enc.encode_queries(["warm up"])
        enc.encode_passages(passages[:batch])
    load_before = os.getloadavg()
    say(f"{len(passages)} passages, {len(sentences)} sentences: building on each backend")

    with tempfile.TemporaryDirectory() as tmp:
        build: dict[str, float] = {}
        build_cpu: dict[str, float] = {}
        stores: dict[str, FileStore] = {}
        backends = (("onnx", onnx_enc),) if args.questions_only else (
            ("torch", torch_enc), ("onnx", onnx_enc))  # fmt: skip
        for name, enc in backends:
            store = stores[name] = FileStore(Path(tmp) / name)
            build[name] = clocked(
                lambda e=enc, s=store: index_chunks(chunks, s, e, batch=batch), build_cpu, name
            )
        say("embedding alone, four ways")
        embed_cpu: dict[str, float] = {}
        arms: dict[str, Callable[[], None]] = {
            "torch, file order (before)": lambda: embed_file_order(torch_enc, texts, batch * 8),
            "onnx, longest first": lambda: embed_longest_first(onnx_enc, texts, batch * 8),
            "torch, longest first": lambda: embed_longest_first(torch_enc, texts, batch * 8),
        }
        embed = {} if args.questions_only else {
            name: clocked(arm, embed_cpu, name) for name, arm in arms.items()}  # fmt: skip
        default_tokens, onnx_enc.batch_tokens = onnx_enc.batch_tokens, args.onnx_batch_tokens
        name = f"onnx, longest first, {args.onnx_batch_tokens} tokens a call"
        if not args.questions_only:
            embed[name] = clocked(
                lambda: embed_longest_first(onnx_enc, texts, batch * 8), embed_cpu, name
            )
        onnx_enc.batch_tokens = default_tokens

        say("questions")
        retriever = Retriever(stores["onnx"], onnx_enc, settings)
        retriever.search("warm up", k=3)
        questions = [q.question for q in data.questions[: args.queries]]
        ms: dict[str, list[float]] = {"torch": [], "onnx": [], "search": []}
        for q in questions:
            ms["torch"].append(timed(lambda q=q: torch_enc.encode_queries([q])) * 1000)
            ms["onnx"].append(timed(lambda q=q: onnx_enc.encode_queries([q])) * 1000)
            ms["search"].append(timed(lambda q=q: retriever.search(q, k=3)) * 1000)
    load_after = os.getloadavg()

    result = {
        "corpus": data.name,
        "passages": len(passages),
        "sentences": len(sentences),
        "batch_size": batch,
        "questions": len(questions),
        "query_ms": {k: {"p50": pct(v, 50), "p95": pct(v, 95)} for k, v in ms.items()},
        "search_over_torch_encode_p50": round(pct(ms["search"], 50) / pct(ms["torch"], 50), 3),
        "build_s": {k: round(v, 2) for k, v in build.items()},
        "build_speedup": round(build["torch"] / build["onnx"], 2) if "torch" in build else None,
        "build_cpu_s": build_cpu,
        "embed_s": {k: round(v, 2) for k, v in embed.items()},
        "embed_cpu_s": embed_cpu,
        "embed_texts_per_s": {k: round(len(texts) / v, 1) for k, v in embed.items()},
        "load_average": {"before": load_before, "after": load_after},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
