"""One-article edits against the database, this checkout's code against another's, alternating.

pg_scale.py's edit (scale.py's corpus, chunk 0's text changed, `index_chunks` as `qabot index`
runs it) on one database, each in a child process whose ``PYTHONPATH`` is this checkout's
``src`` or the baseline's (``--baseline``, e.g. ``git archive <commit> src | tar -x -C /tmp/b``),
in turns (baseline, this, baseline, this…), so both arms see the same database and load. Each
edit appends a different word, so each changes one passage. Kept per edit: wall and client
CPU seconds, peak anonymous RSS, the commit's steps, and how many JSON values psycopg decoded
(a passage row holds two: its record and its sentences). Builds the database first (as
pg_scale.py's build) unless ``--url`` names one built by it. Writes
benchmarks/results/pg_edit-<N>.json.

    .venv/bin/python benchmarks/pg_edit.py --passages 10000 --baseline /tmp/b/src
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
SERVER = (
    "-c shared_buffers=512MB -c maintenance_work_mem=1GB -c wal_level=minimal "
    "-c max_wal_senders=0 -c synchronous_commit=off -c max_wal_size=2GB"
)


def phase_edit(n: int, url: str, cache: Path, threshold: int, suffix: str) -> dict[str, Any]:
    """pg_scale.py's edit, counting the JSON values psycopg decodes meanwhile."""
    import psycopg.types.json

    decoded = [0]

    def loads(data: str | bytes) -> Any:
        decoded[0] += 1
        return json.loads(data)

    psycopg.types.json.set_json_loads(loads)
    out = pg_scale.phase_edit(n, url, cache, threshold, suffix)
    return out | {"json_decoded": decoded[0]}


def child(src: Path, args: argparse.Namespace, url: str, suffix: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", "edit", "--passages", str(args.passages)]
    command += ["--url", url, "--cache", str(args.cache), "--threshold", str(args.threshold)]
    command += ["--suffix", suffix]
    env = os.environ | {"PYTHONPATH": str(src)}
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"edit with {src} failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--baseline", type=Path, help="the other code's src folder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", help="a database pg_scale.py's build made (else one is built)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--threshold", type=int, default=200_000)
    parser.add_argument("--phase", choices=["edit"], help=argparse.SUPPRESS)
    parser.add_argument("--suffix", default=" تحديث", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out = phase_edit(args.passages, args.url, args.cache, args.threshold, args.suffix)
        print(json.dumps(out))
        return
    scale.real_parts(args.cache)
    server = None if args.url else PgServer.start(SERVER)
    arms = {"this": HERE.parent / "src", "baseline": args.baseline}
    run: dict[str, Any] = {"passages": args.passages, "load_before": scale.load(), "edits": []}
    try:
        url = args.url
        if server is not None:
            url = server.new_database("edit")
            run["build"] = pg_scale.child("build", args.passages, url, args.cache, args.threshold)
        for i in range(args.rounds):
            for arm in ("baseline", "this") if args.baseline else ("this",):
                row = child(arms[arm], args, url, f" تحديث{time.time_ns() % 10**9}")
                row |= {"arm": arm, "src": str(arms[arm]), "round": i, "load": scale.load()}
                print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
                run["edits"].append(row)
    finally:
        if server is not None:
            server.destroy()
    run["load_after"] = scale.load()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pg_edit-{args.passages}.json"
    path.write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    main()
