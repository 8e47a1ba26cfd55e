"""Same vectors, two index formats: does storing the sentence vectors once per distinct text in
float16 change ARCD's ranking and highlight? (issue 12, store slice)

Runs ``qabot.evaluate.evaluate`` on ARCD with the hashed-word encoder of ``tests/fakes.py``
(no model: cheap, deterministic, and the same vectors for every code version) once per qabot
source tree given, each in its own process, and writes R@1, R@5, MRR@10 and the highlight
share per tree to ``benchmarks/results/format_parity.json``. The absolute figures mean nothing
(hashed words are no model); the differences between the trees are what the format does.
``qabot eval`` with the real model gives the real figures.

    .venv/bin/python benchmarks/format_parity.py --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
RESULTS = ROOT / "benchmarks" / "results" / "format_parity.json"


def worker(data: Path) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes import HashEncoder

    from qabot.config import Settings
    from qabot.evaluate import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        report = evaluate(data, Settings(), HashEncoder(dim=384), cache=Path(tmp))
    return report.model_dump(include={"n", "r1", "r5", "mrr10", "highlight", "highlight_n"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--baseline", type=Path, help="another qabot src folder")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data)))
        return
    arms = {"current": ROOT / "src"} | ({"baseline": args.baseline} if args.baseline else {})
    results = {}
    for arm, src in arms.items():
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "--data", str(args.data)],
            env=os.environ | {"PYTHONPATH": str(src)}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[arm] = json.loads(out.stdout.strip().splitlines()[-1])
        print(arm, results[arm], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
