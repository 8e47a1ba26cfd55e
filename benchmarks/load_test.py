"""Load test (issue 6): many chats asking at once through a faulty Bot API stand-in.

The real Application and the real Retriever (the bundled model over an index of the seed
article, built in a temp folder) run against the stand-in (``tests/botapi.py``) over real
HTTP on 127.0.0.1. The stand-in fails 5% of sendMessage and getUpdates calls with a 5xx
and 1% with a 429 (retry_after=1). Each chat asks its next question once the previous one
was answered, as a person would, so up to ``--chats`` questions wait at once; with
``--burst N`` each chat sends N questions at once and then waits for their N replies, which
must come in the order asked (a reply out of order is counted and fails the run).
``--webhook`` runs the bot as replicas do (``qabot bot --webhook``): the stand-in POSTs each
update to the bot's webhook with its secret token, as Telegram does (at most 40 at once,
Telegram's default ``max_connections``, repeated until the bot answers 200), and the faults
fall on sendMessage alone, since a bot behind a webhook makes no getUpdates calls.
The stand-in has no flood limit, so by default the bot sends as fast as it can
(``--send-rate 30`` applies Telegram's 30 messages/s, which caps any bot's answers at that).

It checks the promise "every question gets exactly one answer", matching every reply to
its question by text (the reply the real retriever's answer renders to, computed before the
run): answers, "not found" replies and rate-limit replies are counted apart; a question
without its own reply within ``--per-question`` seconds (or when the whole run hit
``--timeout``) is lost, and every reply beyond the one each question was matched with is a
duplicate, so a lost reply and a duplicate cannot cancel out. It also checks that each
update was handed out once, confirmed and handled once, and reports latency (update pushed
→ reply recorded by the stand-in) and the process's RSS once model and index are loaded
(the index is built in a separate process, so its peak is not counted) and at the end,
where each question's time went (:data:`STAGES`: polling, dispatch, waiting for and doing
the batch encode, search, sending, retries; mean over all and over the slowest 5 %), and the
CPU seconds each kind of thread used, and how late the event loop woke a 10 ms sleeper.
``--timeline PATH`` writes each question's timeline (handed out, encoded, searched, every
sendMessage attempt with its status), slowest first, and the result says what the slowest
5 % waited on (a failed getUpdates, a failed sendMessage, or the bot's own work and
queueing; ``load_timeline.py``) and, per failed getUpdates, how many questions it held.
``--poll-limits 0`` puts the 429s on sendMessage alone (5xx still on both): Telegram
documents flood limits for sending, not for getUpdates.
The exit status is 1 on any lost, duplicated, unmatched, apologetic, busy or out-of-order
reply, any update handed out twice or left unconfirmed, or handled other than once.
``--lost`` makes the stand-in lose that share of sendMessage responses after delivering the
message: then exactly one duplicate per lost response is the expected (documented) outcome.

    .venv/bin/python benchmarks/load_test.py [--chats 50] [--questions 20] [--burst 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextvars
import json
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import load_timeline  # noqa: E402
from bot_latency import QUESTIONS  # noqa: E402
from botapi import BotAPI, Call  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import TypeHandler  # noqa: E402

from qabot import render  # noqa: E402
from qabot.bot import build_application  # noqa: E402
from qabot.bot.handlers import APOLOGY, BUSY, RATE_LIMITED  # noqa: E402
from qabot.bot.transport import RetryPolicy  # noqa: E402
from qabot.config import Settings  # noqa: E402
from qabot.model import load_encoder  # noqa: E402
from qabot.results import Answer, ArticleInfo  # noqa: E402
from qabot.retriever import Retriever  # noqa: E402

SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
FAULTY = ("sendMessage", "getUpdates")
#: The question (its message id) the current update asks: set when the bot starts handling
#: it, read by the encoder and retriever wrappers (worker threads inherit the context).
ASKING: contextvars.ContextVar[int] = contextvars.ContextVar("asking", default=0)
#: Where a question's time goes, in the order it passes: each stage ends at the named mark.
STAGES = {
    "polled": "pushed → handed out (getUpdates, or the webhook POST answered)",
    "dispatched": "→ its handler starts (update queue, chat order)",
    "queued": "→ its batch starts encoding (waiting behind other batches)",
    "encoded": "→ its batch is encoded",
    "searching": "→ search starts in a worker thread",
    "searched": "→ search done",
    "sending": "→ first sendMessage reaches the stand-in",
    "sent": "→ the sendMessage that delivered it (retries after faults)",
}


#: The webhook's secret token (``--webhook``) and Telegram's header carrying it.
SECRET = "load-test-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's default ``max_connections`` of a webhook: updates it POSTs at once.
WEBHOOK_CONNECTIONS = 40


class LoadAPI(BotAPI):
    """The stand-in, also handing each delivered reply to a per-chat queue (no polling),
    and POSTing updates to the bot's webhook once one is set."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: dict[int, asyncio.Queue[Call]] = {}
        self.hook: str | None = None
        #: Which chat asked each question (message id → chat id).
        self.asked: dict[int, int] = {}
        #: Each update POSTed to the webhook, by message id: when the bot answered 200.
        self.posted: dict[int, float] = {}
        self._posts: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(WEBHOOK_CONNECTIONS)
        self._session: aiohttp.ClientSession | None = None

    async def __aexit__(self, *exc: object) -> None:
        for task in self._posts:
            task.cancel()
        if self._session is not None:
            await self._session.close()
        await super().__aexit__(*exc)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "setWebhook":
            assert params.get("secret_token") == SECRET, "the webhook must carry the secret"
            self.hook = params["url"]
        elif method == "deleteWebhook":
            self.hook = None
        return super()._result(method, params)

    def _push(self, update: dict[str, Any]) -> None:
        message = update.get("message") or {}
        self.asked[message.get("message_id", 0)] = message.get("chat", {}).get("id", 0)
        if self.hook is None:
            return super()._push(update)
        update["update_id"] = next(self._update_ids)
        task = asyncio.get_running_loop().create_task(self._post(self.hook, update))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, url: str, update: dict[str, Any]) -> None:
        """Deliver ``update`` as Telegram does: POST it, again a moment later until a 200."""
        self._session = self._session or aiohttp.ClientSession()
        while True:
            async with self._slots:
                try:
                    async with self._session.post(
                        url, json=update, headers={SECRET_HEADER: SECRET}
                    ) as response:
                        status = response.status
                except aiohttp.ClientError:
                    status = 0
            if status == 200:
                self.posted[update["message"]["message_id"]] = time.monotonic()
                return
            await asyncio.sleep(0.1)

    async def _record(self, method: str, params: dict[str, Any], status: int, result: Any,
                      error: str = "") -> Any:  # fmt: skip
        response = await super()._record(method, params, status, result, error)
        if method == "sendMessage" and status == 200:
            self.inbox.setdefault(params["chat_id"], asyncio.Queue()).put_nowait(self.calls[-1])
        return response


class Marks:
    """When each question (by message id) passed each stage: ``marks[id][stage] = t``."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, float]] = {}
        self.batches: list[tuple[float, float, int]] = []  # start, end, size

    def mark(self, stage: str, question: int | None = None, at: float | None = None) -> None:
        question = question or ASKING.get()
        if question:
            self.at.setdefault(question, {}).setdefault(stage, at or time.monotonic())

    def batch(self, started: float, texts: list[str]) -> None:
        self.batches.append((started, time.monotonic(), len(texts)))

    def stages(
        self, api: LoadAPI, chats: dict[int, int]
    ) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, Any]]]:
        """Each answered question's seconds in each stage of :data:`STAGES`, and its timeline
        (:func:`load_timeline.timeline`).

        The stand-in's record gives the rest: when a getUpdates handed the update out (or the
        bot answered its webhook POST), and its chat's sendMessage attempts after its search
        (faulty or not).
        """
        handed: dict[int, float] = dict(api.posted)
        for call in api.calls:
            if call.method == "getUpdates" and call.status == 200:
                for update in call.result or []:
                    message = update.get("message") or {}
                    handed.setdefault(message.get("message_id", 0), call.at)
        ends = sorted(end for _, end, _ in self.batches)
        starts = {end: start for start, end, _ in self.batches}
        attempts = load_timeline.sends_by_chat(api.calls)
        out, lines = {}, {}
        for question, at in self.at.items():
            if "sent" not in at or "returned" not in at or "searched" not in at:
                continue
            i = bisect.bisect_right(ends, at["returned"]) - 1  # the batch that encoded it
            sends = [c.at for c in attempts[chats[question]] if c.at >= at["searched"]]
            batch = (starts[ends[i]], ends[i]) if i >= 0 else (at["dispatched"], at["returned"])
            times = {
                "pushed": at["pushed"],
                "polled": handed.get(question, at["dispatched"]),
                "dispatched": at["dispatched"],
                "queued": max(batch[0], at["dispatched"]),
                "encoded": batch[1],
                "searching": at["searching"],
                "searched": at["searched"],
                "sending": min(sends) if sends else at["sent"],
                "sent": at["sent"],
            }
            marks = list(times.values())
            out[question] = {
                stage: max(marks[j + 1] - marks[j], 0.0) for j, stage in enumerate(STAGES)
            }
            lines[question] = load_timeline.timeline(
                at, times["polled"], batch, attempts[chats[question]]
            )
        return out, lines


def breakdown(stages: dict[int, dict[str, float]], latencies: dict[int, float]) -> dict:
    """Mean seconds per stage over all questions and over the slowest 5 % (the tail)."""
    if not stages:
        return {}
    order = sorted(stages, key=lambda q: latencies.get(q, 0.0))
    tail = order[int(len(order) * 0.95) :]
    return {
        stage: {
            "mean s": round(statistics.fmean(stages[q][stage] for q in order), 3),
            "tail mean s": round(statistics.fmean(stages[q][stage] for q in tail), 3),
        }
        for stage in STAGES
    }


class TracingEncoder:
    """The retriever's encoder, marking when each batch starts and ends encoding."""

    def __init__(self, encoder: Any, marks: Marks) -> None:
        self.encoder, self.marks = encoder, marks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def encode_queries(self, texts: list[str]) -> Any:
        started = time.monotonic()
        vectors = self.encoder.encode_queries(texts)
        self.marks.batch(started, texts)
        return vectors


class CountingRetriever:
    """The real retriever, counting questions: each handled update asks exactly once."""

    def __init__(self, retriever: Retriever, marks: Marks) -> None:
        self.retriever = retriever
        self.marks = marks
        self.encoder = TracingEncoder(retriever.encoder, marks)  # the bot batch-encodes with it
        self.asked = 0

    def refresh(self) -> bool:
        return self.retriever.refresh()

    def articles(self) -> list[ArticleInfo]:
        return self.retriever.articles()

    def ask(self, question: str, k: int = 3, history: Any = None, vector: Any = None) -> Answer:
        self.asked += 1
        self.marks.mark("searching")
        answer = self.retriever.ask(question, k=k, vector=vector)  # no history: as expected
        self.marks.mark("searched")
        return answer


def trace(app: Any, marks: Marks) -> None:
    """Mark when the bot starts handling each question and gets its vector back."""

    async def started(update: Update, context: Any) -> None:
        if update.effective_message is not None:
            ASKING.set(update.effective_message.message_id)
            marks.mark("dispatched")

    app.add_handler(TypeHandler(Update, started), group=-2)
    batcher = app.bot_data.batcher
    encode = batcher.encode

    async def encoded(text: str) -> Any:
        vector = await encode(text)
        marks.mark("returned")
        return vector

    batcher.encode = encoded


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (for the bot's webhook)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_by_thread() -> dict[str, float]:
    """CPU seconds so far per kind of thread: the event loop, the encoder's thread, search
    workers, and threads Python does not know (ONNX Runtime's own pool)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    out: Counter[str] = Counter()
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name), "native")
        kind = "event loop" if name == "MainThread" else name.rstrip("_0123456789")
        out[kind] += (int(fields[11]) + int(fields[12])) / ticks
    return {k: round(v, 1) for k, v in out.most_common()}


def rss_mb() -> float:
    """The resident set size now (not the peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def expected_replies(retriever: Retriever, questions: list[str]) -> dict[str, tuple[str, bool]]:
    """Each question's reply text as the bot renders it, and whether it is an answer."""
    out = {}
    for q in questions:
        answer = retriever.ask(q, k=Settings().top_k)
        out[q] = (render.answer_html(answer)[0], answer.found)
    return out


def kind_of(text: str) -> str:
    if text == render.plain_html(APOLOGY):
        return "apology"
    if text.startswith(render.plain_html(RATE_LIMITED.split("{")[0])):
        return "rate limited"
    if text == render.plain_html(BUSY):
        return "busy"
    return "other"


async def chat(
    api: LoadAPI,
    chat_id: int,
    questions: list[str],
    wait: float,
    expected: dict[str, Any],
    burst: int,
    marks: Marks,
) -> tuple[Counter[str], dict[int, float], list[str]]:
    """Ask ``burst`` questions at once, wait for their replies, and so on; what became of
    each question (and how many replies came out of order), the latencies, every reply."""
    inbox = api.inbox.setdefault(chat_id, asyncio.Queue())
    outcome: Counter[str] = Counter()
    latencies: dict[int, float] = {}
    received = []
    for start in range(0, len(questions), burst):
        group = questions[start : start + burst]
        pushed, ids = [], []
        for question in group:
            pushed.append(time.monotonic())
            ids.append(api.push_message(question, chat_id=chat_id)["message_id"])
            marks.mark("pushed", ids[-1], pushed[-1])
        texts = [expected[q][0] for q in group]
        done = [False] * len(group)
        deadline = pushed[-1] + wait
        while not all(done):
            try:
                reply = await asyncio.wait_for(inbox.get(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                outcome["lost"] += done.count(False)
                break
            received.append(reply.text)
            first = done.index(False)
            same = [i for i in range(len(group)) if not done[i] and texts[i] == reply.text]
            if same:
                i = same[0]
                if i != first:
                    outcome["out of order"] += 1
                done[i] = True
                outcome["answered" if expected[group[i]][1] else "not found"] += 1
                latencies[ids[i]] = reply.at - pushed[i]
                marks.mark("sent", ids[i], reply.at)
            elif kind_of(reply.text) != "other":  # the next question's reply, not an answer
                done[first] = True
                outcome[kind_of(reply.text)] += 1
            # Else someone else's text: a late copy of an earlier reply. Keep waiting.
    return outcome, latencies, received


def tally(received: list[list[str]], expected: dict[str, Any], matched: int) -> dict:
    """Replies beyond the one each question was matched with are duplicates; a lost reply
    (a question that timed out waiting for its own text) is counted apart, never netted."""
    known = {text for text, _ in expected.values()}
    copies = sum(1 for texts in received for t in texts if t in known)
    unmatched = sum(
        1 for texts in received for t in texts if t not in known and kind_of(t) == "other"
    )
    return {"duplicated": copies - matched, "unmatched": unmatched}


async def run(args: argparse.Namespace, settings: Settings, retriever: Retriever) -> dict[str, Any]:
    marks = Marks()
    counting = CountingRetriever(retriever, marks)
    n = len(QUESTIONS)
    plans = [[QUESTIONS[(c + q) % n] for q in range(args.questions)] for c in range(args.chats)]
    expected = expected_replies(retriever, QUESTIONS)
    async with LoadAPI() as api:
        poll_limits = args.limits if args.poll_limits is None else args.poll_limits
        if not args.webhook:
            api.chaos("getUpdates", errors=args.errors, limits=poll_limits, retry_after=1)
        api.chaos(
            "sendMessage", errors=args.errors, limits=args.limits, retry_after=1, lost=args.lost
        )
        settings = settings.model_copy(
            update={"telegram_bot_token": api.token, "telegram_api_base_url": api.base_url}
        )
        retry = RetryPolicy(per_second=args.send_rate)
        app = build_application(settings, counting, retry=retry)
        trace(app, marks)
        started = time.monotonic()
        async with app:
            await app.post_init(app)  # type: ignore[misc]
            await app.start()
            if args.webhook:
                port = free_port()
                await app.updater.start_webhook(  # type: ignore[union-attr]
                    listen="127.0.0.1", port=port, url_path="hook", secret_token=SECRET,
                    webhook_url=f"http://127.0.0.1:{port}/hook",
                )  # fmt: skip
            else:
                await app.updater.start_polling(poll_interval=0, timeout=10)  # type: ignore[union-attr]
            lags: list[float] = []
            probe = asyncio.create_task(load_timeline.loop_lag(lags))
            tasks = [
                asyncio.create_task(
                    chat(api, 1001 + c, plan, args.per_question, expected, args.burst, marks)
                )
                for c, plan in enumerate(plans)
            ]
            done, pending = await asyncio.wait(tasks, timeout=args.timeout)
            for task in pending:
                task.cancel()
            elapsed = time.monotonic() - started
            probe.cancel()
            cpu = cpu_by_thread()
            await asyncio.sleep(2.0)  # room for late duplicates to arrive
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
        outcome: Counter[str] = Counter()
        latencies: dict[int, float] = {}
        for task in done:
            counts, times, _ = task.result()
            outcome.update(counts)
            latencies.update(times)
        chats = api.asked  # which chat asked each question
        sizes = [size for _, _, size in marks.batches]
        stages, lines = marks.stages(api, chats)
        faults_polled = load_timeline.poll_faults(api.calls)
        split = {
            q: load_timeline.causes(line, faults_polled, marks.at[q]["pushed"])
            for q, line in lines.items()
        }
        if args.timeline:
            order = sorted(lines, key=lambda q: latencies.get(q, 0.0), reverse=True)
            record = [{"question": q, **lines[q], "waited on": split[q]} for q in order]
            args.timeline.write_text(json.dumps(record, indent=0) + "\n", encoding="utf-8")
        # Every reply that reached each chat, late ones included, against what it asked.
        received = [
            [c.text for c in api.calls_to("sendMessage", chat_id=1001 + i) if c.status == 200]
            for i in range(args.chats)
        ]
        faults = Counter(
            (c.method, c.status) for c in api.calls if c.method in FAULTY and c.status != 200
        )
        return {
            "asked": args.chats * args.questions,
            "answered": outcome["answered"],
            "not found": outcome["not found"],
            "rate limited": outcome["rate limited"],
            "apologies": outcome["apology"],
            "busy": outcome["busy"],
            "out of order": outcome["out of order"],
            "lost": outcome["lost"] + sum(len(p) for p in plans) - sum(outcome.values()),
            **tally(received, expected, outcome["answered"] + outcome["not found"]),
            "responses lost after delivery": len(api.lost),
            "handled": counting.asked,
            "updates handed out twice": sum(1 for v in api.deliveries.values() if v > 1),
            "updates left unconfirmed": len(api.pending()),
            "faults": {f"{m} {s}": k for (m, s), k in sorted(faults.items())},
            "latencies": list(latencies.values()),
            "CPU s by thread": cpu,
            "event loop lateness": load_timeline.lag_summary(lags),
            "encoder batches": len(sizes),
            "mean batch": round(statistics.fmean(sizes), 1) if sizes else 0,
            "stages": breakdown(stages, latencies),
            "slowest 5 %": load_timeline.tail(split, latencies),
            "failed getUpdates (s after start, kind, s fetching nothing, questions held)": (
                load_timeline.poll_fault_effects(
                    faults_polled, lines, {q: marks.at[q]["pushed"] for q in lines}, started
                )
            ),
            "elapsed": elapsed,
            "questions per second": (outcome["answered"] + outcome["not found"]) / elapsed,
            "timed out": bool(pending),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20, help="per chat")
    parser.add_argument(
        "--burst", type=int, default=1, help="questions a chat sends at once (default 1)"
    )
    parser.add_argument(
        "--send-rate", type=float, default=0.0,
        help="messages/s to all chats together (0: no limit, the default; Telegram's is 30)",
    )  # fmt: skip
    parser.add_argument("--errors", type=float, default=0.05, help="share of 5xx answers")
    parser.add_argument("--limits", type=float, default=0.01, help="share of 429 answers")
    parser.add_argument(
        "--poll-limits", type=float, default=None,
        help="share of 429 answers to getUpdates (default: --limits; 0: 429s on sendMessage "
        "only, where Telegram documents its flood limits)",
    )  # fmt: skip
    parser.add_argument(
        "--lost", type=float, default=0.0, help="share of sendMessage responses lost after delivery"
    )
    parser.add_argument(
        "--webhook", action="store_true", help="updates POSTed to a webhook, not polled"
    )
    parser.add_argument("--per-question", type=float, default=120.0, help="seconds, then lost")
    parser.add_argument("--timeout", type=float, default=290.0, help="seconds for the whole run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--timeline", type=Path, help="write each question's timeline here, slowest first"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's warnings")
    parser.add_argument(
        "--without-sniffio", action="store_true",
        help="as installed before sniffio was a dependency (httpcore fails an import per lock)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.without_sniffio:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # import fails, as if absent
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)

    load_before = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "articles").mkdir()
        shutil.copy(SEED, Path(tmp) / "articles" / SEED.name)
        settings = Settings(articles_dir=Path(tmp) / "articles", index_dir=Path(tmp) / "index")
        folders = ["--articles", str(settings.articles_dir), "--index", str(settings.index_dir)]
        # Built in another process, so that its peak memory is not this process's.
        subprocess.run([sys.executable, "-m", "qabot", "index", *folders], check=True)
        encoder = load_encoder(settings)
        retriever = Retriever.load(settings=settings, encoder=encoder)
        retriever.search(QUESTIONS[0])  # warm up
        rss_ready = rss_mb()
        result = asyncio.run(run(args, settings, retriever))
    result["RSS after loading MB"] = round(rss_ready)
    result["RSS at the end MB"] = round(rss_mb())
    result["peak RSS MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    latencies = sorted(result.pop("latencies"))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    if cuts:
        result["latency p50 s"], result["latency p95 s"] = round(cuts[49], 2), round(cuts[94], 2)
        result["latency max s"] = round(latencies[-1], 2)
    result["elapsed"] = round(result["elapsed"], 1)
    result["questions per second"] = round(result["questions per second"], 1)
    result["load average at the start"] = load_before
    result["load average"] = round(os.getloadavg()[0], 1)
    poll_limits = args.limits if args.poll_limits is None else args.poll_limits
    print(f"{args.chats} chats x {args.questions} questions (bursts of {args.burst}), "
          f"{args.errors:.0%} 5xx and {args.limits:.0%} 429 on sendMessage, "
          + ("no getUpdates (webhook), " if args.webhook else
             f"{args.errors:.0%} 5xx and {poll_limits:.0%} 429 on getUpdates, ")
          + f"{args.lost:.0%} sendMessage responses lost after delivery")  # fmt: skip
    for key, value in result.items():
        if key != "stages":
            print(f"{key}: {value}")
    if result["stages"]:
        print(f"{'where the time goes':<64}{'mean s':>8}{'tail s':>8}  (tail: slowest 5 %)")
        for stage, times in result["stages"].items():
            print(f"{STAGES[stage]:<64}{times['mean s']:>8.3f}{times['tail mean s']:>8.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        options = {
            k: v for k, v in vars(args).items() if k not in ("json", "timeline", "verbose")
        }
        record = {"options": options, "result": result}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    duplicates_expected = result["responses lost after delivery"]
    ok = (
        result["lost"] == result["unmatched"] == result["apologies"] == 0
        and result["busy"] == result["out of order"] == 0
        and result["duplicated"] == duplicates_expected
        and result["updates handed out twice"] == result["updates left unconfirmed"] == 0
        and result["handled"] == result["asked"]
        and not result["timed out"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
