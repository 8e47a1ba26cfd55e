"""Index build work other than embedding, index size on disk and load time (issue 12).

Two corpora: the *probe* of issue 12 (one 22 MB article of ~9,000 long paragraphs, each one of
21 paragraphs made from consecutive ARCD sentences, so nearly all repeats) and *ARCD* written
out as 146 articles (title in front matter, one paragraph per line). Each is indexed from
scratch with a stand-in encoder: the real model's tokenizer counts tokens as qabot's encoders
do (``qabot.tokencount``, or ``encode`` in a qabot without it; chunking needs it), vectors are
hashed words (``tests/fakes.py``), and the seconds spent making vectors (passages, sentences
and the word bridge's words) are subtracted. Reported per corpus:

- non-embedding throughput: article bytes / (build seconds − encoding seconds), split into
  reading + chunking (token counts included), sentence splitting, the word bridge's vocabulary
  and file, BM25's text analysis (``index_keys``, or ``lexkeys``' numbering of a block of
  texts), the rest of BM25, writing, and the rest
  (layout, vector reuse);
- the index on disk (one generation folder) against the budget of issue 12: the passage
  vectors (float32) + 3 × the article bytes;
- load: ``FileStore.load().prepare_search()``, best of 3 (files in the page cache).

With ``--baseline SRC`` every measurement also runs on another qabot source tree (e.g. the
previous commit: ``git archive HEAD~1 src | tar -x -C /tmp/base``), arm after arm in one run,
each arm in its own process. JSON goes to ``benchmarks/results/build_throughput.json``.

    .venv/bin/python benchmarks/build_throughput.py [--baseline /tmp/base/src] [--corpus probe]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = ROOT / "benchmarks" / "results" / "build_throughput.json"
DIM = 384  # the bundled model's, so sizes are the real ones
PROBE_BYTES = 22_000_000
PROBE_DISTINCT = 21
PROBE_PARAGRAPH_BYTES = 2_200


def write_arcd(data: Path, folder: Path) -> None:
    corpus = json.loads(data.read_text(encoding="utf-8"))
    folder.mkdir(parents=True)
    for i, article in enumerate(corpus["articles"]):
        body = "\n".join(" ".join(p["text"].split()) for p in article["paragraphs"])
        (folder / f"arcd-{i:03d}.txt").write_text(
            f"---\ntitle: {article['title']}\n---\n{body}\n", encoding="utf-8"
        )


def write_probe(data: Path, folder: Path) -> None:
    """One article: 21 distinct ~2.2 kB paragraphs of ARCD sentences, drawn (seeded) until
    the file holds 22 MB."""
    from qabot.arabic import split_sentences

    corpus = json.loads(data.read_text(encoding="utf-8"))
    paragraphs = [p["text"] for a in corpus["articles"] for p in a["paragraphs"]]
    sentences = list(dict.fromkeys(s for p in paragraphs for s in split_sentences(p)))
    distinct, at = [], 0
    while len(distinct) < PROBE_DISTINCT:
        words: list[str] = []
        while len(" ".join(words).encode("utf-8")) < PROBE_PARAGRAPH_BYTES:
            words.append(sentences[at])
            at += 1
        distinct.append(" ".join(words))
    rng, lines, size = random.Random(12), [], 0
    while size < PROBE_BYTES:
        lines.append(rng.choice(distinct))
        size += len(lines[-1].encode("utf-8")) + 1
    folder.mkdir(parents=True)
    (folder / "probe.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- one arm (worker)


def _timed(owner: Any, name: str, totals: dict[str, float], label: str, *inner: str) -> None:
    """Wrap ``owner.name`` so that its seconds add up in ``totals[label]``, less the seconds
    the ``inner`` labels gained meanwhile (stages timed inside it)."""
    real = getattr(owner, name, None)
    if real is None:  # another qabot (--baseline) has no such stage
        return
    nested = [f"{i}{suffix}" for i in inner for suffix in ("", "_cpu")]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = {n: totals.get(n, 0.0) for n in nested}
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            gained = {n: totals.get(n, 0.0) - before[n] for n in nested}
            totals[label] = totals.get(label, 0.0) + wall - sum(
                v for n, v in gained.items() if not n.endswith("_cpu")
            )
            cpu_label = f"{label}_cpu"
            totals[cpu_label] = totals.get(cpu_label, 0.0) + cpu - sum(
                v for n, v in gained.items() if n.endswith("_cpu")
            )

    setattr(owner, name, wrapper)


def worker(articles: Path, index: Path, scale: int = 0) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes import HashEncoder

    import qabot.index.build as build
    import qabot.index.lexical as lexical
    from qabot.config import Settings
    from qabot.index import FileStore, LexicalIndex
    from qabot.index.files import FileStore as Store

    try:
        import qabot.index.lexkeys as lexkeys
    except ImportError:  # an older qabot
        lexkeys = None  # type: ignore[assignment]

    totals: dict[str, float] = {}

    class Encoder(HashEncoder):
        """Hashed-word vectors (timed, then subtracted); the real tokenizer counts tokens."""

        def __init__(self) -> None:
            super().__init__(dim=DIM, model_id="bench-hash")
            self.tokenizer = _tokenizer()
            counter = _counter(self.tokenizer)
            if counter is not None:  # as qabot's encoders count (their TokenCounter itself)
                self.count_tokens = counter  # type: ignore[method-assign]

        def _timed(self, encode: Any, texts: list[str]) -> Any:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return encode(texts)
            finally:
                totals["encode"] = totals.get("encode", 0.0) + time.perf_counter() - started
                totals["encode_cpu"] = totals.get("encode_cpu", 0.0) + time.process_time() - cpu

        def encode_passages(self, texts: list[str]) -> Any:
            # HashEncoder's encode_passages calls encode_queries: timed here, not twice.
            return self._timed(lambda t: HashEncoder.encode_queries(self, t), texts)

        def encode_queries(self, texts: list[str]) -> Any:  # the word bridge's words
            return self._timed(super().encode_queries, texts)

    encoder = Encoder()
    _timed(build, "collect_chunks", totals, "read_chunk")
    _timed(build, "split_all", totals, "sentences")
    _timed(Store, "update_bridge", totals, "bridge", "encode")  # its words' vectors: embedding
    _timed(lexical, "index_keys", totals, "bm25_analysis")  # (0d3e9f9)
    if lexkeys is not None:  # a block of texts' keys as numbers
        _timed(lexkeys.KeyNumbers, "_block", totals, "bm25_analysis")
    _timed(LexicalIndex, "updated", totals, "bm25", "bm25_analysis")
    _timed(Store, "commit", totals, "write")
    settings = Settings(articles_dir=articles, index_dir=index)
    started, cpu = time.perf_counter(), time.process_time()
    report = build.build_index(settings, encoder=encoder)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    text_bytes = sum(p.stat().st_size for p in articles.rglob("*") if p.is_file())
    work = seconds - totals.get("encode", 0.0)
    work_cpu = cpu - totals.pop("encode_cpu", 0.0)
    generation = index / (index / "CURRENT").read_text(encoding="utf-8").strip()
    parts = {
        p.name: sum(f.stat().st_size for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
        for p in generation.iterdir()
    }
    loads, lexical_loads = [], []
    _timed(LexicalIndex, "load", totals, "load_bm25")
    for _ in range(3):
        totals["load_bm25"], started = 0.0, time.perf_counter()
        FileStore(index).load().prepare_search()
        loads.append(time.perf_counter() - started)
        lexical_loads.append(totals.pop("load_bm25"))
        totals.pop("load_bm25_cpu", None)
    budget = report.passages * DIM * 4 + 3 * text_bytes
    stages = {k: round(v, 3) for k, v in totals.items() if not k.endswith("_cpu")}
    stages.pop("encode", None)
    stages["other"] = round(work - sum(stages.values()), 3)
    stages_cpu = {k: round(v, 3) for k, v in totals.items() if k.endswith("_cpu")}
    stages_cpu["other_cpu"] = round(work_cpu - sum(stages_cpu.values()), 3)
    return {
        "articles": report.articles,
        "passages": report.passages,
        "embedded_passages": report.embedded,
        "embedded_sentences": report.embedded_sentences,
        "text_bytes": text_bytes,
        "build_s": round(seconds, 3),
        "encode_s": round(totals.get("encode", 0.0), 3),
        "non_embedding_s": round(work, 3),
        "non_embedding_mb_per_s": round(text_bytes / 1e6 / work, 3),
        # CPU seconds of the process (all threads): what a quiet machine's wall time would be.
        "non_embedding_cpu_s": round(work_cpu, 3),
        "non_embedding_mb_per_cpu_s": round(text_bytes / 1e6 / work_cpu, 3),
        "stages_s": stages,
        "stages_cpu_s": stages_cpu,
        "index_bytes": sum(parts.values()),
        "index_parts_bytes": dict(sorted(parts.items())),
        "budget_bytes": budget,
        "within_budget": sum(parts.values()) <= budget,
        "load_s": round(min(loads), 3),
        "load_bm25_s": round(lexical_loads[loads.index(min(loads))], 3),
        "tokenizer": encoder.tokenizer is not None,
    } | ({"scale_load": scale_load(index, scale)} if scale else {})


def _tokenizer() -> Any:
    """The bundled model's tokenizer.json (no torch), or None without a converted model cache."""
    try:
        from tokenizers import Tokenizer

        from qabot.config import Settings
        from qabot.model.load import model_dir

        path = model_dir(Path(Settings().cache_dir).expanduser().resolve())
        return Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as exc:  # no converted model here: fall back to counting words
        print(f"no tokenizer ({exc}); counting words instead", file=sys.stderr)
        return None


def _counter(tokenizer: Any) -> Any:
    """How this qabot's encoders count tokens with ``tokenizer`` (None: count words)."""
    if tokenizer is None:
        return None
    try:
        from qabot.tokencount import TokenCounter
    except ImportError:  # an older qabot (--baseline): its encoders called ``encode``
        return lambda text: len(tokenizer.encode(text).ids)
    return TokenCounter(tokenizer)


def scale_load(index: Path, passages: int) -> dict[str, Any]:
    """Load time of the passage table and sentence layout at ``passages`` passages: ARCD's
    table tiled (new keys; texts and sentence vectors shared, so files stay small: memory-
    mapped parts load in the same time whatever their size). Passage vectors and BM25 are
    not part of it (another slice of issue 12 measures them at scale)."""
    import numpy as np

    from qabot.index import FileStore
    from qabot.index.passages import PassageTable
    from qabot.index.snapshot import Snapshot

    base = FileStore(index).load()
    table: Any = base.chunks
    a, n0 = {k: np.asarray(v) for k, v in table._a.items()}, len(table)
    copies = -(-passages // n0)
    per_passage = ("id_ends", "meta", "paragraphs", "sections", "text_ix", "hash_ends")
    tiled = {k: np.tile(a[k], copies) for k in per_passage}  # ids repeat: fine for timing
    tiled |= {k: a[k] for k in ("ids", "text", "text_ends", "hashes")}
    tiled["keys"] = np.arange(n0 * copies, dtype=np.int64) * 7919 + 1
    tiled["spans"] = np.tile(a["spans"], (copies, 1))
    tiled["span_ends"] = np.concatenate([a["span_ends"] + i * len(a["spans"])
                                         for i in range(copies)])  # fmt: skip
    folder = index.parent / "scale-table"
    PassageTable(tiled, table._meta, table._sections).save(folder)
    np.save(index.parent / "scale-ids.npy", np.tile(base.sentence_ids, copies).astype(np.int32))
    times, cpus = [], []
    for _ in range(3):
        started, cpu = time.perf_counter(), time.process_time()
        big_table = PassageTable.load(folder)
        ids = np.asarray(np.load(index.parent / "scale-ids.npy", mmap_mode="r"), dtype=np.int64)
        snapshot = Snapshot(
            base.model, base.dim, big_table, big_table.sentences, base.passages,
            base.sentence_vectors, base.lexical, sentence_ids=ids,
        )  # fmt: skip
        snapshot.prepare_search()
        times.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return {"passages": len(big_table), "sentences": len(ids), "load_s": round(min(times), 3),
            "load_cpu_s": round(min(cpus), 3)}  # fmt: skip


# --------------------------------------------------------------------------- driver


def run_arm(src: Path, articles: Path, index: Path, scale: int) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(articles), str(index), str(scale)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--corpus", nargs="+", default=["probe", "arcd"])
    parser.add_argument("--baseline", type=Path, help="another qabot src folder to compare")
    parser.add_argument(
        "--also", nargs=2, action="append", default=[], metavar=("NAME", "SRC"),
        help="more arms: a name and a qabot src folder",
    )  # fmt: skip
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--scale", type=int, default=1_000_000,
        help="also time loading the passage table and sentence layout at this many passages "
        "(ARCD tiled; current code only; 0: skip)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.worker:
        articles, index, scale = args.worker
        print(json.dumps(worker(Path(articles), Path(index), int(scale))))
        return
    arms = {"current": ROOT / "src"} | ({"baseline": args.baseline} if args.baseline else {})
    arms |= {name: Path(src) for name, src in args.also}
    results: dict[str, Any] = {
        "load_before": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "corpora": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpus:
            articles = Path(tmp) / corpus / "articles"
            {"probe": write_probe, "arcd": write_arcd}[corpus](args.data, articles)
            results["corpora"][corpus] = {}
            for arm, src in arms.items():
                index = Path(tmp) / corpus / f"index-{arm}"
                scale = args.scale if corpus == "arcd" and arm == "current" else 0
                row = run_arm(src, articles, index, scale)
                row["load_avg"] = os.getloadavg()[0]
                results["corpora"][corpus][arm] = row
                print(corpus, arm, json.dumps(row), flush=True)
    results["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
