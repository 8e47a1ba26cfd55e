"""The real PTB Application polling the Bot API stand-in over real HTTP on 127.0.0.1.

Checks that need real answers (right paragraph, honest "not found", English questions)
use the real retriever over the seed article (``seed_retriever``); the rest use a small
fake with the same interface, so they are quick and exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botapi import BOT_USERNAME, TOKEN, BotAPI, Call, parse_html, running, subprocess
from filelock import FileLock

from qabot import render
from qabot.bot import handlers
from qabot.bot.app import _configure_logging, run_bot
from qabot.bot.state import SlidingWindow
from qabot.bot.transport import RETRY, TIMEOUTS, Timeouts, hide_token
from qabot.config import Settings
from qabot.index import build as indexer
from qabot.results import Answer, ArticleInfo, Passage

SEED_QUESTION = "متى تأسست منظمة التعاون الإسلامي؟"
OFF_TOPIC = "ما هي طريقة تحضير الكبسة باللحم والأرز والبهارات؟"
SECRET = TOKEN.partition(":")[2]
ROOT = Path(__file__).resolve().parents[1]
#: The loggers whose levels run_bot sets ("" is the root).
BOT_LOGGERS = ("", "qabot", "httpx", "telegram", "telegram.ext.Application")


class FakeRetriever:
    """The Retriever interface over three fixed passages; found when a word matches."""

    TEXTS = (
        "يُشار إلى أن منظمة التعاون الإسلامي هي ثاني أكبر منظمة دولية. وقد تأسست عام 1969.",
        "يعقد وزير الخارجية الروسي سيرغي لافروف اجتماعا مع الأمين العام لمنظمة التعاون الإسلامي.",
        "استضافت مدينة قازان القمة الاقتصادية الدولية روسيا - العالم الإسلامي.",
    )

    def __init__(self, error: Exception | None = None) -> None:
        self.questions: list[str] = []
        self.refreshes = 0
        self.error = error

    def refresh(self) -> bool:
        self.refreshes += 1
        return False

    def articles(self) -> list[ArticleInfo]:
        return [
            ArticleInfo(
                id="000", title="لافروف يبحث مع الأمين العام لمنظمة التعاون الإسلامي",
                source="تاس", url="https://tass.example/oic", published=date(2022, 10, 24),
                passages=3,
            )
        ]  # fmt: skip

    def search(self, question: str, k: int = 3) -> list[Passage]:
        if not question.strip():
            raise ValueError("the question is empty")
        words = set(re.findall(r"\w{3,}", question))
        scored = [(len(words & set(re.findall(r"\w{3,}", t))), i) for i, t in enumerate(self.TEXTS)]
        scored.sort(key=lambda pair: -pair[0])
        return [self._passage(i, score) for score, i in scored[:k] if score]

    def ask(self, question: str, k: int = 3, history: Any = None, vector: Any = None) -> Answer:
        self.questions.append(question)
        if self.error:
            raise self.error
        passages = self.search(question, k)
        return Answer(
            question=question,
            passages=passages,
            found=bool(passages),
            sentence=passages[0].sentence if passages else None,
        )

    def _passage(self, i: int, score: int) -> Passage:
        text = self.TEXTS[i]
        return Passage(
            id=f"000#{i + 1}", article="000", title=self.articles()[0].title, source="تاس",
            url="https://tass.example/oic", published=date(2022, 10, 24), paragraph=i + 1,
            text=text, sentence=text.split(". ")[-1], confidence=min(1.0, score / 5),
        )  # fmt: skip


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def api() -> AsyncIterator[BotAPI]:
    async with BotAPI() as server:
        yield server


def make_settings(api: BotAPI, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_base_url": api.base_url,
        "rate_limit_per_minute": 1000,
        "admin_ids": [],
        "allowed_chat_ids": [],
    }
    return Settings(**(values | overrides))


@pytest.fixture
def fake() -> FakeRetriever:
    return FakeRetriever()


@pytest.fixture
async def bot(api: BotAPI, fake: FakeRetriever) -> AsyncIterator[BotAPI]:
    """The stand-in with a running bot on the fake retriever."""
    async with running(make_settings(api), fake):
        yield api


@pytest.fixture
async def seed_bot(api: BotAPI, seed_retriever: Any) -> AsyncIterator[BotAPI]:
    """The stand-in with a running bot on the real retriever over the seed article."""
    async with running(make_settings(api), seed_retriever):
        yield api


async def ask(api: BotAPI, text: str, chat_id: int = 1001, **kwargs: Any) -> Call:
    """Send ``text`` as a user and return the bot's (first) reply in that chat."""
    mark = api.mark()
    api.push_message(text, chat_id=chat_id, **kwargs)
    return await api.wait_for("sendMessage", chat_id=chat_id, since=mark)


@contextlib.contextmanager
def kept_log_levels() -> Iterator[None]:
    """Puts back BOT_LOGGERS' levels and the root's handlers, for run_bot in-process."""
    saved = {name: logging.getLogger(name).level for name in BOT_LOGGERS}
    handlers = logging.getLogger().handlers[:]
    try:
        yield
    finally:
        logging.getLogger().handlers[:] = handlers
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def visible(call: Call) -> str:
    """The text the user sees (and proof that Telegram would accept the HTML)."""
    return parse_html(call.text)


def button(call: Call) -> dict[str, Any]:
    [[first]] = call.params["reply_markup"]["inline_keyboard"]
    return first


# --------------------------------------------------------------------------- commands


async def test_startup_registers_arabic_commands(bot: BotAPI) -> None:
    assert bot.calls_to("getMe") and bot.calls_to("deleteWebhook")
    [call] = bot.calls_to("setMyCommands")
    names = {c["command"]: c["description"] for c in call.params["commands"]}
    assert set(names) == {"start", "help", "sources", "ask", "new"}
    assert all(re.search("[\u0600-\u06ff]", d) for d in names.values())


async def test_start_welcomes_and_shows_examples(bot: BotAPI) -> None:
    text = visible(await ask(bot, "/start"))
    assert "مرحبًا" in text and "المقالات التي قرأتها (1)" in text
    assert "لافروف يبحث" in text
    assert all(example in text for example in handlers.EXAMPLES)


async def test_help_lists_the_commands(bot: BotAPI) -> None:
    text = visible(await ask(bot, "/help"))
    assert all(f"/{name}" in text for name, _ in render.COMMANDS)


async def test_sources_lists_articles_with_outlet_date_and_link(bot: BotAPI) -> None:
    call = await ask(bot, "/sources")
    assert '<a href="https://tass.example/oic">' in call.text
    assert "تاس، 24 أكتوبر 2022" in visible(call)
    assert call.params["link_preview_options"] == {"is_disabled": True}


# --------------------------------------------------------------------------- questions (real)


async def test_seed_question_gets_the_1969_paragraph(seed_bot: BotAPI, seed_retriever: Any) -> None:
    mark = seed_bot.mark()
    call = await ask(seed_bot, SEED_QUESTION)
    best = seed_retriever.ask(SEED_QUESTION).passages[0]
    assert "1969" in best.text
    assert best.sentence and best.sentence in best.text
    assert re.findall(r"<b>(.*?)</b>", call.text) == [html.escape(best.sentence)]
    text = visible(call)
    assert best.text in text.replace(render.RLM, "")
    assert f"الفقرة {best.paragraph}" in text and "تاس" in text
    # No other passage passes the threshold (0.17 at most): no "more results" to offer.
    others = seed_retriever.ask(SEED_QUESTION).passages[1:]
    assert all(p.confidence < 0.23 for p in others) and "reply_markup" not in call.params
    [typing] = seed_bot.calls_to("sendChatAction", since=mark)
    assert typing.params["action"] == "typing" and typing.at <= call.at


async def test_off_topic_question_is_honestly_not_found(seed_bot: BotAPI) -> None:
    call = await ask(seed_bot, OFF_TOPIC)
    text = visible(call)
    assert render.NOT_FOUND in text
    assert "📰" not in text and "منظمة" not in text
    assert "reply_markup" not in call.params


async def test_english_question_gets_the_arabic_paragraph(seed_bot: BotAPI) -> None:
    text = visible(await ask(seed_bot, "Who did Lavrov meet in Moscow?"))
    assert "حسين إبراهيم طه" in text and "الفقرة 1" in text


async def test_more_results_button_on_the_real_index(
    seed_bot: BotAPI, seed_retriever: Any
) -> None:
    """Only the extra passages that pass the threshold are shown, replying to the answer."""
    question = "متى عقدت قمة قازان 2022؟"
    passages = seed_retriever.ask(question).passages
    passing = [p.paragraph for p in passages[1:] if p.confidence >= 0.23]
    failing = [p.paragraph for p in passages[1:] if p.confidence < 0.23]
    assert passing and failing  # the question shows both kinds
    answer = await ask(seed_bot, question)
    mark = seed_bot.mark()
    seed_bot.push_callback(button(answer)["callback_data"], message=answer.result)
    more = await seed_bot.wait_for("sendMessage", chat_id=1001, since=mark)
    assert seed_bot.calls_to("answerCallbackQuery", since=mark)
    shown = visible(more)
    assert "نتائج أخرى" in shown and more.text.count("📰") == len(passing)
    assert all(f"الفقرة {n}" in shown for n in passing)
    assert not any(f"الفقرة {n}،" in shown or shown.endswith(f"الفقرة {n}") for n in failing)
    assert more.params["reply_parameters"]["message_id"] == answer.result["message_id"]


async def test_more_results_on_the_real_index_are_other_passages(seed_bot: BotAPI) -> None:
    """The button's passages are new ones: none of the paragraphs the first answer cited."""
    answer = await ask(seed_bot, "متى عقدت قمة قازان 2022؟")  # has extras above the threshold
    mark = seed_bot.mark()
    seed_bot.push_callback(button(answer)["callback_data"], message=answer.result)
    more = await seed_bot.wait_for("sendMessage", chat_id=1001, since=mark)
    cited = set(re.findall(r"الفقرة (\d+)", visible(answer)))
    shown = set(re.findall(r"الفقرة (\d+)", visible(more)))
    assert cited and shown and not cited & shown, (cited, shown)
    first = visible(answer).split("\n")[0]
    assert first not in visible(more)


# --------------------------------------------------------------------------- questions (fake)


async def test_question_is_answered_with_bold_sentence_and_attribution(
    bot: BotAPI, fake: FakeRetriever
) -> None:
    call = await ask(bot, "متى تأسست المنظمة؟")
    assert "<b>وقد تأسست عام 1969.</b>" in call.text
    assert "الفقرة 1" in visible(call) and "رابط المقال" in visible(call)
    assert fake.refreshes == 1 and fake.questions == ["متى تأسست المنظمة؟"]


async def test_more_results_button_shows_the_next_passages(bot: BotAPI) -> None:
    answer = await ask(bot, "لافروف منظمة التعاون الإسلامي قازان")
    data = button(answer)["callback_data"]
    # What Telegram gets is PTB's short key into its cache, never the answer itself.
    assert isinstance(data, str) and 0 < len(data.encode()) <= 64
    assert not re.search("[\u0600-\u06ff]", data)
    mark = bot.mark()
    query_id = bot.push_callback(data, message=answer.result)
    more = await bot.wait_for("sendMessage", chat_id=1001, since=mark)
    [answered] = bot.calls_to("answerCallbackQuery", since=mark)
    assert answered.params["callback_query_id"] == query_id
    shown = visible(more)
    assert FakeRetriever.TEXTS[2][:20] in shown or FakeRetriever.TEXTS[0][:20] in shown
    assert answer.result["text"].split("\n")[0] not in shown  # the first passage is not repeated
    [removed] = bot.calls_to("editMessageReplyMarkup", since=mark)
    assert removed.params["message_id"] == answer.result["message_id"]


async def test_stale_button_is_answered_with_a_note(bot: BotAPI) -> None:
    message = (await ask(bot, "/help")).result
    mark = bot.mark()
    bot.push_callback("more:gone", message=message)
    answered = await bot.wait_for("answerCallbackQuery", since=mark)
    assert answered.params["text"] == handlers.STALE
    assert not bot.calls_to("sendMessage", since=mark)


async def test_button_from_before_a_restart_is_stale(api: BotAPI, fake: FakeRetriever) -> None:
    """PTB's cache of button data lives in memory: a restarted bot answers with the note."""
    async with running(make_settings(api), fake):
        answer = await ask(api, "لافروف منظمة التعاون الإسلامي قازان")
    async with running(make_settings(api), fake):
        mark = api.mark()
        api.push_callback(button(answer)["callback_data"], message=answer.result)
        answered = await api.wait_for("answerCallbackQuery", since=mark)
        await ask(api, "/help", chat_id=3003)  # updates are handled in order: the press is done
    assert answered.params["text"] == handlers.STALE
    assert not api.calls_to("sendMessage", chat_id=1001, since=mark)


async def test_more_results_are_kept_in_one_bounded_store(
    api: BotAPI, fake: FakeRetriever
) -> None:
    """All chats share `keep_answers` answers: the oldest is dropped and its button goes stale."""
    question = "لافروف منظمة التعاون الإسلامي قازان"
    async with running(make_settings(api), fake, keep_answers=2) as app:
        first, second, third = [await ask(api, question, chat_id=c) for c in (1001, 1002, 1003)]
        keyboards, _ = app.bot.callback_data_cache.persistence_data
        assert len(keyboards) == 2
        mark = api.mark()
        api.push_callback(button(first)["callback_data"], message=first.result)
        api.push_callback(button(third)["callback_data"], message=second.result)  # wrong chat
        api.push_callback(button(third)["callback_data"], message=third.result)
        more = await api.wait_for("sendMessage", chat_id=1003, since=mark)
    notes = [c.params.get("text") for c in api.calls_to("answerCallbackQuery", since=mark)]
    assert notes == [handlers.STALE, handlers.STALE, None]
    assert not api.calls_to("sendMessage", chat_id=1001, since=mark)
    assert not api.calls_to("sendMessage", chat_id=1002, since=mark)
    assert "نتائج أخرى" in visible(more)


async def test_no_match_is_not_found_without_a_passage(bot: BotAPI) -> None:
    text = visible(await ask(bot, "كيف أطبخ الكبسة؟"))
    assert render.NOT_FOUND in text and "📰" not in text


async def test_html_in_a_question_arrives_escaped(bot: BotAPI, fake: FakeRetriever) -> None:
    question = "ما معنى 3 < 5 و 7 > 2 و & هنا؟"
    call = await ask(bot, question)
    assert "3 &lt; 5 و 7 &gt; 2 و &amp; هنا" in call.text
    assert question in visible(call)
    assert fake.questions == [question]
    # Tags are markup, not words of a question: they are dropped before anything else.
    await ask(bot, "ما معنى <b>قازان</b> <script>alert(1)</script> هنا؟")
    assert fake.questions[1] == "ما معنى قازان هنا؟"


async def test_bidi_overrides_and_controls_are_neutralised(
    bot: BotAPI, fake: FakeRetriever
) -> None:
    text = visible(await ask(bot, "سؤال\u202e مقلوب\x07 هنا؟"))
    assert "\u202e" not in text and "\x07" not in text
    assert fake.questions == ["سؤال مقلوب هنا؟"]


async def test_very_long_question_is_cut_with_a_note(bot: BotAPI, fake: FakeRetriever) -> None:
    question = "متى تأسست المنظمة؟ " + "ك" * 10_000
    text = visible(await ask(bot, question))
    assert handlers.CUT_NOTE.format(limit=1000) in text
    assert "1969" in text
    assert len(fake.questions[0]) == 1000


async def test_emoji_only_message_asks_for_words(bot: BotAPI, fake: FakeRetriever) -> None:
    text = visible(await ask(bot, "😀🎉👍"))
    assert text.startswith("اكتب سؤالك بالكلمات")
    assert fake.questions == []


# --------------------------------------------------------------------------- groups


async def test_group_answers_only_when_addressed(bot: BotAPI, fake: FakeRetriever) -> None:
    group = -100123
    mark = bot.mark()
    bot.push_message("متى تأسست المنظمة؟ سؤال لصديقي", chat_id=group, user_id=7)
    # Updates are handled in order, so once the next one is answered the first was ignored.
    mention = await ask(bot, f"@{BOT_USERNAME} متى تأسست المنظمة؟", chat_id=group, user_id=7)
    assert len(bot.calls_to("sendMessage", chat_id=group, since=mark)) == 1
    assert fake.questions == ["متى تأسست المنظمة؟"]
    assert mention.params["reply_parameters"]["message_id"] > 0  # quoted in a group

    reply = await ask(bot, "وماذا عن قازان؟", chat_id=group, user_id=8, reply_to=mention.result)
    assert "قازان" in visible(reply)
    slash = await ask(bot, f"/ask@{BOT_USERNAME} متى تأسست المنظمة؟", chat_id=group, user_id=9)
    assert "1969" in visible(slash)
    usage = await ask(bot, "/ask", chat_id=group, user_id=9)
    assert "/ask" in visible(usage)
    assert len(fake.questions) == 3


# --------------------------------------------------------------------------- faults


async def test_recovers_after_get_updates_fails(api: BotAPI, fake: FakeRetriever) -> None:
    api.fail("getUpdates", status=500)
    api.fail("getUpdates", malformed=True)
    async with running(make_settings(api), fake):
        call = await ask(api, "متى تأسست المنظمة؟")
    assert "1969" in visible(call)
    failed = [c.status for c in api.calls_to("getUpdates")[:2]]
    assert failed == [500, 200]  # the malformed one is recorded as 200 with a broken body


async def test_failed_send_ends_in_an_apology(
    bot: BotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bot.fail("sendMessage", times=RETRY.retries + 1, status=500)  # every retry fails too
    apology = await ask(bot, "متى تأسست المنظمة؟")
    assert visible(apology) == handlers.APOLOGY
    assert "error while handling an update" in caplog.text


async def test_retry_after_is_honoured(bot: BotAPI) -> None:
    bot.fail("sendMessage", retry_after=1)
    mark = bot.mark()
    call = await ask(bot, "متى تأسست المنظمة؟")
    [limited] = [c for c in bot.calls_to("sendMessage", since=mark) if c.status == 429]
    assert "1969" in visible(call)
    assert call.at - limited.at >= 1.0


async def test_token_never_reaches_the_logs(api: BotAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    broken = FakeRetriever(error=RuntimeError(f"model crashed near /bot{TOKEN}/sendMessage"))
    api.fail("getUpdates", status=500)
    async with running(make_settings(api), broken):
        apology = await ask(api, "متى تأسست المنظمة؟")
    assert visible(apology) == handlers.APOLOGY
    assert "HTTP Request" in caplog.text  # httpx did log its URLs…
    assert "model crashed" in caplog.text  # …and the traceback is there…
    assert SECRET not in caplog.text  # …with the token redacted everywhere
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert "<token>" in caplog.text


def _bot_env(api: BotAPI, retriever: Any, token: str) -> dict[str, str]:
    """Environment for `python bot.py` against the stand-in and the seed index."""
    settings = retriever.settings
    return os.environ | {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "QABOT_INDEX_DIR": str(retriever.index_dir),
        "QABOT_ARTICLES_DIR": str(settings.articles_dir),
        "QABOT_MODEL": settings.model,
        "QABOT_CACHE_DIR": str(settings.cache_dir),
    }


async def test_bot_py_answers_and_stops_cleanly(api: BotAPI, seed_retriever: Any) -> None:
    env = _bot_env(api, seed_retriever, api.token)
    async with subprocess(sys.executable, "bot.py", cwd=ROOT, env=env) as bot:
        try:
            await api.wait_for("setMyCommands", timeout=120)
            api.push_message(SEED_QUESTION, chat_id=1001)
            call = await api.wait_for("sendMessage", chat_id=1001, timeout=60)
        finally:
            bot.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(bot.communicate(), 60)
    assert "1969" in visible(call)
    assert bot.returncode == 0
    assert "Application started" in err.decode() and SECRET not in err.decode()


async def test_bot_py_rejected_token_exits_2(api: BotAPI, seed_retriever: Any) -> None:
    revoked = "987654321:" + "R" * 35
    env = _bot_env(api, seed_retriever, revoked)
    async with subprocess(sys.executable, "bot.py", cwd=ROOT, env=env) as bot:
        _, err = await asyncio.wait_for(bot.communicate(), 120)
    assert bot.returncode == 2
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in err.decode()
    assert "R" * 35 not in err.decode()


def test_bot_logging_is_the_same_from_bot_py_and_qabot_bot() -> None:
    """qabot at INFO, httpx and PTB at WARNING (INFO with -v), and a single handler."""
    root = logging.getLogger()
    with kept_log_levels():
        root.handlers.clear()  # `python bot.py`: nothing configured yet
        root.setLevel(logging.WARNING)
        _configure_logging()
        _configure_logging()  # `qabot bot`: cli.main configured logging first
        assert len(root.handlers) == 1
        effective = {
            name: logging.getLogger(name).getEffectiveLevel()
            for name in ("qabot.retriever", "httpx", "telegram.ext.Updater")
        }
        assert effective == {
            "qabot.retriever": logging.INFO,
            "httpx": logging.WARNING,
            "telegram.ext.Updater": logging.WARNING,
        }
        assert logging.getLogger("telegram.ext.Application").isEnabledFor(logging.INFO)
        root.setLevel(logging.INFO)  # `qabot -v bot`
        _configure_logging()
        assert logging.getLogger("telegram.ext.Updater").isEnabledFor(logging.INFO)


def test_hide_token_is_idempotent() -> None:
    hide_token(TOKEN)
    factory = logging.getLogRecordFactory()
    hide_token(TOKEN)
    assert logging.getLogRecordFactory() is factory


def test_malformed_or_missing_token_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bot(Settings(telegram_bot_token="12345:short")) == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN is malformed" in err and "short" not in err
    assert run_bot(Settings(telegram_bot_token=None)) == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in capsys.readouterr().err


# --------------------------------------------------------------------------- access and abuse


async def test_chats_outside_the_allow_list_are_refused_once(
    api: BotAPI, fake: FakeRetriever
) -> None:
    async with running(make_settings(api, allowed_chat_ids=[1001]), fake):
        refusal = await ask(api, "متى تأسست المنظمة؟", chat_id=2002)
        api.push_message("مرحبًا؟", chat_id=2002)
        allowed = await ask(api, "متى تأسست المنظمة؟", chat_id=1001)
    assert visible(refusal) == handlers.NOT_ALLOWED
    assert len(api.calls_to("sendMessage", chat_id=2002)) == 1
    assert "1969" in visible(allowed)
    assert fake.questions == ["متى تأسست المنظمة؟"]


async def test_rate_limit_replies_with_a_friendly_message(api: BotAPI, fake: FakeRetriever) -> None:
    async with running(make_settings(api, rate_limit_per_minute=2), fake):
        for _ in range(2):
            assert "1969" in visible(await ask(api, "متى تأسست المنظمة؟"))
        limited = visible(await ask(api, "متى تأسست المنظمة؟"))
        other_user = visible(await ask(api, "متى تأسست المنظمة؟", chat_id=3003))
    assert limited.startswith("أرسلتَ أسئلة كثيرة") and "ثانية" in limited
    assert "1969" in other_user
    assert len(fake.questions) == 3


async def test_a_flood_gets_one_rate_limit_reply(api: BotAPI, fake: FakeRetriever) -> None:
    async with running(make_settings(api, rate_limit_per_minute=2), fake):
        for _ in range(6):
            api.push_message("متى تأسست المنظمة؟", chat_id=1001)
        await ask(api, "/help", chat_id=3003)  # updates are handled in order: the flood is done
    replies = [visible(c) for c in api.calls_to("sendMessage", chat_id=1001)]
    assert len(replies) == 3 and all("1969" in r for r in replies[:2])
    assert replies[2].startswith("أرسلتَ أسئلة كثيرة")
    assert len(fake.questions) == 2


def test_sliding_window_tells_once_per_refusal() -> None:
    now = [0.0]
    window = SlidingWindow(1, window=60, clock=lambda: now[0])
    assert window.hit(1) == 0
    assert window.tell(1, window.hit(1)) and window.tell(2, 60)
    now[0] = 59.0
    assert not window.tell(1, window.hit(1))
    now[0] = 60.0
    assert window.hit(1) == 0
    assert window.tell(1, window.hit(1))  # a new refusal is told again


def test_sliding_window_frees_slots_as_they_age() -> None:
    now = [0.0]
    window = SlidingWindow(2, window=60, clock=lambda: now[0])
    assert window.hit(1) == 0 and window.hit(1) == 0
    assert window.hit(1) == 60 and window.hit(2) == 0
    now[0] = 30.0
    assert window.hit(1) == 30
    now[0] = 60.0
    assert window.hit(1) == 0


#: Stands in for the encoder /reindex is given; the build is faked in these tests.
ENCODER: Any = object()


class Report:
    def model_dump(self) -> dict[str, Any]:
        return {"articles": 1, "passages": 19, "generation": "g2"}


async def test_reindex_is_for_admins_only(
    api: BotAPI, fake: FakeRetriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Settings] = []
    monkeypatch.setattr(
        indexer, "build_index", lambda settings, **kw: built.append(settings) or Report()
    )
    async with running(make_settings(api, admin_ids=[42]), fake):
        refused = visible(await ask(api, "/reindex", chat_id=1001))
        mark = api.mark()
        api.push_message("/reindex", chat_id=42)
        done = await api.wait_for("sendMessage", chat_id=42, since=mark, count=2)
    assert refused == handlers.ADMINS_ONLY and len(built) == 1
    assert "في الفهرس الآن مقالة واحدة، 19 فقرة." in visible(done) and fake.refreshes == 1


async def test_questions_are_answered_while_reindex_runs(
    api: BotAPI, fake: FakeRetriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow /reindex holds up no one; a second one meanwhile is turned away.

    It builds with the encoder the bot was given (the retriever's: one model in memory).
    """
    release, builds = threading.Event(), []

    def slow_build(settings: Settings, **kwargs: Any) -> Report:
        builds.append(kwargs)
        assert release.wait(20)
        return Report()

    monkeypatch.setattr(indexer, "build_index", slow_build)
    async with running(make_settings(api, admin_ids=[42]), fake, encoder=ENCODER):
        mark = api.mark()
        try:
            async with asyncio.timeout(5):
                api.push_message("/reindex", chat_id=42)
                await api.wait_for("sendMessage", chat_id=42, since=mark)
                busy = visible(await ask(api, "/reindex", chat_id=42))
                answer = visible(await ask(api, "متى تأسست المنظمة؟", chat_id=1001))
            assert len(builds) == 1 and not release.is_set()  # still building
        finally:
            release.set()
        done = await api.wait_for("sendMessage", chat_id=42, since=mark, count=3)
    assert busy == handlers.ALREADY_REINDEXING and "1969" in answer
    assert "19 فقرة" in visible(done)
    assert builds == [{"encoder": ENCODER, "lock_timeout": TIMEOUTS.reindex_lock}]


async def test_reindex_gives_up_soon_when_another_build_holds_the_lock(
    api: BotAPI, fake: FakeRetriever, tmp_path: Path
) -> None:
    settings = make_settings(api, admin_ids=[42], index_dir=tmp_path, lock_timeout=600)
    with FileLock(str(tmp_path / ".lock")):  # as a `qabot index` in a shell would hold it
        async with running(settings, fake, timeouts=Timeouts(reindex_lock=0.2)):
            mark = api.mark()
            api.push_message("/reindex", chat_id=42)
            failed = await api.wait_for("sendMessage", chat_id=42, since=mark, count=2, timeout=5)
    assert visible(failed).startswith(handlers.REINDEX_FAILED.format(error="another `qabot index`"))
    assert fake.refreshes == 0


# --------------------------------------------------------------------------- the stand-in itself


async def test_stand_in_long_polls_and_confirms_offsets(api: BotAPI) -> None:
    url = f"{api.base_url}{api.token}/getUpdates"
    async with aiohttp.ClientSession() as session:
        started = asyncio.get_running_loop().time()
        async with session.post(url, data={"timeout": "1"}) as response:
            assert (await response.json()) == {"ok": True, "result": []}
        assert asyncio.get_running_loop().time() - started >= 0.9

        poll = asyncio.create_task(session.post(url, data={"timeout": "5"}))
        await asyncio.sleep(0.2)
        api.push_message("سؤال")
        async with await poll as response:
            [update] = (await response.json())["result"]
        async with session.post(url, data={"offset": str(update["update_id"] + 1)}) as response:
            assert (await response.json())["result"] == []
        async with session.post(f"{api.base_url}123:wrong/getMe") as response:
            assert response.status == 401
    assert update["message"]["text"] == "سؤال"
    assert [c.params.get("offset") for c in api.calls_to("getUpdates")] == [None, None, 2]
