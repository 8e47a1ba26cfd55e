"""End-to-end bot latency: question pushed to the Bot API stand-in → the bot's sendMessage.

Runs the real Application over real HTTP on 127.0.0.1 with the real retriever (the
index in ``QABOT_INDEX_DIR``, built from ``QABOT_ARTICLES_DIR`` first if missing), and
times bare ``Retriever.search`` on the same questions in the same run (the arms take
turns, question by question), so the table shows what the bot adds on top of retrieval.
Questions come ``--gap`` seconds apart (one at a time, as people ask): back to back the bot
would be held at Telegram's 30 messages/s, which the load test measures.

    .venv/bin/python benchmarks/bot_latency.py [-n 100] [--gap 0.1] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from botapi import BotAPI  # noqa: E402

from qabot.bot import build_application  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.index import build_index  # noqa: E402
from qabot.index.files import current_name  # noqa: E402
from qabot.model import load_encoder  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402

QUESTIONS = [
    "متى تأسست منظمة التعاون الإسلامي؟",
    "كم عدد الدول الأعضاء في منظمة التعاون الإسلامي؟",
    "مع من اجتمع لافروف في موسكو؟",
    "من هو الأمين العام لمنظمة التعاون الإسلامي؟",
    "ما هي ثاني أكبر منظمة دولية بعد الأمم المتحدة؟",
    "أين عقدت قمة روسيا والعالم الإسلامي؟",
    "من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟",
    "ما موقف دول المنظمة من الأحداث في أوكرانيا؟",
    "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟",
    "ما القضية التي تمثل أولوية لمنظمة التعاون الإسلامي؟",
    "أي مدينة حصلت على لقب عاصمة منظمة التعاون الإسلامي للشباب؟",
    "ما عدد سكان الدول الأعضاء في المنظمة؟",
    "ما الاسم السابق لمنظمة التعاون الإسلامي؟",
    "متى يزور حسين إبراهيم طه موسكو؟",
    "Who did Lavrov meet in Moscow?",
    "How many member states does the Organisation of Islamic Cooperation have?",
    "ما هي طريقة تحضير الكبسة؟",
    "من فاز بكأس العالم لكرة القدم؟",
    "What is the capital of Tatarstan?",
    "كيف أتعلم البرمجة بلغة بايثون؟",
]


def load_retriever(settings: Settings) -> Retriever:
    encoder = load_encoder(settings)  # once, for the build and the retriever
    if current_name(settings.index_dir) is None:
        print(f"building the index in {settings.index_dir}…", file=sys.stderr)
        build_index(settings, encoder=encoder)
    return Retriever.load(settings=settings, encoder=encoder)


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p95 and mean in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, statistics.fmean(seconds) * 1000


async def interleaved(
    settings: Settings, retriever: Retriever, questions: list[str], gap: float = 0.1
) -> dict[str, list[float]]:
    """Each question through the bot (update pushed → the bot's recorded sendMessage, one at
    a time), then the same question by bare ``Retriever.search`` in a worker thread and in
    the main thread: the arms take turns, so the machine's load weighs on each alike."""
    times: dict[str, list[float]] = {"bot": [], "worker": [], "main": []}
    k = settings.top_k
    async with BotAPI() as api:
        settings = settings.model_copy(
            update={
                "telegram_bot_token": api.token,
                "telegram_api_base_url": api.base_url,
                "rate_limit_per_minute": 0,
                "allowed_chat_ids": [],
            }
        )
        app = build_application(settings, retriever)
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            for i, question in enumerate(questions):
                # A chat of its own for each question: in one chat, the questions before
                # would be its conversation, and a follow-up is timed apart
                # (followup_latency.py); bare search has no history either.
                chat = 1001 + i
                mark, started = api.mark(), time.monotonic()
                api.push_message(question, chat_id=chat)
                reply = await api.wait_for("sendMessage", chat_id=chat, since=mark, timeout=60)
                # One question at a time, as a person asks: each answer costs two Bot API
                # calls (hint + answer), and back to back (~25 q/s with the arms below) the
                # bot would sit at Telegram's 30 messages/s, each call held ~33 ms by the
                # flood limit: the load test's matter, not one question's latency.
                await asyncio.sleep(gap)
                times["bot"].append(reply.at - started)
                times["worker"] += await asyncio.to_thread(bare_search, retriever, [question], k)
                times["main"] += bare_search(retriever, [question], k)
            await app.updater.stop()
            await app.stop()
    return times


def bare_search(retriever: Retriever, questions: list[str], k: int) -> list[float]:
    """Seconds to encode each question and search with its vector: what `search` does for a
    question it has not seen (it keeps recent query vectors, so a repeat would skip encoding)."""
    latencies = []
    for question in questions:
        started = time.perf_counter()
        vector = retriever.encoder.encode_queries([question])[0]
        retriever.search(question, k=k, vector=vector)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="questions to time (default 100)")
    parser.add_argument(
        "--gap", type=float, default=0.1, help="seconds between questions (default 0.1)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    settings = Settings()
    retriever = load_retriever(settings)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.n)]
    bare_search(retriever, QUESTIONS[:3], settings.top_k)  # warm the model up
    times = asyncio.run(interleaved(settings, retriever, questions, args.gap))
    backend = getattr(retriever.encoder, "backend", "torch")

    print(f"{len(questions)} questions, top_k={settings.top_k}, index {retriever.index_dir}, "
          f"{backend} backend, {args.gap} s between questions, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'':<34}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    names = {
        "bot": "bot, end to end",
        "worker": "Retriever.search, worker thread",
        "main": "Retriever.search, main thread",
    }
    rows = {arm: percentiles(seconds) for arm, seconds in times.items()}
    for arm, (p50, p95, mean) in rows.items():
        print(f"{names[arm]:<34}{p50:>10.1f}{p95:>10.1f}{mean:>10.1f}")
    ratio = rows["bot"][0] / rows["main"][0]
    print(f"bot p50 / bare search p50 (main thread): {ratio:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "questions": len(questions),
            "backend": backend,
            "gap s": args.gap,
            "load average": round(os.getloadavg()[0], 1),
            **{arm: dict(zip(("p50 ms", "p95 ms", "mean ms"), map(lambda v: round(v, 1), row),
                             strict=True)) for arm, row in rows.items()},
            "bot / search p50": round(ratio, 2),
        }  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
