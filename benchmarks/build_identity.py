"""Do two qabot source trees build byte-identical indexes? (issue 12: speed-ups must not
change what is built.)

    git archive 0d3e9f9 src | tar -x -C /tmp/base
    .venv/bin/python benchmarks/build_identity.py /tmp/base/src [--corpus arcd seed probe]

Each corpus (ARCD as 146 articles, the repo's seed articles, the 22 MB probe of
``build_throughput.py``) is indexed from scratch by each tree in its own process, with the hash
encoder of ``tests/fakes.py`` for vectors and the tree's own token counting on the bundled
model's tokenizer (as ``build_throughput.py`` counts). Every file of the generation and
``bridge.npz`` is hashed (``manifest.json`` without its build time); prints and writes
(``results/build_identity.json``) which files differ. Exit status 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "build_identity.json"


def worker(articles: Path, index: Path) -> dict[str, str]:
    sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
    import build_throughput as bt
    from fakes import HashEncoder

    import qabot.index.build as build
    from qabot.config import Settings

    count = bt._counter(bt._tokenizer())
    encoder = HashEncoder(dim=bt.DIM, model_id="bench-hash")
    if count is not None:  # as the tree's encoders count (their TokenCounter itself)
        encoder.count_tokens = count  # type: ignore[method-assign]
    settings = Settings(articles_dir=articles, index_dir=index)
    build.build_index(settings, encoder=encoder)
    generation = index / (index / "CURRENT").read_text(encoding="utf-8").strip()
    out = {}
    for path in sorted([*generation.rglob("*"), index / "bridge.npz"]):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "manifest.json":
                manifest = json.loads(data)
                manifest.pop("built", None)
                data = json.dumps(manifest, sort_keys=True).encode("utf-8")
            out[str(path.relative_to(index))] = hashlib.sha256(data).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path, nargs="?", help="the other qabot src folder")
    parser.add_argument("--corpus", nargs="+", default=["arcd", "seed", "probe"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]))))
        return 0
    if args.baseline is None:
        parser.error("give the other src folder")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import build_throughput as bt

    trees = {"current": ROOT / "src", "baseline": args.baseline.resolve()}
    result: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpus:
            articles = ROOT / "articles" if corpus == "seed" else Path(tmp) / corpus
            if corpus != "seed":
                {"probe": bt.write_probe, "arcd": bt.write_arcd}[corpus](bt.DATA, articles)
            hashes = {}
            for name, src in trees.items():
                index = Path(tmp) / f"{corpus}-{name}"
                env = os.environ | {"PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
                run = subprocess.run(
                    [sys.executable, __file__, "--worker", str(articles), str(index)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                hashes[name] = json.loads(run.stdout.strip().splitlines()[-1])
                shutil.rmtree(index)
            a, b = hashes["current"], hashes["baseline"]
            differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            result[corpus] = {"files": len(a), "differ": differ}
            print(corpus, f"{len(a)} files,", "identical" if not differ else f"differ: {differ}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r["differ"] for r in result.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
