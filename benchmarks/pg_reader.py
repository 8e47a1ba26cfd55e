"""A fresh PostgreSQL reader, before and after passages are read on demand, side by side.

Builds pg_scale.py's corpus (scale.py's passages and vectors) into a database once with this
checkout, then starts fresh reader processes in turns: the old code (``--baseline``, a ``src``
folder, e.g. main at 28399c1, which reads every passage at load) and this checkout's. Each
reports its load (wall, CPU, RSS after loading), then the non-encoding query time of
``Retriever.search(vector=…)`` on the second of two rounds of scale.py's 200 question vectors,
each question's top 5 passages, which must be the same in both, and the time of the article
listing (`/sources`). The old code refuses the
newer schema, so its turn sees the database's version row set back to 4 (the one column
schema 5 adds, each passage's sentence keys, it never reads); the row is restored after.
1 FAISS/BLAS thread; the server as pg_scale.py runs it. Writes
benchmarks/results/pg_reader-<N>.json.

    git -C /work/main archive 28399c1 src | tar -x -C /tmp/pgread-base
    .venv/bin/python benchmarks/pg_reader.py --passages 10000 --baseline /tmp/pgread-base/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import pg_scale  # noqa: E402
import scale  # noqa: E402
from pgserver import PgServer  # noqa: E402

RESULTS = HERE / "results"
SRC = HERE.parent / "src"


def phase_reader(url: str, cache: Path, threshold: int) -> dict[str, Any]:
    """One fresh reader: load, RSS, query times, the article listing, every question's top 5."""
    import qabot

    retriever, figures = pg_scale.fresh_reader(url, cache, threshold)
    out: dict[str, Any] = {"code": str(Path(qabot.__file__).parent.parent)} | figures
    real = scale.real_parts(cache)
    questions, texts = real["questions"], real["question_texts"].tolist()
    out["rss_queried_mb"] = round(scale.rss_mb())
    t = time.perf_counter()
    listed = retriever.articles()  # (the bot's /sources; here a GROUP BY)
    out["articles_s"], out["articles"] = round(time.perf_counter() - t, 3), len(listed)
    out["top5"] = [
        [p.id for p in retriever.search(text, k=5, vector=vector)]
        for text, vector in zip(texts, questions, strict=True)
    ]
    return out


def reader(src: Path, url: str, cache: Path, threshold: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "--phase", "reader", "--url", url]
    args += ["--cache", str(cache), "--threshold", str(threshold)]
    env = os.environ | {"PYTHONPATH": str(src)}
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"the reader of {src} failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def as_version(url: str, version: int) -> None:
    """Set the schema's version row (the old code's turn: 4; this checkout's: 5)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM qabot_schema WHERE version > %s", (version,))
        if version == 5:
            conn.execute("INSERT INTO qabot_schema VALUES (5)")


def main() -> None:
    from qabot.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--baseline", type=Path, help="the old code's src folder")
    parser.add_argument("--src", type=Path, default=SRC, help="the new code's src folder")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each code")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--threshold", type=int, default=Settings().ann_threshold)
    parser.add_argument("--shared-buffers", default="512MB")
    parser.add_argument("--phase", choices=["reader"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase_reader(args.url, args.cache, args.threshold)))
        return
    scale.real_parts(args.cache)
    options = (
        f"-c shared_buffers={args.shared_buffers} -c maintenance_work_mem=1GB "
        "-c wal_level=minimal -c max_wal_senders=0 -c synchronous_commit=off "
        "-c max_wal_size=2GB"
    )
    server = PgServer.start(options)
    out: dict[str, Any] = {"passages": args.passages, "cpus": os.cpu_count(), "threads": 1}
    out["load_before"] = scale.load()
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    try:
        url = server.new_database("reader")
        out |= pg_scale.child("build", args.passages, url, args.cache, args.threshold)
        for turn in range(args.rounds):
            for arm in ("before", "after") if turn % 2 == 0 else ("after", "before"):
                if arm == "before" and args.baseline is None:
                    continue
                as_version(url, 4 if arm == "before" else 5)
                try:
                    row = reader(args.baseline if arm == "before" else args.src, url, args.cache,
                                 args.threshold)  # fmt: skip
                finally:
                    as_version(url, 5)
                row["load_avg"] = scale.load()
                runs[arm].append(row)
                print(arm, {k: v for k, v in row.items() if k != "top5"}, file=sys.stderr)
    finally:
        server.destroy()
    out["load_after"] = scale.load()
    tops = [r.pop("top5") for rs in runs.values() for r in rs]
    out["same_top5"] = all(t == tops[0] for t in tops)
    out["runs"] = runs
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pg_reader-{args.passages}.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    main()
