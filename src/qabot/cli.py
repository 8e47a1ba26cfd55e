"""The `qabot` command: index, ask, chat, eval, bot."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .config import Settings
from .errors import QabotError
from .fusion import MODES

if TYPE_CHECKING:
    from .encoder import Encoder
    from .ingest import AddReport
    from .retriever import Retriever

#: A subcommand: the parsed arguments and the encoder ``main`` was given (None: load it).
Command = Callable[[argparse.Namespace, "Encoder | None"], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "articles", None):
        overrides["articles_dir"] = Path(args.articles)
    if getattr(args, "wait", None) is not None:
        overrides["lock_timeout"] = args.wait
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    webhook = {"webhook": "webhook_url", "listen": "webhook_listen", "port": "webhook_port"}
    for name, field in webhook.items():
        if getattr(args, name, None) is not None:
            overrides[field] = getattr(args, name)
    return Settings.model_validate(overrides)


def _print_skipped(skipped: list[str]) -> None:
    for line in skipped:
        print(f"warning: skipped {line}", file=sys.stderr)


def _retriever(settings: Settings, encoder: Encoder | None) -> Retriever:
    from .retriever import Retriever

    return Retriever.load(settings=settings, encoder=encoder)


def _encoder(settings: Settings, encoder: Encoder | None) -> Encoder:
    """The given encoder, or the configured model loaded now (it takes seconds: load once)."""
    from .model import load_encoder

    return load_encoder(settings) if encoder is None else encoder


def cmd_index(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Build or update the index from the articles folder."""
    if args.watch:
        from .watch import watch

        return watch(_settings(args), full=args.full, encoder=encoder)
    from .index import build_index

    report = build_index(
        _settings(args),
        encoder=encoder,
        full=args.full,
        progress=not args.json and sys.stderr.isatty(),
    )
    _print_skipped(report.skipped)
    print(report.model_dump_json() if args.json else report.summary())
    return 0


def cmd_ask(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Answer one question from the command line."""
    from .render import terminal_answer

    settings = _settings(args)
    retriever = _retriever(settings, encoder)
    from .chat import terminal_question

    question = terminal_question(" ".join(args.question), settings.max_question_chars)
    k = args.k or settings.top_k
    from .questions import record_answer

    answer = retriever.ask(question, k=k)
    record_answer(settings, answer)
    if args.json:
        print(
            json.dumps(
                [p.model_dump(mode="json") for p in answer.passages], ensure_ascii=False, indent=1
            )
        )
        return 0
    print(terminal_answer(answer, color=sys.stdout.isatty()))
    return 0


def _eval_followups(args: argparse.Namespace, settings: Settings, encoder: Encoder | None) -> int:
    """`qabot eval --followups FILE`: follow-up R@1 alone vs in context, topic switches."""
    from .followups import evaluate_followups, format_report

    cache = Path(args.cache) if args.cache else None
    reports = evaluate_followups(
        Path(args.followups), settings, _encoder(settings, encoder), cache=cache
    )
    for report in reports:
        print(json.dumps(report.model_dump()) if args.json else format_report(report))
    return 0


def cmd_chat(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """An interactive terminal chat over the same retriever."""
    from .chat import chat

    settings = _settings(args)
    retriever = _retriever(settings, encoder)
    return chat(retriever, settings, k=args.k or settings.top_k)


def cmd_eval(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Score retrieval on a file in the retrieval-eval format."""
    from .evaluate import evaluate, report_json

    settings = _settings(args)
    if args.followups:
        return _eval_followups(args, settings, encoder)
    if not args.file:
        print("qabot: eval needs a FILE (or --followups FILE)", file=sys.stderr)
        return 2
    report = evaluate(
        Path(args.file),
        settings,
        _encoder(settings, encoder),
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


def _print_added(report: AddReport, as_json: bool) -> int:
    if as_json:
        print(report.model_dump_json())
    else:
        print(report.summary())
    return 0


def cmd_add(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Add web pages and files to the articles folder, then update the index."""
    from .ingest import add_sources

    return _print_added(add_sources(args.source, _settings(args), encoder=encoder), args.json)


def cmd_feed(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Add the new entries of RSS/Atom feeds, then update the index."""
    from .feeds import poll

    return _print_added(poll(_settings(args), args.url or None, encoder=encoder), args.json)


def cmd_stats(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """What readers asked: questions per day, share answered, top unanswered questions."""
    from .questions import QuestionLog
    from .render_admin import terminal_stats

    stats = QuestionLog.at(_settings(args)).stats(args.days, top=args.top)
    print(stats.model_dump_json(indent=1) if args.json else terminal_stats(stats))
    return 0


def cmd_bot(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """Run the Telegram bot (needs TELEGRAM_BOT_TOKEN)."""
    from .bot import run_bot

    return run_bot(_settings(args), encoder=encoder)


def cmd_db(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """`qabot db init`: create or migrate qabot's tables in QABOT_DATABASE_URL."""
    from .index.postgres import describe, init_database

    url = _settings(args).database_url
    if not url:
        print("qabot: db needs QABOT_DATABASE_URL or --database-url", file=sys.stderr)
        return 2
    before, after = init_database(url)
    state = "up to date" if before == after else f"migrated from version {before}"
    print(f"database {describe(url)}: qabot schema version {after} ({state})")
    return 0


def cmd_run(args: argparse.Namespace, encoder: Encoder | None) -> int:
    """The quick-start job: the bot when a token is set, a terminal chat otherwise."""
    settings = _settings(args)
    if settings.telegram_bot_token:
        return cmd_bot(args, encoder)
    from .chat import chat
    from .index import build_index

    encoder = _encoder(settings, encoder)  # once, for the build and the chat
    report = build_index(settings, encoder=encoder, progress=sys.stderr.isatty())
    _print_skipped(report.skipped)
    print(report.summary(), file=sys.stderr)
    retriever = _retriever(settings, encoder)
    return chat(retriever, settings, k=args.k or settings.top_k)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qabot", description="Ask questions about Arabic news articles."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and decisions")
    sub = p.add_subparsers(dest="command", required=True)

    def command(
        name: str, func: Command, help: str, corpus: bool = False
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        sp.add_argument(
            "--index", metavar="DIR", help="index folder (QABOT_INDEX_DIR, embeddings/)"
        )
        sp.add_argument(
            "--database-url",
            metavar="URL",
            help="keep the index in PostgreSQL instead (QABOT_DATABASE_URL; README)",
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
    sp.add_argument("file", nargs="?")
    sp.add_argument("--followups", metavar="FILE", help="score follow-up questions instead")
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--mode", choices=MODES, default="hybrid")
    sp.add_argument("--unanswerable", action="store_true", help="also measure abstention")
    sp.add_argument("--cache", metavar="DIR", help="keep the eval index here between runs")
    sp.add_argument("--json", action="store_true")

    sp = command("add", cmd_add, "add web pages or .html/.txt/.md files, then index", corpus=True)
    sp.add_argument("source", nargs="+", help="an http(s):// URL or a local file")
    sp.add_argument("--json", action="store_true", help="print one JSON object")

    sp = command("feed", cmd_feed, "add new entries of RSS/Atom feeds, then index", corpus=True)
    sp.add_argument("url", nargs="*", help="feed URLs (default: QABOT_FEEDS)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")

    sp = command("stats", cmd_stats, "what readers asked, and what went unanswered")
    sp.add_argument("--days", type=int, default=7, help="the last N days (7)")
    sp.add_argument("--top", type=int, default=10, help="unanswered questions to list (10)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")

    sp = command("bot", cmd_bot, "run the Telegram bot", corpus=True)
    sp.add_argument(
        "--webhook",
        metavar="URL",
        help="receive updates at this public URL instead of polling (QABOT_WEBHOOK_URL)",
    )
    sp.add_argument("--listen", metavar="HOST", help="webhook address (QABOT_WEBHOOK_LISTEN)")
    sp.add_argument("--port", type=int, metavar="N", help="webhook port (QABOT_WEBHOOK_PORT)")
    sp = command("db", cmd_db, "set up the PostgreSQL database (QABOT_DATABASE_URL)")
    sp.add_argument("action", choices=["init"], help="create or migrate qabot's tables")
    sp = command(
        "run", cmd_run, "the bot if TELEGRAM_BOT_TOKEN is set, else a terminal chat", corpus=True
    )
    sp.add_argument("-k", type=int, help="passages to show (QABOT_TOP_K, 3)")
    return p


def main(argv: list[str] | None = None, *, encoder: Encoder | None = None) -> int:
    """Run one ``qabot`` command; its exit status.

    ``encoder`` is used instead of loading ``QABOT_MODEL``, for a program (or a test) that
    already holds one; it must be the model the index was built with.
    """
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args, encoder) or 0)
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
