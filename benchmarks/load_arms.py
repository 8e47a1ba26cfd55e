"""The load test's three fault arms, taking turns, so that the machine's load weighs on each alike.

    .venv/bin/python benchmarks/load_arms.py [--rounds 2] [--timelines DIR] [load_test options]

Each round runs ``load_test.py`` once per arm, in this order, writing
``results/load_test-arms-<arm>-<round>.json`` (the "load-arms" table of benchmarks/README.md):

- ``issue``: the issue's fault mix, 5 % 5xx and 1 % 429 on getUpdates and sendMessage alike;
- ``sends``: 429s on sendMessage alone (``--poll-limits 0``), where Telegram documents its
  flood limits; 5xx still on both;
- ``webhook``: updates POSTed to the bot (``--webhook``), faults on sendMessage.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {"issue": [], "sends": ["--poll-limits", "0"], "webhook": ["--webhook"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timelines", type=Path, help="write each run's timeline here too")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="the JSON's folder")
    args, extra = parser.parse_known_args()  # the rest goes to every load_test.py run
    failed = 0
    for round_ in range(1, args.rounds + 1):
        for arm, options in ARMS.items():
            name = f"load_test-arms-{arm}-{round_}"
            command = [sys.executable, str(HERE / "load_test.py"), *options, *extra]
            command += ["--json", str(args.out / f"{name}.json")]
            if args.timelines:
                args.timelines.mkdir(parents=True, exist_ok=True)
                command += ["--timeline", str(args.timelines / f"{name}.json")]
            print(f"== {name}", flush=True)
            failed |= subprocess.run(command, check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
