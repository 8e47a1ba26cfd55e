"""`qabot add` of one news page, end to end, with the real model.

Serves the test news site (tests/newsroom.py) on 127.0.0.1, indexes the bundled seed
article, then times:

(a) ``qabot add URL`` as a fresh process (interpreter start, model load, fetch, extract,
    write, incremental index update): what an editor waits for at the terminal;
(b) ``ingest.add_sources([url])`` in a process that already holds the model, as the bot
    does: split into fetch + extract + write and the index update, over four pages.

    .venv/bin/python benchmarks/ingest_add.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from newsroom import serve  # noqa: E402

from qabot.config import Settings  # noqa: E402
from qabot.index import build_index  # noqa: E402
from qabot.ingest import AddReport, Corpus, add_one, update_index  # noqa: E402
from qabot.model import load_encoder  # noqa: E402

SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
PAGES = ["/news/desalination.html", "/news/olives.html", "/news/library.html", "/news/buses.html"]


def seeded(root: Path, encoder: object) -> Settings:
    (root / "articles").mkdir(parents=True)
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings(
        articles_dir=root / "articles", index_dir=root / "index", fetch_allow_private=True
    )
    build_index(settings, encoder=encoder)  # type: ignore[arg-type]
    return settings


def main() -> None:
    encoder = load_encoder(Settings())
    with serve() as site, tempfile.TemporaryDirectory() as tmp:
        # (a) a fresh `qabot add` process
        cold = []
        for n, page in enumerate(PAGES[:3]):
            settings = seeded(Path(tmp) / f"cli{n}", encoder)
            env = dict(os.environ, QABOT_FETCH_ALLOW_PRIVATE="1")
            args = [sys.executable, "-m", "qabot", "add", site.url(page)]
            args += ["--articles", str(settings.articles_dir), "--index", str(settings.index_dir)]
            started = time.perf_counter()
            subprocess.run(args, check=True, env=env, capture_output=True)
            cold.append(time.perf_counter() - started)

        # (b) in a process that holds the model
        settings = seeded(Path(tmp) / "warm", encoder)
        reading, indexing = [], []
        for page in PAGES:
            report = AddReport()
            started = time.perf_counter()
            add_one(site.url(page), Corpus(settings.articles_dir), settings, report)
            middle = time.perf_counter()
            update_index(report, settings, encoder)
            done = time.perf_counter()
            assert len(report.added) == 1, report
            reading.append(middle - started)
            indexing.append(done - middle)
    print("| measure | median | runs |")
    print("|---|---|---|")
    print(f"| `qabot add URL`, fresh process | {statistics.median(cold):.1f} s | {len(cold)} |")
    total = [r + i for r, i in zip(reading, indexing, strict=True)]
    print(f"| add_sources, model loaded: total | {statistics.median(total):.2f} s | {len(total)} |")
    print(f"| … fetch + extract + write | {statistics.median(reading) * 1000:.0f} ms | |")
    print(f"| … incremental index update | {statistics.median(indexing):.2f} s | |")


if __name__ == "__main__":
    main()
