"""Where a build's (or an incremental edit's) memory and CPU go, stage by stage.

    PYTHONPATH=src .venv/bin/python benchmarks/build_memory.py 100000 [--edits edit_article]

Builds the synthetic corpus of ``scale.py`` (same text and vectors) once, from scratch, then
runs the named incremental edits (``scale.EDITS``), each a full `index_chunks` as
`qabot index` runs it. For each stage (a function of the build path, wherever it exists)
it prints, each time it runs: RSS at its start, peak RSS and peak anonymous RSS while it ran
(sampled every 50 ms; a stage inside another counts in both), anonymous RSS at its end, and
its CPU and wall seconds. Anonymous RSS leaves out mapped files (a build's scratch files,
whose pages the kernel writes back and drops under pressure). With ``--json`` the rows go
to a file. Run it with ``PYTHONPATH`` pointing at another checkout's ``src`` to profile that
version: stages missing there are skipped.

    build_memory.py 300000 --edits add_article,edit_article,remove_article --compare OLD/src

runs this checkout and ``OLD/src`` side by side (two processes started together, so under the
same load) and writes both to benchmarks/results/edit_memory.json (table ``edit-memory`` of
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Before NumPy loads (through scale): one BLAS thread, as scale.py runs; spare threads only
# spin on a shared machine and inflate the CPU figures.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import scale  # noqa: E402

#: (module, owner or "", function) of every stage timed, where it exists.
STAGES = [
    ("scale", "", "corpus"),
    ("qabot.index.build", "", "_previous"),
    ("qabot.index.build", "", "split_all"),
    ("qabot.index.snapshot", "Snapshot", "passage_hashes"),
    ("qabot.index.build", "", "update_bridge"),
    ("qabot.index.files", "FileStore", "update_bridge"),
    ("qabot.index.build", "", "_sync"),
    ("qabot.index.build", "", "sync_passages"),
    ("qabot.index.build", "", "sentence_layout"),
    ("qabot.index.build", "", "_sentence_vectors"),
    ("qabot.index.build", "", "build_sentence_vectors"),
    ("qabot.index.snapshot", "Snapshot", "sentence_ids_by_text"),
    ("qabot.index.snapshot", "Snapshot", "stored_sentence_ids"),
    ("qabot.index.lexical", "LexicalIndex", "updated"),
    ("qabot.index.files", "FileStore", "commit"),
    ("qabot.index.vectors", "FaissIndex", "save"),
    ("qabot.index.halfvectors", "HalfIndex", "save"),
    ("qabot.index.lexical", "LexicalIndex", "save"),
    ("qabot.index.passages", "PassageTable", "of"),
    ("qabot.index.passages", "PassageTable", "save"),
]

_active: list[dict[str, float]] = []  # the frames of the stages running now
rows: list[dict[str, Any]] = []
phase = {"name": "build"}


def _sample() -> None:
    while True:
        rss, anon = scale.rss_mb(), scale.rss_mb("RssAnon:")
        for frame in list(_active):
            frame["peak"] = max(frame["peak"], rss)
            frame["anon"] = max(frame["anon"], anon)
        time.sleep(0.05)


def wrap(owner: Any, name: str) -> None:
    """Report ``owner.name``'s memory and CPU each time it runs."""
    label = f"{owner.__name__}.{name}" if isinstance(owner, type) else name
    raw = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    is_static = isinstance(raw, staticmethod)
    is_class = isinstance(raw, classmethod)
    inner = raw.__func__ if is_static or is_class else raw

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, anon = scale.rss_mb(), scale.rss_mb("RssAnon:")
        frame = {"peak": start, "anon": anon}
        _active.append(frame)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            del _active[next(i for i, f in enumerate(_active) if f is frame)]
            end = scale.rss_mb("RssAnon:")
            row = {
                "phase": phase["name"], "stage": label, "rss_start_mb": round(start),
                "peak_rss_mb": round(max(frame["peak"], scale.rss_mb())),
                "peak_anon_mb": round(max(frame["anon"], end)), "anon_end_mb": round(end),
                "cpu_s": round(time.process_time() - cpu, 2),
                "wall_s": round(time.perf_counter() - wall, 2),
            }  # fmt: skip
            rows.append(row)
            print(
                f"{phase['name']:>14} {label:>24}: RSS {start:6.0f} → peak {row['peak_rss_mb']:6d}"
                f" MB, anon peak {row['peak_anon_mb']:6d} → {end:6.0f} MB, CPU "
                f"{row['cpu_s']:6.2f} s, wall {row['wall_s']:6.2f} s",
                flush=True,
            )

    if is_static:
        setattr(owner, name, staticmethod(timed))
    elif is_class:
        setattr(owner, name, classmethod(timed))
    else:
        setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("size", type=int)
    parser.add_argument("--edits", default="", help="incremental edits after the build")
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/qabot-build-memory"))
    parser.add_argument("--json", type=Path, help="write the rows (and totals) here")
    parser.add_argument("--compare", type=Path, help="another version's src: run both")
    parser.add_argument("--out", default="edit_memory.json", help="--compare's file in results/")
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    threading.Thread(target=_sample, daemon=True).start()
    for module, owner, name in STAGES:
        where: Any = importlib.import_module(module)
        where = getattr(where, owner) if owner else where
        if name in (where.__dict__ if isinstance(where, type) else vars(where)):
            wrap(where, name)
    import qabot.index.build as build

    edits = tuple(e for e in args.edits.split(",") if e)
    order = iter(["build", *(e for e in scale.EDITS if e in edits)])
    inner = build.index_chunks

    def index_chunks(chunks: Any, *a: Any, **k: Any) -> Any:
        """Each call is the next phase: the build, then the edits in scale's order."""
        phase["name"] = next(order)
        return inner(chunks, *a, **k)

    import qabot.index as index

    index.index_chunks = index_chunks  # scale.phase_build imports it from there
    wrap(index, "index_chunks")
    shutil.rmtree(args.work, ignore_errors=True)
    row = scale.phase_build(args.size, args.work, args.cache, 200_000, edits=edits)
    shutil.rmtree(args.work, ignore_errors=True)
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {high:.0f} MB, load {scale.load()}; {row}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "rows": rows, "totals": row}) + "\n")


def compare(args: argparse.Namespace) -> None:
    """Profile ``args.compare`` ("before") and this checkout ("after") at once."""
    here = Path(__file__).resolve().parent
    runs = {}
    for name, src in (("before", args.compare.resolve()), ("after", here.parent / "src")):
        env = os.environ | {"PYTHONPATH": f"{src}{os.pathsep}{here}"}
        out = Path(f"/tmp/qabot-build-memory-{name}.json")
        cmd = [sys.executable, __file__, str(args.size), "--edits", args.edits, "--cache",
               str(args.cache), "--work", f"{args.work}-{name}", "--json", str(out)]  # fmt: skip
        runs[name] = (subprocess.Popen(cmd, env=env), out, src)
    result: dict[str, Any] = {"size": args.size, "load_before": scale.load()}
    for name, (process, out, src) in runs.items():
        if process.wait():
            raise SystemExit(f"{name} failed")
        result[name] = json.loads(out.read_text()) | {"src": str(src)}
    result["load_after"] = scale.load()
    target = here / "results" / args.out
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
