"""The ARCD index build on ONNX Runtime against torch, side by side in one run (issue 12).

    .venv/bin/python benchmarks/build_speed.py [--rounds 2] [--limit N] [--json PATH]

Each arm builds ARCD from scratch into its own folder with ``index_chunks`` end to end
(passages, sentences, BM25, the word bridge, writing), as ``qabot index`` does; the arms take
turns (torch, ONNX, torch, ONNX…) so load changes hit both alike. Reported per arm: wall and
process-CPU seconds (best round and mean), and how those seconds split between embedding
passages + sentences (``encode_passages``), the bridge's words (``encode_queries``) and the
rest. Parity: the ONNX build's passage and sentence vectors against torch's (min cosine).
The issue-12 target is ``torch / ONNX`` ≥ 1.5 for passages + sentences
(``speedup_passages_sentences_*``); the whole build's ratio is ``speedup_*_wall``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from qabot.config import Settings
from qabot.encoder import Encoder
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.index import FileStore, index_chunks
from qabot.model import load_encoder

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = Path(__file__).resolve().parent / "results" / "build_speed.json"


def timed_methods(encoder: Encoder, totals: dict[str, float]) -> None:
    """Make ``encoder``'s two encode methods add their wall seconds to ``totals``."""
    for name in ("encode_passages", "encode_queries"):
        real = getattr(encoder, name)

        def wrapper(texts: list[str], real: Any = real, name: str = name) -> np.ndarray:
            started = time.perf_counter()
            try:
                return real(texts)  # type: ignore[no-any-return]
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

        setattr(encoder, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=ARCD)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N passages only (0: all)")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    settings = Settings()
    encoders = {
        name: load_encoder(settings.model_copy(update={"backend": name}))
        for name in ("torch", "onnx")
    }
    data = load_eval_set(args.file)
    chunks = eval_chunks(data, settings.max_chunk_tokens, encoders["onnx"].count_tokens)
    chunks = chunks[: args.limit] if args.limit else chunks
    for enc in encoders.values():  # warm up, outside the clock
        enc.encode_queries(["warm up"])
        enc.encode_passages([c.match_text for c in chunks[:16]])
    totals: dict[str, dict[str, float]] = {name: {} for name in encoders}
    for name, enc in encoders.items():
        timed_methods(enc, totals[name])
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in encoders}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, enc in encoders.items():
                store = FileStore(Path(tmp) / f"{name}-{round_}")
                totals[name].clear()
                wall, cpu = time.perf_counter(), time.process_time()
                report = index_chunks(chunks, store, enc, batch=settings.batch_size)
                row = {
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": time.process_time() - cpu,
                    **{f"{k}_s": v for k, v in totals[name].items()},
                }
                row["rest_s"] = row["wall_s"] - sum(totals[name].values())
                rows[name].append(row)
                print(name, round_, report.summary(), json.dumps(row), flush=True)
        loaded = {name: FileStore(Path(tmp) / f"{name}-0").load() for name in encoders}
        torch_, onnx_ = loaded["torch"], loaded["onnx"]
        keys = np.array([c.key for c in chunks], dtype=np.int64)
        passage_cos = (torch_.passages.get(keys) * onnx_.passages.get(keys)).sum(axis=1)
        ids = np.arange(len(torch_.sentence_vectors), dtype=np.int64)
        a, b = torch_.sentence_vectors.get(ids), onnx_.sentence_vectors.get(ids)
        sentence_cos = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    def summary(arm: list[dict[str, float]]) -> dict[str, Any]:
        best = min(arm, key=lambda r: r["wall_s"])
        mean = {k: sum(r[k] for r in arm) / len(arm) for k in arm[0]}
        return {
            "best": {k: round(v, 2) for k, v in best.items()},
            "mean": {k: round(v, 2) for k, v in mean.items()},
        }

    arms = {name: summary(arm) for name, arm in rows.items()}

    def ratio(stat: str, measure: str) -> float:
        return round(arms["torch"][stat][measure] / arms["onnx"][stat][measure], 2)

    result = {
        "corpus": data.name,
        "passages": len(chunks),
        "rounds": args.rounds,
        "batch_size": settings.batch_size,
        "arms": arms,
        "speedup_best_wall": ratio("best", "wall_s"),
        "speedup_mean_wall": ratio("mean", "wall_s"),
        "speedup_mean_cpu": ratio("mean", "cpu_s"),
        # The part issue 12 named: passages + sentences (``encode_passages``) alone.
        "speedup_passages_sentences_best": ratio("best", "encode_passages_s"),
        "speedup_passages_sentences_mean": ratio("mean", "encode_passages_s"),
        "onnx_batch_tokens": getattr(encoders["onnx"], "batch_tokens", None),
        "parity_min_cosine": {
            "passages": round(float(passage_cos.min()), 6),
            "sentences": round(float(sentence_cos.min()), 6),
        },
        "runs": {name: [{k: round(v, 2) for k, v in r.items()} for r in arm]
                 for name, arm in rows.items()},  # fmt: skip
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
