"""Load test (issue 6): many chats asking at once through a faulty Bot API stand-in.

The real Application and the real Retriever (the bundled model over an index of the seed
article, built in a temp folder) run against the stand-in (``tests/botapi.py``) over real
HTTP on 127.0.0.1. The stand-in fails 5% of sendMessage and getUpdates calls with a 5xx
and 1% with a 429 (retry_after=1). Each chat asks its next question once the previous one
was answered, as a person would, so up to ``--chats`` questions wait at once.

It checks the promise "every question gets exactly one answer": answered, lost (no reply
within ``--per-question`` seconds, or the whole run hit ``--timeout``), duplicated (extra
replies), apologies; that each update was handed out and handled once; and reports latency
(update pushed → reply recorded by the stand-in) and peak RSS (bot, model and stand-in:
one process).

    .venv/bin/python benchmarks/load_test.py [--chats 50] [--questions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bot_latency import QUESTIONS  # noqa: E402
from botapi import BotAPI, Call  # noqa: E402

from qabot.bot import build_application  # noqa: E402
from qabot.bot.handlers import APOLOGY  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.index import build_index  # noqa: E402
from qabot.model import load_encoder  # noqa: E402
from qabot.results import Answer, ArticleInfo  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402

SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
FAULTY = ("sendMessage", "getUpdates")


class LoadAPI(BotAPI):
    """The stand-in, also handing each delivered reply to a per-chat queue (no polling)."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: dict[int, asyncio.Queue[Call]] = {}

    async def _record(self, method: str, params: dict[str, Any], status: int, result: Any,
                      error: str = "") -> Any:  # fmt: skip
        response = await super()._record(method, params, status, result, error)
        if method == "sendMessage" and status == 200:
            self.inbox.setdefault(params["chat_id"], asyncio.Queue()).put_nowait(self.calls[-1])
        return response


class CountingRetriever:
    """The real retriever, counting questions: each handled update asks exactly once."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.asked = 0

    def refresh(self) -> bool:
        return self.retriever.refresh()

    def articles(self) -> list[ArticleInfo]:
        return self.retriever.articles()

    def ask(self, question: str, k: int = 3) -> Answer:
        self.asked += 1
        return self.retriever.ask(question, k=k)


async def chat(api: LoadAPI, chat_id: int, questions: list[str], wait: float) -> list[float]:
    """Ask one question after another; the latency of each answered one."""
    inbox = api.inbox.setdefault(chat_id, asyncio.Queue())
    latencies = []
    for question in questions:
        pushed = time.monotonic()
        api.push_message(question, chat_id=chat_id)
        try:
            reply = await asyncio.wait_for(inbox.get(), wait)
        except TimeoutError:
            continue  # lost; counted from the totals
        latencies.append(reply.at - pushed)
    return latencies


async def run(args: argparse.Namespace, settings: Settings, retriever: Retriever) -> dict[str, Any]:
    counting = CountingRetriever(retriever)
    async with LoadAPI() as api:
        for method in FAULTY:
            api.chaos(method, errors=args.errors, limits=args.limits, retry_after=1)
        settings = settings.model_copy(
            update={"telegram_bot_token": api.token, "telegram_api_base_url": api.base_url}
        )
        app = build_application(settings, counting)
        started = time.monotonic()
        async with app:
            await app.post_init(app)  # type: ignore[misc]
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=10)  # type: ignore[union-attr]
            n = len(QUESTIONS)
            plans = [
                [QUESTIONS[(c + q) % n] for q in range(args.questions)] for c in range(args.chats)
            ]
            tasks = [
                asyncio.create_task(chat(api, 1001 + c, plan, args.per_question))
                for c, plan in enumerate(plans)
            ]
            done, pending = await asyncio.wait(tasks, timeout=args.timeout)
            for task in pending:
                task.cancel()
            elapsed = time.monotonic() - started
            await asyncio.sleep(2.0)  # room for late duplicates to arrive
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
        latencies = [s for task in done for s in task.result()]
        replies = [c for c in api.calls if c.method == "sendMessage" and c.status == 200]
        faults = Counter(
            (c.method, c.status) for c in api.calls if c.method in FAULTY and c.status != 200
        )
        return {
            "asked": args.chats * args.questions,
            "answered": len(latencies),
            "lost": args.chats * args.questions - len(latencies),
            "duplicated": sum(inbox.qsize() for inbox in api.inbox.values()),  # unasked-for
            "apologies": sum(APOLOGY in c.text for c in replies),
            "handled": counting.asked,
            "updates handed out twice": sum(1 for v in api.deliveries.values() if v > 1),
            "updates left unconfirmed": len(api.pending()),
            "faults": dict(sorted(faults.items())),
            "latencies": latencies,
            "elapsed": elapsed,
            "timed out": bool(pending),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20, help="per chat")
    parser.add_argument("--errors", type=float, default=0.05, help="share of 5xx answers")
    parser.add_argument("--limits", type=float, default=0.01, help="share of 429 answers")
    parser.add_argument("--per-question", type=float, default=120.0, help="seconds, then lost")
    parser.add_argument("--timeout", type=float, default=290.0, help="seconds for the whole run")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's warnings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "articles").mkdir()
        shutil.copy(SEED, Path(tmp) / "articles" / SEED.name)
        settings = Settings(articles_dir=Path(tmp) / "articles", index_dir=Path(tmp) / "index")
        encoder = load_encoder(settings)
        build_index(settings, encoder=encoder)
        retriever = Retriever.load(settings=settings, encoder=encoder)
        retriever.search(QUESTIONS[0])  # warm up
        rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = asyncio.run(run(args, settings, retriever))
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    latencies = sorted(result.pop("latencies"))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    print(f"{args.chats} chats x {args.questions} questions, {args.errors:.0%} 5xx and "
          f"{args.limits:.0%} 429 on {' and '.join(FAULTY)}")  # fmt: skip
    for key, value in result.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    if cuts:
        print(f"latency p50 {cuts[49]:.2f} s, p95 {cuts[94]:.2f} s, max {latencies[-1]:.2f} s")
    print(f"peak RSS {rss_peak:.0f} MB (after loading model and index: {rss_ready:.0f} MB)")
    ok = result["lost"] == result["duplicated"] == result["apologies"] == 0
    return 0 if ok and result["handled"] == result["asked"] else 1


if __name__ == "__main__":
    sys.exit(main())
