"""The PostgreSQL + pgvector store against the file store at scale, on scale.py's corpus.

The corpus, vectors and questions are benchmarks/scale.py's (passages of 4 sentences stitched
from ARCD's, the real ARCD vectors then Gaussian draws fitted to them, 200 real question
vectors), so the file store's figures are scale.py's own: `--stores files,postgres` runs
scale.py's phases beside the database's in one run; at 1M (`--stores postgres`) its row is
read from benchmarks/results/scale.json. For the database: the build (`index_chunks`, as
`qabot index` runs it) and scale.py's one-article edit, each in a child process (client peak
RSS and CPU); then a fresh reader in another (load, the non-encoding query time of
`Retriever.search(vector=…)` on the second of two rounds, the passage HNSW's recall@10
against exact search); the database's size, table by table, and the server's peak memory
(PSS of its processes, sampled every second). The server runs as a bulk-loaded one would:
``wal_level=minimal`` (a first build truncates its tables, so its loads skip the WAL),
``synchronous_commit=off``, ``--shared-buffers`` and ``--maintenance-work-mem`` as given.
Writes benchmarks/results/pg_scale-<N>.json.

    .venv/bin/python benchmarks/pg_scale.py --passages 10000
    .venv/bin/python benchmarks/pg_scale.py --passages 1000000 --stores postgres
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import scale  # noqa: E402
from pgserver import PgServer  # noqa: E402

RESULTS = HERE / "results"


class ServerMemory:
    """The peak summed PSS of the server's processes (shared buffers counted once)."""

    def __init__(self, data: Path) -> None:
        self.data, self.peak, self._done = data, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def now_mb(self) -> float:
        head = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [head]
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if f"PPid:\t{head}\n" in status.read_text():
                    pids.append(int(status.parent.name))
            except OSError:
                continue
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def _sample(self) -> None:
        while not self._done.wait(1.0):
            try:
                self.peak = max(self.peak, self.now_mb())
            except (OSError, ValueError, IndexError):
                continue

    def take(self) -> float:
        """The peak since the last take."""
        peak, self.peak = self.peak, 0.0
        return round(peak)

    def stop(self) -> None:
        self._done.set()


class Steps(logging.Handler):
    """The commit's step timings (qabot.index.pgwrite logs them), step → seconds."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.taken: dict[str, float] = {}
        found = logging.getLogger("qabot.index.pgwrite")
        found.setLevel(logging.INFO)
        found.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        what, seconds = record.args  # type: ignore[misc]
        self.taken[str(what)] = round(float(seconds), 1)
        print(f"{what}: {seconds:.1f} s", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- phases


def phase_build(n: int, url: str, cache: Path, threshold: int) -> dict[str, Any]:
    """Build ``n`` passages into the database as `qabot index` does."""
    from qabot.index import index_chunks
    from qabot.index.postgres import PostgresStore

    steps = Steps()
    real = scale.real_parts(cache)
    encoder = scale.StreamEncoder(np.concatenate((real["passages"], real["sentences"])), seed=n)
    chunks = scale.corpus(n, real["arcd_sentences"], seed=n)
    store = PostgresStore(url, ann_threshold=threshold)
    before = scale.rss_mb("RssAnon:")
    t, c = time.perf_counter(), time.process_time()
    with scale.PeakAnon() as anon:
        report = index_chunks(chunks, store, encoder)  # type: ignore[arg-type]
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - t, 1)}
    out["build_cpu_s"] = round(time.process_time() - c, 1)
    out["build_peak_anon_mb"], out["corpus_anon_mb"] = round(anon.peak), round(before)
    out["passages"], out["build_steps_s"] = report.passages, steps.taken
    return out


def phase_edit(
    n: int, url: str, cache: Path, threshold: int, suffix: str = " تحديث"
) -> dict[str, Any]:
    """scale.py's one-article edit of the built corpus (``suffix`` appended to its first
    passage), as `qabot index` runs it."""
    from qabot.chunking import content_hash
    from qabot.index import index_chunks
    from qabot.index.postgres import PostgresStore

    steps = Steps()
    real = scale.real_parts(cache)
    encoder = scale.StreamEncoder(np.concatenate((real["passages"], real["sentences"])), seed=n)
    chunks = scale.corpus(n, real["arcd_sentences"], seed=n)
    store = PostgresStore(url, ann_threshold=threshold)
    edited = chunks[0].model_copy(update={"text": chunks[0].text + suffix})
    edited.hash = content_hash(edited.match_text)
    chunks[0] = edited
    t, c = time.perf_counter(), time.process_time()
    with scale.PeakAnon() as anon:
        report = index_chunks(chunks, store, encoder)  # type: ignore[arg-type]
    assert report.updated == 1, report
    out: dict[str, Any] = {"edit_article_s": round(time.perf_counter() - t, 2)}
    out["edit_article_cpu_s"] = round(time.process_time() - c, 2)
    out["edit_peak_anon_mb"], out["edit_steps_s"] = round(anon.peak), steps.taken
    return out


def exact_top10(url: str, questions: np.ndarray, step: int = 50_000) -> list[set[int]]:
    """The exact top 10 passages of each question, from every stored passage vector."""
    import psycopg
    from pgvector.psycopg import register_vector

    best = np.full((len(questions), 10), -np.inf)
    keys = np.zeros((len(questions), 10), dtype=np.int64)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        with conn.cursor(name="all", binary=True) as cur:
            cur.itersize = step
            cur.execute("SELECT key, embedding FROM qabot_passage_vectors")
            while rows := cur.fetchmany(step):
                ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
                scores = questions @ np.stack([r[1] for r in rows]).T
                both = np.concatenate((best, scores), axis=1)
                every = np.concatenate((keys, np.broadcast_to(ids, scores.shape)), axis=1)
                top = np.argsort(-both, axis=1)[:, :10]
                best, keys = np.take_along_axis(both, top, 1), np.take_along_axis(every, top, 1)
    return [set(row.tolist()) for row in keys]


def fresh_reader(url: str, cache: Path, threshold: int) -> tuple[Any, dict[str, Any]]:
    """A fresh reader of the database (the qabot on ``sys.path``: pg_reader.py runs another's)
    and its figures: load time and RSS, then the non-encoding time of scale.py's questions."""
    from qabot.config import Settings
    from qabot.index.postgres import PostgresStore
    from qabot.retriever import Retriever

    real = scale.real_parts(cache)
    questions, texts = real["questions"], real["question_texts"].tolist()
    encoder = scale.StreamEncoder(real["passages"], seed=0)
    before = scale.rss_mb()
    t, c = time.perf_counter(), time.process_time()
    store = PostgresStore(url, ann_threshold=threshold)
    retriever = Retriever(store, encoder, Settings())  # type: ignore[arg-type]
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - t, 3)}
    out["load_cpu_s"] = round(time.process_time() - c, 3)
    out["rss_mb"], out["rss_index_mb"] = round(scale.rss_mb()), round(scale.rss_mb() - before)
    times, cpu = scale.timed_questions(retriever, texts, questions)
    out["query_p50_ms"] = round(float(np.percentile(times, 50)), 2)
    out["query_p95_ms"] = round(float(np.percentile(times, 95)), 2)
    out["query_cpu_p50_ms"] = round(float(np.percentile(cpu, 50)), 2)  # the client's part
    out["query_cpu_p95_ms"] = round(float(np.percentile(cpu, 95)), 2)
    return retriever, out


def phase_query(n: int, url: str, cache: Path, threshold: int) -> dict[str, Any]:
    """A fresh reader: load time and RSS, the non-encoding query time, HNSW recall@10."""
    retriever, out = fresh_reader(url, cache, threshold)
    questions = scale.real_parts(cache)["questions"]
    out["sentence_search"] = not retriever.snapshot.passages.approximate
    exact = exact_top10(url, questions)
    passages = retriever.snapshot.passages
    got = [{k for k, _ in passages.search(q, 10)} for q in questions]
    out["passages_recall10"] = round(
        float(np.mean([len(a & b) / 10 for a, b in zip(got, exact, strict=True)])), 4
    )
    return out


def child(phase: str, n: int, url: str, cache: Path, threshold: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "--phase", phase, "--passages", str(n), "--url", url]
    args += ["--cache", str(cache), "--threshold", str(threshold)]
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=False)  # stderr: ours
    if done.returncode:
        raise SystemExit(f"{phase} {n} failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def database_size(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        tables = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace "
            "WHERE s.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC"
        ).fetchall()
        indexes = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace "
            "WHERE s.nspname = 'public' AND c.relkind = 'i' ORDER BY 2 DESC"
        ).fetchall()
    assert total is not None
    return {
        "size_mb": round(int(total[0]) / 2**20, 1),
        "tables_mb": {name: round(int(size) / 2**20, 1) for name, size in tables if size},
        "indexes_mb": {name: round(int(size) / 2**20, 1) for name, size in indexes if size},
    }


def run_postgres(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    """Build, size, query, then edit (last: an edit at 1M holds the most, and a memory
    guard may stop it); the row is saved after each phase."""
    options = (
        f"-c shared_buffers={args.shared_buffers} "
        f"-c maintenance_work_mem={args.maintenance_work_mem} -c wal_level=minimal "
        "-c max_wal_senders=0 -c synchronous_commit=off -c max_wal_size=2GB"
    )
    server = PgServer.start(options)
    memory = ServerMemory(server.data)
    row: dict[str, Any] = {"store": "postgres", "load_before": scale.load()}
    row["shared_buffers"], row["maintenance_work_mem"] = (
        args.shared_buffers,
        args.maintenance_work_mem,
    )
    try:
        url = server.new_database("scale")
        print(f"server {server.root}, {url}", file=sys.stderr, flush=True)
        row |= child("build", args.passages, url, args.cache, args.threshold)
        row["server_build_peak_mb"] = memory.take()
        row |= database_size(url)
        save(row)
        row |= child("query", args.passages, url, args.cache, args.threshold)
        row["server_query_peak_mb"] = memory.take()
        save(row)
        if args.edit:
            try:
                row |= child("edit", args.passages, url, args.cache, args.threshold)
            except SystemExit as exc:  # e.g. stopped by the memory guard
                row["edit_article_s"] = f"failed: {exc}"
            row["server_edit_peak_mb"] = memory.take()
            row["size_after_edit_mb"] = database_size(url)["size_mb"]
    finally:
        memory.stop()
        server.destroy()
    row["load_after"] = scale.load()
    save(row)
    return row


def run_files(args: argparse.Namespace) -> dict[str, Any]:
    """scale.py's own build and query phases, on the same corpus."""
    work = Path(tempfile.mkdtemp(prefix="qabot-pgscale-files-"))
    row: dict[str, Any] = {"store": "files", "load_before": scale.load()}
    try:
        n, edits = args.passages, "edit_article"
        row |= scale.child("build", n, work, args.cache, args.threshold, edits)
        row |= scale.child("query", n, work, args.cache, args.threshold, edits)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    row["load_after"] = scale.load()
    return row


def main() -> None:
    from qabot.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--stores", default="files,postgres")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--threshold", type=int, default=Settings().ann_threshold)
    parser.add_argument("--shared-buffers", default="512MB")
    parser.add_argument("--maintenance-work-mem", default="1GB")
    parser.add_argument("--no-edit", dest="edit", action="store_false", help="skip the edit")
    parser.add_argument("--phase", choices=["build", "edit", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase = {"build": phase_build, "edit": phase_edit, "query": phase_query}[args.phase]
        print(json.dumps(phase(args.passages, args.url, args.cache, args.threshold)))
        return
    scale.real_parts(args.cache)  # once, before the children need it
    out_path = RESULTS / f"pg_scale-{args.passages}.json"
    stores = args.stores.split(",")
    rows = []
    if "files" in stores:
        rows.append(run_files(args))
    else:  # scale.py's own row of this size
        found = json.loads((RESULTS / "scale.json").read_text())
        found = [r for r in found if r["size"] == args.passages]
        rows += [{"store": "files", "from": "scale.json"} | r for r in found]

    def save(row: dict[str, Any] | None = None) -> None:
        out = {"passages": args.passages, "cpus": os.cpu_count(), "rows": [*rows, row or {}]}
        out["rows"] = [r for r in out["rows"] if r]
        RESULTS.mkdir(exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")

    if "postgres" in stores:
        rows.append(run_postgres(args, save))
    save()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    main()
