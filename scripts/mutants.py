"""Targeted mutation testing: break the code on purpose, check that a test notices.

    .venv/bin/python scripts/mutants.py [--only NAME] [--markdown docs/mutation.md]

Each mutant below is one small, plausible bug in the modules whose mistakes are silent
(render.py, arabic.py, the language gate in retriever.py/fusion.py, index/files.py and
fsio.py), with the quick (not ``slow``) tests that should kill it. The script applies one
mutant at a time, runs those tests, puts the file back (always), and reports which mutants
survived. A surviving mutant is a test to write, or an equivalent change to explain in
docs/mutation.md. Exit status 1 if any survives.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "qabot"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/qabot
    old: str
    new: str
    tests: tuple[str, ...]


RENDER = ("tests/test_render.py",)
ARABIC = ("tests/test_arabic.py", "tests/test_language_gate.py")
GATE = ("tests/test_language_gate.py", "tests/test_fusion.py")
FILES = ("tests/test_index.py",)

MUTANTS = [
    # render.py: what Telegram would reject, or what a reader would misread
    Mutant("href not quote-escaped", "render.py", 'html.escape(href or "", quote=True)',
           'html.escape(href or "", quote=False)', (*RENDER, "-k", "urls_with_quotes")),
    Mutant("text not escaped", "render.py", 'out.append(_wrap("".join(html.escape(s.text)',
           'out.append(_wrap("".join((s.text)', (*RENDER, "-k", "sources_and_welcome")),
    Mutant("any scheme linked", "render.py", r're.match(r"https?://\S+\Z", url)',
           r're.match(r"\S+\Z", url)', (*RENDER, "-k", "bad_urls")),
    Mutant("over-long href linked", "render.py", "telegram_length(html.escape(url)) <= 1024",
           "telegram_length(html.escape(url)) <= 10**6", (*RENDER, "-k", "bad_urls")),
    Mutant("long sentence cut by characters", "render.py",
           "for word in _pieces(sentence, _WORD):", "for word in [sentence]:",
           (*RENDER, "-k", "word_boundaries")),
    Mutant("message limit exceeded", "render.py", "limit: int = MAX_MESSAGE) -> list[str]:",
           "limit: int = MAX_MESSAGE + 200) -> list[str]:", (*RENDER, "-k", "fit_parse")),
    Mutant("no RLM before left-to-right lines", "render.py",
           'if kind in ("L", "EN", "AN"):\n            return True',
           'if kind in ("L", "EN", "AN"):\n            return False', (*RENDER, "-k", "rlm")),
    # arabic.py: the language gate's test and the matching keys
    Mutant("exactly half is not Arabic", "arabic.py", "return arabic * 2 >= len(letters)",
           "return arabic * 2 > len(letters)", ARABIC),
    Mutant("digits count as letters", "arabic.py",
           "letters = [ch for ch in text if ch.isalpha()]",
           "letters = [ch for ch in text if not ch.isspace()]", ARABIC),
    Mutant("no letters counts as Arabic", "arabic.py",
           "    if not letters:\n        return False", "    if not letters:\n        return True",
           ARABIC),
    Mutant("hamza on alef not folded", "arabic.py", '    "أ": "ا",\n', "", ARABIC),
    Mutant("taa marbuta not folded", "arabic.py", '    "ة": "ه",\n', "", ARABIC),
    Mutant("RLO kept by sanitize", "arabic.py",
           "*range(0x80, 0xA0), *_char_range(0x202A, 0x202E)]",
           "*range(0x80, 0xA0), *_char_range(0x202A, 0x202D)]", ARABIC),
    Mutant("harakat kept", "arabic.py", "*_char_range(0x064B, 0x065F),  # harakat",
           "*_char_range(0x064B, 0x064B),  # harakat", ARABIC),
    # the language gate: which questions get BM25 and which calibration
    Mutant("every question Arabic", "retriever.py",
           "arabic, words = is_mostly_arabic(question), self._bridged(question, mode)",
           "arabic, words = True, self._bridged(question, mode)", GATE),
    Mutant("no question Arabic", "retriever.py",
           "arabic, words = is_mostly_arabic(question), self._bridged(question, mode)",
           "arabic, words = False, self._bridged(question, mode)", GATE),
    Mutant("BM25 pooled for any language", "retriever.py",
           'legs: Mode = "dense" if mode == "hybrid" and not arabic and not words else mode',
           "legs: Mode = mode", GATE),
    Mutant("Arabic calibration for all", "fusion.py",
           "confidence=passage_confidence(found, i, arabic, w),",
           "confidence=passage_confidence(found, i, True, w),", GATE),
    Mutant("fusion ignores the gate", "fusion.py",
           'if mode == "dense" or not (arabic or found.bridged):', 'if mode == "dense":', GATE),
    Mutant("one calibration", "fusion.py",
           "weights.conf_arabic if arabic else weights.conf_other", "weights.conf_arabic", GATE),
    # index/files.py and fsio.py: what a crash or a concurrent reader would see
    Mutant("CURRENT written in place", "index/files.py",
           'write_atomic(self.folder / CURRENT, name + "\\n")',
           '(self.folder / CURRENT).write_text(name + "\\n")', FILES),
    Mutant("CURRENT switched before publishing", "index/files.py",
           '        publish_dir(tmp, self.folder / name)\n'
           '        write_atomic(self.folder / CURRENT, name + "\\n")',
           '        write_atomic(self.folder / CURRENT, name + "\\n")\n'
           '        publish_dir(tmp, self.folder / name)', FILES),
    Mutant("previous generation pruned", "index/files.py", "self._prune(keep={name, previous})",
           "self._prune(keep={name})", FILES),
    Mutant("pointer to any folder accepted", "index/files.py",
           "        if not _GEN_NAME.fullmatch(name):\n",
           "        if False:\n", FILES),
    Mutant("write_atomic writes in place first", "fsio.py",
           '    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)',
           '    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)\n'
           '    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)', FILES),
    Mutant("folder renamed before its files are complete", "fsio.py",
           "    fsync_tree(tmp)\n    os.replace(tmp, target)",
           "    os.replace(tmp, target)\n    fsync_tree(target)", FILES),
]  # fmt: skip


def run(mutant: Mutant) -> tuple[bool, float]:
    """Apply ``mutant``, run its tests, restore the file; (killed, seconds)."""
    path = SRC / mutant.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the text to mutate is not in {path} exactly once")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                "-m", "not slow", *mutant.tests]  # fmt: skip
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=900)
    finally:
        path.write_text(original, encoding="utf-8")
    return result.returncode != 0, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the mutants whose name contains this")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or args.only in m.name]
    rows, survivors = [], []
    for mutant in chosen:
        killed, seconds = run(mutant)
        verdict = "killed" if killed else "SURVIVED"
        print(f"{verdict:8} {seconds:6.1f} s  {mutant.path}: {mutant.name}", flush=True)
        rows.append(f"| `{mutant.path}` | {mutant.name} | {' '.join(mutant.tests)} | {verdict} |")
        if not killed:
            survivors.append(mutant.name)
    if args.markdown:
        table = "\n".join(["| module | mutant | tests run | result |", "|---|---|---|---|", *rows])
        args.markdown.write_text(table + "\n", encoding="utf-8")
    killed = len(chosen) - len(survivors)
    print(f"{killed} of {len(chosen)} killed; survived: {survivors or 'none'}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
