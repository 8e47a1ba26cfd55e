"""Where a build's memory goes: peak RSS per stage of `benchmarks/scale.py`'s build.

    PYTHONPATH=src .venv/bin/python benchmarks/build_memory.py 100000

Builds the synthetic corpus of ``scale.py`` (same text and vectors) once, from scratch, and
prints for each stage of `index_chunks` the RSS when it started, its peak (sampled every
50 ms), the RSS and anonymous RSS when it ended, and its CPU seconds. Anonymous RSS leaves
out mapped files (a build's scratch files since the streaming build, whose pages the kernel
writes back and drops under pressure). Run it with ``PYTHONPATH`` pointing at another
checkout's ``src`` to compare two versions (the stages it wraps must exist there).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
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

peak = {"rss": 0.0, "anon": 0.0}


def _sample() -> None:
    while True:
        peak["rss"] = max(peak["rss"], scale.rss_mb())
        peak["anon"] = max(peak["anon"], scale.rss_mb("RssAnon:"))
        time.sleep(0.05)


def wrap(owner: Any, name: str) -> None:
    """Report ``owner.name``'s memory and CPU each time it runs."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu = scale.rss_mb(), time.process_time()
        peak["rss"] = start
        out = inner(*args, **kwargs)
        end, anon = scale.rss_mb(), scale.rss_mb("RssAnon:")
        print(
            f"{name:>18}: RSS {start:6.0f} → peak {peak['rss']:6.0f} → {end:6.0f} MB, "
            f"anon at end {anon:6.0f} MB, CPU {time.process_time() - cpu:5.1f} s",
            flush=True,
        )
        return out

    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("size", type=int)
    parser.add_argument("--cache", type=Path, default=Path(".cache/scale"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/qabot-build-memory"))
    args = parser.parse_args()
    import qabot.index.build as build
    from qabot.index.files import FileStore
    from qabot.index.lexical import LexicalIndex

    threading.Thread(target=_sample, daemon=True).start()
    wrap(scale, "corpus")
    for name in ("split_all", "update_bridge", "_sync", "sentence_layout", "_sentence_vectors"):
        wrap(build, name)
    wrap(LexicalIndex, "updated")
    wrap(FileStore, "commit")
    shutil.rmtree(args.work, ignore_errors=True)
    row = scale.phase_build(args.size, args.work, args.cache, 200_000, edits=())
    shutil.rmtree(args.work, ignore_errors=True)
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {high:.0f} MB, peak anonymous RSS {peak['anon']:.0f} MB, load "
          f"{scale.load()}; {row}")  # fmt: skip


if __name__ == "__main__":
    main()
