"""The figure tables in benchmarks/README.md are exactly what the benchmark scripts wrote.

The scripts write ``benchmarks/results/*.json`` and ``benchmarks/figures.py`` renders the
tables between the ``figures`` markers; a table edited by hand, or results updated without
rendering, fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_tables_match_the_results() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "figures.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_every_marked_table_has_a_renderer_and_is_filled() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import figures

    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    names = [m[2] for m in figures.MARKED.finditer(text)]
    assert sorted(names) == sorted(figures.TABLES)
    assert all(m[3].strip() for m in figures.MARKED.finditer(text))
