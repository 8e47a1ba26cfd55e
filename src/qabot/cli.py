"""The `qabot` command: index, ask, chat, eval, bot."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import Settings
from .errors import QabotError
from .fusion import MODES


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "articles", None):
        overrides["articles_dir"] = Path(args.articles)
    if getattr(args, "wait", None) is not None:
        overrides["lock_timeout"] = args.wait
    return Settings(**overrides)


def _print_skipped(skipped: list[str]) -> None:
    for line in skipped:
        print(f"warning: skipped {line}", file=sys.stderr)


def _retriever(settings: Settings):
    from .retriever import Retriever

    return Retriever.load(settings=settings)


def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index from the articles folder."""
    if args.watch:
        from .watch import watch

        return watch(_settings(args), full=args.full)
    from .index import build_index

    report = build_index(
        _settings(args), full=args.full, progress=not args.json and sys.stderr.isatty()
    )
    _print_skipped(report.skipped)
    print(report.model_dump_json() if args.json else report.summary())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question from the command line."""
    from .render import terminal_answer

    settings = _settings(args)
    retriever = _retriever(settings)
    from .chat import terminal_question

    question = terminal_question(" ".join(args.question), settings.max_question_chars)
    k = args.k or settings.top_k
    if args.json:
        passages = retriever.search(question, k=k)
        print(
            json.dumps([p.model_dump(mode="json") for p in passages], ensure_ascii=False, indent=1)
        )
        return 0
    print(terminal_answer(retriever.ask(question, k=k), color=sys.stdout.isatty()))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """An interactive terminal chat over the same retriever."""
    from .chat import chat

    settings = _settings(args)
    return chat(settings, k=args.k or settings.top_k)


def cmd_eval(args: argparse.Namespace) -> int:
    """Score retrieval on a file in the retrieval-eval format."""
    from .evaluate import evaluate, report_json
    from .model import load_encoder

    settings = _settings(args)
    report = evaluate(
        Path(args.file),
        settings,
        load_encoder(settings),
        mode=args.mode,
        k=args.k,
        unanswerable=args.unanswerable,
        cache=Path(args.cache) if args.cache else None,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        print(report_json(report))
        return 0
    print(
        f"{report.name} ({report.mode}, {report.n} questions): R@1 {report.r1:.3f}  "
        f"R@5 {report.r5:.3f}  MRR@10 {report.mrr10:.3f}  "
        f"p50 {report.p50_ms:.1f} ms  p95 {report.p95_ms:.1f} ms  "
        f"(bare query encoding p50 {report.encode_p50_ms:.1f} ms)"
    )
    if report.highlight is not None:
        print(
            f"highlight: the bold sentence overlaps the answer in {report.highlight:.1%} of "
            f"{report.highlight_n} right first passages that contain the answer text"
        )
    if report.answered is not None:
        print(
            f"abstention: answerable answered {report.answered:.1%} "
            f"(correct at rank 1 {report.answered_correct:.1%}), "
            f"unanswerable refused {report.refused_unanswerable:.1%}"
        )
    return 0


def cmd_bot(args: argparse.Namespace) -> int:
    """Run the Telegram bot (needs TELEGRAM_BOT_TOKEN)."""
    from .telegram_bot import run_bot

    return run_bot(_settings(args))


def cmd_run(args: argparse.Namespace) -> int:
    """The quick-start job: the bot when a token is set, a terminal chat otherwise."""
    settings = _settings(args)
    if settings.telegram_bot_token:
        return cmd_bot(args)
    from .index import build_index

    report = build_index(settings, progress=sys.stderr.isatty())
    _print_skipped(report.skipped)
    print(report.summary(), file=sys.stderr)
    from .chat import chat

    return chat(settings, k=args.k or settings.top_k)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qabot", description="Ask questions about Arabic news articles."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and decisions")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, func, help: str, corpus: bool = False) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        sp.add_argument(
            "--index", metavar="DIR", help="index folder (QABOT_INDEX_DIR, embeddings/)"
        )
        if corpus:
            sp.add_argument(
                "--articles", metavar="DIR", help="articles folder (QABOT_ARTICLES_DIR, articles/)"
            )
        return sp

    sp = command("index", cmd_index, "build or update the index from the articles", corpus=True)
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--full", action="store_true", help="re-embed everything")
    sp.add_argument("--watch", action="store_true", help="keep watching the articles folder")
    sp.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for another build of this index (QABOT_LOCK_TIMEOUT, 600)",
    )

    sp = command("ask", cmd_ask, "answer one question")
    sp.add_argument("question", nargs="+")
    sp.add_argument("-k", type=int, help="passages to show (QABOT_TOP_K, 3)")
    sp.add_argument("--json", action="store_true", help="print the passages as JSON")

    sp = command("chat", cmd_chat, "interactive terminal chat")
    sp.add_argument("-k", type=int, help="passages to show (QABOT_TOP_K, 3)")

    sp = command("eval", cmd_eval, "score retrieval on a *.retrieval.json file")
    sp.add_argument("file")
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--mode", choices=MODES, default="hybrid")
    sp.add_argument("--unanswerable", action="store_true", help="also measure abstention")
    sp.add_argument("--cache", metavar="DIR", help="keep the eval index here between runs")
    sp.add_argument("--json", action="store_true")

    command("bot", cmd_bot, "run the Telegram bot", corpus=True)
    sp = command(
        "run", cmd_run, "the bot if TELEGRAM_BOT_TOKEN is set, else a terminal chat", corpus=True
    )
    sp.add_argument("-k", type=int, help="passages to show (QABOT_TOP_K, 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except QabotError as exc:
        print(f"qabot: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a bad QABOT_* value
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        print(f"qabot: QABOT_{field.upper()}: {error['msg']}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that is a file, unwritable, full disk…
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"qabot: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
