"""How qabot grows: corpora of 10k, 100k and 1M passages through the real build and search.

    PYTHONPATH=src .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000]

Text: every passage is 4 sentences, each stitched from thirds of 3 random ARCD sentences
(arcd.json), so the words, their frequencies and the sentence lengths are ARCD's while
passages and sentences stay distinct (no embedding reuse by hash). Vectors: the real
vectors of the ARCD eval index (its passages and sentences, made by the bundled model once
and cached, as `qabot eval --cache` does) come first; beyond them, draws from a Gaussian
fitted to those real vectors' mean and covariance, normalised. Query vectors: 200 ARCD
questions encoded once by the real model (cached). Everything goes through
`index_chunks` (the build path) with an encoder that hands out those vectors, and through
`Retriever.search(vector=…)` (the non-encoding part of a question: vector search, BM25,
coverage, fusion, highlight). Each size builds in one child process and is loaded, queried
and edited in another, so RSS and load time are a fresh reader's. Writes
benchmarks/results/scale.json and benchmarks/scale.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ARCD = Path("/work/shared/data/arcd")
SENTENCES_PER_PASSAGE = 4
PASSAGES_PER_ARTICLE = 5
N_QUESTIONS = 200
EDITS = ("add_article", "edit_article", "remove_article")
MODEL_ID = "scale-bench"  # the snapshot's model id: vectors come from the stream below


def rss_mb(field: str = "VmRSS:") -> float:
    """This process's RSS (``VmHWM:``: its peak; ``RssAnon:``: without mapped files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakAnon:
    """The peak anonymous RSS while it runs, sampled every 50 ms: a build's scratch files
    are mapped, and their pages (counted in RSS) are the kernel's to write back and drop."""

    def __enter__(self) -> PeakAnon:
        self.peak, self._done = rss_mb("RssAnon:"), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, rss_mb("RssAnon:"))

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# ---------------------------------------------------------------------------- real data


def real_parts(cache: Path) -> dict[str, Any]:
    """Real vectors (ARCD passages + sentences), question vectors and ARCD sentences; the
    model runs only when the cache lacks them."""
    from qabot.arabic import split_sentences

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "real.npz"
    if not path.exists():
        from qabot.config import Settings
        from qabot.evaluate import index_eval_set, load_eval_set
        from qabot.model import load_encoder

        settings = Settings()
        encoder = load_encoder(settings)
        data = load_eval_set(ARCD / "arcd.retrieval.json")
        _, retriever = index_eval_set(data, cache, settings, encoder)
        snap = retriever.snapshot
        passages = snap.passages.get(np.array([c.key for c in snap.chunks], np.int64))
        questions = random.Random(0).sample([q.question for q in data.questions], N_QUESTIONS)
        np.savez(
            path,
            passages=passages,
            sentences=snap.sentence_vectors.get(snap.sentence_vectors.ids()),
            questions=encoder.encode_queries(questions),
            question_texts=np.array(questions),
        )
    with np.load(path) as data:
        real = {k: data[k] for k in data.files}
    contexts = json.loads((ARCD / "arcd.json").read_text(encoding="utf-8"))["data"]
    sents = {s for a in contexts for p in a["paragraphs"] for s in split_sentences(p["context"])}
    real["arcd_sentences"] = sorted(s for s in sents if len(s.split()) >= 6)
    return real


class StreamEncoder:
    """An `Encoder` handing out the real vectors, then Gaussian draws, in call order."""

    def __init__(self, real: np.ndarray, seed: int, noise: float | None = None) -> None:
        """``noise``: draw around random real vectors instead (real + noise · Gaussian),
        which keeps their clusters: the easy case for an approximate index."""
        self.dim = real.shape[1]
        self._noise = noise
        self.model_id = MODEL_ID
        self._real = real
        self._next = 0
        self._mean = real.mean(axis=0)
        cov = np.cov(real, rowvar=False) + 1e-6 * np.eye(self.dim)
        self._chol = np.linalg.cholesky(cov)
        self._rng = np.random.default_rng(seed)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        n = len(texts)
        take = self._real[self._next : self._next + n]
        self._next += len(take)
        gauss = self._rng.standard_normal((n - len(take), self.dim)) @ self._chol.T
        if self._noise is None:
            drawn = gauss + self._mean
        else:
            anchors = self._real[self._rng.integers(0, len(self._real), len(gauss))]
            drawn = anchors + self._noise * gauss
        out = np.concatenate((take, drawn)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Only the build's word bridge (:mod:`qabot.bridge`) asks: the questions' vectors are
        precomputed. Random unit vectors: the bridge serves English questions, not these."""
        out = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2


def corpus(n: int, sentences: list[str], seed: int, prefix: str = "a") -> list[Any]:
    """``n`` passages in articles of PASSAGES_PER_ARTICLE, as `Chunk`s."""
    from qabot.chunking import paragraph_chunks

    rng = random.Random(seed)
    words = [s.split() for s in sentences]

    def sentence() -> str:
        parts = []
        for third in range(3):
            w = rng.choice(words)
            size = len(w) // 3
            parts.extend(w[third * size : (third + 1) * size if third < 2 else len(w)])
        return " ".join(parts)

    chunks: list[Any] = []
    for i in range(n):
        a, p = divmod(i, PASSAGES_PER_ARTICLE)
        text = " ".join(sentence() for _ in range(SENTENCES_PER_PASSAGE))
        article = f"{prefix}{a}"
        chunks += paragraph_chunks(
            f"{article}#{p + 1}", text, 10_000, len, article=article, paragraph=p + 1, title=article
        )
    return chunks


# ---------------------------------------------------------------------------- phases


def phase_build(
    n: int, work: Path, cache: Path, threshold: int, edits: tuple[str, ...] = EDITS
) -> dict[str, Any]:
    """Build the index of ``n`` passages; then time adding, editing, removing one article."""
    from qabot.chunking import content_hash
    from qabot.index import FileStore, index_chunks

    real = real_parts(cache)
    encoder = StreamEncoder(np.concatenate((real["passages"], real["sentences"])), seed=n)
    t = time.perf_counter()
    chunks = corpus(n, real["arcd_sentences"], seed=n)
    make_s = time.perf_counter() - t
    store = FileStore(work, ann_threshold=threshold)
    t, c = time.perf_counter(), time.process_time()
    before = rss_mb("RssAnon:")  # the corpus itself, held by this benchmark
    with PeakAnon() as anon:
        report = index_chunks(chunks, store, encoder)
    build_s, build_cpu = time.perf_counter() - t, time.process_time() - c
    out: dict[str, Any] = {"corpus_s": round(make_s, 1), "build_s": round(build_s, 1)}
    out["build_cpu_s"] = round(build_cpu, 1)
    out["build_rss_mb"] = round(rss_mb())
    out["build_peak_rss_mb"] = round(rss_mb("VmHWM:"))
    out["build_peak_anon_mb"] = round(anon.peak)
    out["corpus_anon_mb"] = round(before)
    out["text_mb"] = round(sum(len(c.text.encode()) for c in chunks) / 1e6, 1)
    gc.collect()
    # Incremental edits, each a full `index_chunks` as `qabot index` runs it.
    extra = corpus(PASSAGES_PER_ARTICLE, real["arcd_sentences"], seed=n + 1, prefix="new")
    edited = chunks[0].model_copy(update={"text": chunks[0].text + " تحديث"})
    edited.hash = content_hash(edited.match_text)
    steps = {
        "add_article": chunks + extra,
        "edit_article": [edited, *chunks[1:]] + extra,
        "remove_article": [edited, *chunks[1:]],
    }
    for name, now in steps.items():
        if name not in edits:
            continue
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        with PeakAnon() as anon:
            index_chunks(now, store, encoder)
        out[f"{name}_s"] = round(time.perf_counter() - t, 2)
        out[f"{name}_cpu_s"] = round(time.process_time() - c, 2)
        out[f"{name}_peak_anon_mb"] = round(anon.peak)  # the corpus (corpus_anon_mb) included
    out["passages"] = report.passages
    return out


def timed_questions(
    retriever: Any, texts: list[str], questions: np.ndarray
) -> tuple[list[float], list[float]]:
    """Each question's wall and CPU ms through ``Retriever.search(vector=…)``, from the second
    of two rounds: the first warms caches (mapped files' pages, faiss, a server's buffers)."""
    times, cpu = [], []
    for rounds in range(2):
        for text, vector in zip(texts, questions, strict=True):
            t, c = time.perf_counter(), time.process_time()
            retriever.search(text, k=3, vector=vector)
            if rounds:
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
    return times, cpu


def phase_query(n: int, work: Path, cache: Path, threshold: int) -> dict[str, Any]:
    """A fresh reader: load time, RSS, the non-encoding query time, ANN recall@10."""
    from qabot.config import Settings
    from qabot.index import FileStore
    from qabot.retriever import Retriever

    real = real_parts(cache)
    questions, texts = real["questions"], real["question_texts"].tolist()
    encoder = StreamEncoder(real["passages"], seed=0)
    gc.collect()
    before = rss_mb()
    t, c = time.perf_counter(), time.process_time()
    retriever = Retriever(FileStore(work, ann_threshold=threshold), encoder, Settings())  # type: ignore[arg-type]
    load_s, load_cpu = time.perf_counter() - t, time.process_time() - c
    after = rss_mb()
    snap = retriever.snapshot
    times, cpu = timed_questions(retriever, texts, questions)
    out: dict[str, Any] = {
        "rss_queried_mb": round(rss_mb()),  # with the mapped pages the queries touched
        "rss_queried_anon_mb": round(rss_mb("RssAnon:")),  # without them: the process's own
        "load_s": round(load_s, 2),
        "rss_mb": round(after),
        "rss_index_mb": round(after - before),
        "query_p50_ms": round(float(np.percentile(times, 50)), 2),
        "query_p95_ms": round(float(np.percentile(times, 95)), 2),
        # CPU time: what the query costs when the machine is not shared (load moves wall time)
        "query_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "query_cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
        "load_cpu_s": round(load_cpu, 2),
        "sentences": snap.sentence_count(),
    }
    lex = snap.lexical
    out["memory_mb"] = {
        "passage_vectors": round(len(snap.passages) * snap.dim * 4 / 2**20),
        # one float16 row per distinct sentence text, memory-mapped (index/halfvectors.py)
        "sentence_vectors": round(len(snap.sentence_vectors) * snap.dim * 2 / 2**20),
        "bm25_mapped": round(sum(a.nbytes for a in (lex._flat, lex._data, lex._indices)) / 2**20),
    }
    files = [p for p in (work / (snap.name or "")).rglob("*") if p.is_file()]
    out["disk_mb"] = {p.name: round(p.stat().st_size / 2**20, 1) for p in files}
    out["disk_total_mb"] = round(sum(p.stat().st_size for p in files) / 2**20, 1)
    approximate = bool(getattr(snap.passages, "approximate", False))
    out["passages_approximate"] = approximate
    if getattr(snap.passages, "_rows", None) is not None:  # qabot.index.ann: codes + re-rank
        out["passages_index"] = f"IVF-PQ fast scan, re-rank {snap.passages.rerank}"
    exact = exact_top10(snap.passages, questions)
    out["passages_recall10"] = recall_at_10(snap.passages, exact, questions)
    # Past the threshold no sentence search runs (Snapshot.sentence_passages): what counts
    # is how much of the exact top 10 the whole search still returns.
    out["sentence_search"] = not approximate
    if approximate:
        out["nprobe"] = probe_sweep(retriever, texts, questions, exact)
        # the exact configuration searches 4M sentences at 1M passages: 100 questions
        out["search_recall10"] = search_recall_at_10(retriever, texts[:100], questions[:100])
    else:
        exact_sentences = exact_top10(snap.sentence_vectors, questions)
        out["sentences_recall10"] = recall_at_10(snap.sentence_vectors, exact_sentences, questions)
    return out


def probe_sweep(
    retriever: Any, texts: list[str], questions: np.ndarray, exact: list[set[int]]
) -> dict[str, Any]:
    """Per share of the IVF lists probed (and candidates re-ranked exactly): the query's CPU
    p50/p95 and the passage vectors' recall@10 against exact (how far they could drop)."""
    snap = retriever.snapshot
    index = snap.passages._index
    default, rerank, out = index.nprobe, getattr(snap.passages, "rerank", None), {}
    for share, keep in ((16, 1), (8, 1), (4, 1), (3, 1), (2, 2)):  # 1/2: the main measurement
        index.nprobe = max(1, index.nlist // share)
        if rerank is not None:
            snap.passages.rerank = rerank // keep
        cpu = []
        for text, vector in zip(texts, questions, strict=True):
            c = time.process_time()
            retriever.search(text, k=3, vector=vector)
            cpu.append((time.process_time() - c) * 1000)
        out[f"1/{share}" + (f", re-rank {rerank // keep}" if keep > 1 else "")] = {
            "nprobe": index.nprobe,
            "rerank": None if rerank is None else rerank // keep,
            "query_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
            "query_cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
            "passages_recall10": recall_at_10(snap.passages, exact, questions),
        }
    index.nprobe = default
    if rerank is not None:
        snap.passages.rerank = rerank
    return out


def search_recall_at_10(retriever: Any, texts: list[str], questions: np.ndarray) -> float:
    """The share of the top 10 of `Retriever.search` with exact passage vectors and the
    sentence search on (the exact configuration) that the approximate one returns."""
    from qabot.index.vectors import FaissIndex

    def top10() -> list[set[str]]:
        hits = (retriever.search(t, k=10, vector=v) for t, v in zip(texts, questions, strict=True))
        return [{p.id for p in found} for found in hits]

    snap = retriever.snapshot
    approximate = top10()
    ids = snap.passages.ids()
    approximate_index, snap.passages = snap.passages, FaissIndex(snap.dim, ann_threshold=len(ids))
    for start in range(0, len(ids), 100_000):  # no float32 copy of every vector at once
        part = ids[start : start + 100_000]
        snap.passages.add(part, approximate_index.get(part))
    exact = top10()
    snap.passages = approximate_index
    shared = [len(a & e) / max(1, len(e)) for a, e in zip(approximate, exact, strict=True)]
    return round(float(np.mean(shared)), 4)


def exact_top10(index: Any, questions: np.ndarray, step: int = 100_000) -> list[set[int]]:
    """Each question's exact top 10 ids by brute force over every vector, a block of rows at
    a time (a million passages: no 1.5 GB copy, no full sort)."""
    ids = index.ids()
    best_ids = np.zeros((0, len(questions)), dtype=np.int64)
    best = np.zeros((0, len(questions)), dtype=np.float32)
    for start in range(0, len(ids), step):
        block = ids[start : start + step]
        scores = np.concatenate((best, index.get(block) @ questions.T))
        rows = np.concatenate((best_ids, np.repeat(block[:, None], len(questions), axis=1)))
        top = np.argpartition(-scores, min(10, len(scores) - 1), axis=0)[:10]
        best = np.take_along_axis(scores, top, axis=0)
        best_ids = np.take_along_axis(rows, top, axis=0)
    return [set(best_ids[:, q].tolist()) for q in range(len(questions))]


def recall_at_10(index: Any, exact: list[set[int]], questions: np.ndarray) -> float:
    """The share of the exact top 10 the index returns."""
    hits = [
        len(exact[q] & {i for i, _ in index.search(questions[q], 10)}) / 10
        for q in range(len(questions))
    ]
    return round(float(np.mean(hits)), 4)


# ---------------------------------------------------------------------------- driver


def child(
    phase: str, n: int, work: Path, cache: Path, threshold: int, edits: str
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--phase", phase, "--sizes", str(n), "--edits", edits]
    args += ["--work", str(work), "--cache", str(cache), "--threshold", str(threshold)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{phase} {n} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qabot.config import DEFAULT_ANN_THRESHOLD

    # A row built past a lowered threshold shows the approximate path early: no point of
    # the growth curve.
    rows = [r for r in rows if r["threshold"] == DEFAULT_ANN_THRESHOLD]
    sizes = [r["passages"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    # CPU times: on a shared machine wall times measure the other jobs.
    series = [
        (
            "query CPU ms (non-encoding)",
            [("p50", "query_cpu_p50_ms"), ("p95", "query_cpu_p95_ms")],
            20,
        ),
        ("RSS, MB", [("after load", "rss_mb"), ("build peak (anon)", "build_peak_anon_mb")], 4096),
        ("CPU seconds", [("load", "load_cpu_s"), ("build / 100", "build_per100")], 5),
    ]
    for row in rows:
        row["build_per100"] = row["build_cpu_s"] / 100
    for share in ("1/4", "1/16"):  # past the threshold: fewer IVF lists probed
        probed = [r for r in rows if share in r.get("nprobe", {})]
        p50 = [r["nprobe"][share]["query_cpu_p50_ms"] for r in probed]
        recall = [r["nprobe"][share]["passages_recall10"] for r in probed]
        label = f"p50, {share} of lists (recall {', '.join(f'{x:.2f}' for x in recall)})"
        axes[0].plot([r["passages"] for r in probed], p50, marker="x", ls=":", label=label)
    for ax, (title, lines, target) in zip(axes, series, strict=True):
        for label, key in lines:
            ax.plot(sizes, [r.get(key, np.nan) for r in rows], marker="o", label=label)
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"1M target ({target})")
        ax.set_xscale("log")
        ax.set_xlabel("passages")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle("qabot at scale (benchmarks/scale.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    from qabot.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/qabot-scale"))
    parser.add_argument("--threshold", type=int, default=Settings().ann_threshold)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--edits", default=",".join(EDITS), help="incremental edits to time")
    parser.add_argument("--phase", choices=["build", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--plot", action="store_true", help="only redraw the plot from --out")
    parser.add_argument(
        "--build-json", type=Path,
        help="one size: reuse the index a `--phase build` run left in --work/SIZE and the JSON "
        "it printed (saved to this file) instead of building again; the query phase runs afresh",
    )  # fmt: skip
    parser.add_argument(
        "--query-json", type=Path,
        help="with --build-json: the JSON a `--phase query` run printed on that index",
    )  # fmt: skip
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.out.read_text()), HERE / "scale.png")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.phase:
        where = (sizes[0], args.work, args.cache, args.threshold)
        if args.phase == "build":
            print(json.dumps(phase_build(*where, tuple(args.edits.split(",")))))
        else:
            print(json.dumps(phase_query(*where)))
        return
    real_parts(args.cache)  # once, before the children need it
    rows: list[dict[str, Any]] = []
    for n in sizes:
        work = args.work / str(n)
        row: dict[str, Any] = {"size": n, "threshold": args.threshold, "load_before": load()}
        if args.build_json:
            row |= json.loads(args.build_json.read_text().strip().splitlines()[-1])
            row["build_reused"] = str(args.build_json)
        else:
            shutil.rmtree(work, ignore_errors=True)
            row |= child("build", n, work, args.cache, args.threshold, args.edits)
        if args.query_json:
            row |= json.loads(args.query_json.read_text().strip().splitlines()[-1])
            row["query_reused"] = str(args.query_json)
        else:
            row |= child("query", n, work, args.cache, args.threshold, args.edits)
        row["load_after"] = load()
        print(json.dumps(row), flush=True)
        rows = json.loads(args.out.read_text()) if args.out.exists() else []  # others' rows too
        rows = sorted([r for r in rows if r["size"] != n] + [row], key=lambda r: r["size"])
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        shutil.rmtree(work, ignore_errors=True)
    plot(rows, HERE / "scale.png")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # One thread, as qabot searches; spare BLAS threads only spin on a shared machine.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    main()
