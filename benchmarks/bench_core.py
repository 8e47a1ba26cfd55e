"""Index build throughput and query latency, each next to the bare model time of the same texts.

    python benchmarks/bench_core.py [FILE.retrieval.json] [--queries 200]

The build is timed end to end (chunking, sentence splitting, embedding, BM25, FAISS, atomic
write); the bare figure is `model.encode` of exactly the texts the build embedded. Query
latency is `Retriever.search` (k=3) against the bare query encoding of the same question,
both measured in this run, so the overhead shows as a ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from qabot.arabic import split_sentences
from qabot.config import Settings
from qabot.evaluate import eval_chunks, load_eval_set
from qabot.index import FileStore, index_chunks
from qabot.model import load_encoder
from qabot.retriever import Retriever

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ARCD))
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(Path(args.file))
    chunks = eval_chunks(data, settings.max_chunk_tokens, encoder.count_tokens)
    sentences = list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
    encoder.encode_queries(["warm up"])

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        store = FileStore(Path(tmp))
        report = index_chunks(chunks, store, encoder, batch=settings.batch_size)
        build = time.perf_counter() - start

        start = time.perf_counter()
        step = settings.batch_size * 8
        for texts in ([c.match_text for c in chunks], sentences):
            for i in range(0, len(texts), step):
                encoder.encode_passages(texts[i : i + step])
        bare_build = time.perf_counter() - start

        retriever = Retriever(store, encoder, settings)
        questions = [q.question for q in data.questions[: args.queries]]
        search_ms, encode_ms = [], []
        for q in questions:
            start = time.perf_counter()
            encoder.encode_queries([q])
            encode_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            retriever.search(q, k=3)
            search_ms.append((time.perf_counter() - start) * 1000)

    n = report.passages
    print(f"corpus: {data.name}, {n} passages, {len(sentences)} sentences embedded too")
    print("| measure | qabot | bare model.encode | ratio |")
    print("|---|---|---|---|")
    print(
        f"| index build | {build:.1f} s ({n / build:.1f} passages/s) | {bare_build:.1f} s "
        f"({n / bare_build:.1f} passages/s) | {build / bare_build:.2f} |"
    )
    for q in (50, 95):
        print(
            f"| query p{q} ({len(questions)} questions) | {pct(search_ms, q):.1f} ms | "
            f"{pct(encode_ms, q):.1f} ms | {pct(search_ms, q) / pct(encode_ms, q):.2f} |"
        )


if __name__ == "__main__":
    main()
