"""The bot remembers each conversation: over the Bot API stand-in with the real PTB.

A recording fake shows which history each question was asked with (expiry, /new, replies,
chats and group users kept apart), with the memory in this process and in a real
PostgreSQL; the real model over the seed article shows a follow-up answered in context.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from botapi import BOT_USERNAME, BotAPI, Call, parse_html, running

from qabot.bot.memory import CONTEXT_NOTE, NEW_CONVERSATION
from qabot.config import Settings
from qabot.conversation import Turn
from qabot.memory import Conversations
from qabot.pgmemory import PgConversations, PgReplies
from qabot.results import Answer, Passage


class Recorder:
    """Answers every question with one passage naming it; records the history it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Turn]]] = []

    def refresh(self) -> bool:
        return False

    def articles(self) -> list[Any]:
        return []

    def ask(self, question: str, k: int = 3, history: Any = None, vector: Any = None) -> Answer:
        history = list(history or [])
        self.calls.append((question, history))
        # "طويل" (long) in the question: a passage too long for one Telegram message
        text = f"جواب عن {question}" + (" كلمة" * 1500 if "طويل" in question else "")
        passage = Passage(
            id=f"a{len(self.calls)}#1", article=f"a{len(self.calls)}", paragraph=1,
            text=text, sentence=f"جواب عن {question}", confidence=0.9,
            published=date(2024, 1, 1),
        )  # fmt: skip
        return Answer(
            question=question, passages=[passage], found=True, sentence=passage.sentence,
            context_used=bool(history),
        )  # fmt: skip

    def history_of(self, question: str) -> list[str]:
        """The earlier questions the last asking of ``question`` was read with."""
        found = [h for q, h in self.calls if q == question]
        assert found, f"{question!r} was never asked"
        return [t.question for t in found[-1]]


class Clock:
    now = 5000.0

    def __call__(self) -> float:
        return self.now


def settings_for(api: BotAPI) -> Settings:
    return Settings(
        telegram_bot_token=api.token, telegram_api_base_url=api.base_url,
        rate_limit_per_minute=1000, admin_ids=[], allowed_chat_ids=[],
    )  # fmt: skip


@pytest.fixture
async def api() -> AsyncIterator[BotAPI]:
    async with BotAPI() as server:
        yield server


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(params=["in-process", "database"])
async def bot(
    api: BotAPI, recorder: Recorder, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[BotAPI]:
    """The bot with its memory in this process, or in a real PostgreSQL (qabot.pgmemory)."""
    async with running(settings_for(api), recorder) as app:
        memory = app.bot_data.memory
        if request.param == "database":
            url = request.getfixturevalue("pg_url")
            memory.conversations = PgConversations(url, 3, 600, clock=clock)
            memory.replies = PgReplies(url, clock=clock)
            memory.in_database = True
        else:
            memory.conversations = Conversations(3, 600, clock=clock)
        yield api


async def ask(api: BotAPI, text: str, chat_id: int = 1001, **kwargs: Any) -> Call:
    mark = api.mark()
    api.push_message(text, chat_id=chat_id, **kwargs)
    return await api.wait_for("sendMessage", chat_id=chat_id, since=mark)


async def test_follow_up_is_asked_with_the_earlier_questions(
    bot: BotAPI, recorder: Recorder
) -> None:
    await ask(bot, "س1 من هو الأمين العام؟")
    reply = await ask(bot, "س2 ومتى تنتهي زيارته؟")
    assert recorder.history_of("س2 ومتى تنتهي زيارته؟") == ["س1 من هو الأمين العام؟"]
    # the answer says which question it was read with
    assert CONTEXT_NOTE.format(question="س1 من هو الأمين العام؟") in parse_html(reply.text)
    for q in ("س3", "س4", "س5"):
        await ask(bot, q)
    assert recorder.history_of("س5") == ["س2 ومتى تنتهي زيارته؟", "س3", "س4"]  # last 3


async def test_first_question_has_no_context_note(bot: BotAPI, recorder: Recorder) -> None:
    reply = await ask(bot, "سؤال أول")
    assert recorder.history_of("سؤال أول") == []
    assert "سياق" not in parse_html(reply.text)


async def test_reply_to_an_answer_uses_that_answer_as_context(
    bot: BotAPI, recorder: Recorder
) -> None:
    first = await ask(bot, "س1 عن قازان")
    await ask(bot, "س2 عن موسكو")
    await ask(bot, "س3 عن الرياض")
    await ask(bot, "س4 وما عاصمتها؟", reply_to=first.result)
    [turn] = [h for q, h in recorder.calls if q == "س4 وما عاصمتها؟"][0]
    assert turn == Turn("س1 عن قازان", article="a1", passage="a1#1")


async def test_reply_to_any_part_of_a_long_answer_uses_that_answer(
    bot: BotAPI, recorder: Recorder
) -> None:
    mark = bot.mark()
    bot.push_message("س1 سؤال جوابه طويل", chat_id=1001)
    await bot.wait_for("sendMessage", chat_id=1001, since=mark, count=2)
    await ask(bot, "س2 عن موسكو")  # comes in between
    parts = [c for c in bot.calls_to("sendMessage", chat_id=1001, since=mark) if c.status == 200]
    parts = parts[:-1]  # the answer to س2 is not a part
    assert len(parts) >= 2
    for i, part in enumerate(parts):
        question = f"س{3 + i} وما عاصمتها؟"
        await ask(bot, question, reply_to=part.result)
        [turn] = [h for q, h in recorder.calls if q == question][0]
        assert turn == Turn("س1 سؤال جوابه طويل", article="a1", passage="a1#1")


async def test_new_forgets_the_conversation(bot: BotAPI, recorder: Recorder) -> None:
    await ask(bot, "س1")
    done = await ask(bot, "/new")
    assert parse_html(done.text) == NEW_CONVERSATION
    await ask(bot, "س2")
    assert recorder.history_of("س2") == []


async def test_new_is_in_the_command_menu(bot: BotAPI) -> None:
    [call] = bot.calls_to("setMyCommands")
    commands = {c["command"]: c["description"] for c in call.params["commands"]}
    assert re.search(r"[\u0600-\u06FF]", commands["new"])


async def test_conversation_expires_after_ten_minutes_of_silence(
    bot: BotAPI, recorder: Recorder, clock: Clock
) -> None:
    await ask(bot, "س1")
    clock.now += 9 * 60
    await ask(bot, "س2")
    assert recorder.history_of("س2") == ["س1"]
    clock.now += 10 * 60 + 1
    await ask(bot, "س3")
    assert recorder.history_of("س3") == []


async def test_two_chats_do_not_share_context(bot: BotAPI, recorder: Recorder) -> None:
    await ask(bot, "س1 في المحادثة الأولى", chat_id=1001)
    await ask(bot, "س2 في المحادثة الثانية", chat_id=2002)
    assert recorder.history_of("س2 في المحادثة الثانية") == []
    await ask(bot, "س3", chat_id=1001)
    assert recorder.history_of("س3") == ["س1 في المحادثة الأولى"]


async def test_group_users_do_not_share_context(bot: BotAPI, recorder: Recorder) -> None:
    group = -100555
    mention = f"@{BOT_USERNAME}"
    await ask(bot, f"{mention} س1 من المستخدم 7", chat_id=group, user_id=7)
    await ask(bot, f"{mention} س2 من المستخدم 8", chat_id=group, user_id=8)
    await ask(bot, f"/ask@{BOT_USERNAME} س3 من المستخدم 7", chat_id=group, user_id=7)
    assert recorder.history_of("س2 من المستخدم 8") == []
    assert recorder.history_of("س3 من المستخدم 7") == ["س1 من المستخدم 7"]
    await ask(bot, f"/new@{BOT_USERNAME}", chat_id=group, user_id=8)  # 8 forgets; 7 does not
    await ask(bot, f"{mention} س4 من المستخدم 7", chat_id=group, user_id=7)
    assert recorder.history_of("س4 من المستخدم 7") == ["س1 من المستخدم 7", "س3 من المستخدم 7"]


@pytest.mark.slow
async def test_seed_follow_up_is_answered_in_context(api: BotAPI, seed_retriever: Any) -> None:
    async with running(settings_for(api), seed_retriever):
        await ask(api, "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟")
        reply = await ask(api, "ولأي وكالة أنباء صرّح؟")
    text = parse_html(reply.text)
    assert "سياق" in text and "تاس" in text
