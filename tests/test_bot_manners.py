"""The bot as people really use it (issue 16), through the Bot API stand-in.

Presses of one button, a failed callback answer, captions, edits, stickers, unknown
commands, being added to a group, thank-you replies, links from admins, echoed English.
Most use the fake retriever (quick and exact); the gate's effect on the real retriever
is in test_gate.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botapi import BOT_USERNAME, BotAPI, running, settled
from test_telegram_bot import FakeRetriever, ask, button, make_settings, visible

from qabot import render
from qabot.bot import handlers, manners
from qabot.bot.state import BotData

QUESTION = "لافروف منظمة التعاون الإسلامي قازان"


@pytest.fixture
async def api() -> AsyncIterator[BotAPI]:
    async with BotAPI() as server:
        yield server


#: The application serving each stand-in, for `_settled`.
_APPS: dict[int, Any] = {}


@pytest.fixture
async def bot(api: BotAPI) -> AsyncIterator[BotAPI]:
    async with running(make_settings(api, admin_ids=[42]), FakeRetriever()) as app:
        _APPS[id(api)] = app
        yield api
        del _APPS[id(api)]


async def _settled(api: BotAPI) -> None:
    """Wait until every update pushed so far was handled (chats are handled concurrently)."""
    await settled(api, _APPS[id(api)])


async def test_ten_presses_give_one_message_and_toasts(bot: BotAPI) -> None:
    answer = await ask(bot, QUESTION)
    mark = bot.mark()
    for _ in range(10):
        bot.push_callback(button(answer)["callback_data"], message=answer.result)
    await _settled(bot)
    more = bot.calls_to("sendMessage", chat_id=1001, since=mark)
    toasts = [c.params.get("text") for c in bot.calls_to("answerCallbackQuery", since=mark)]
    assert len(more) == 1 and "نتائج أخرى" in visible(more[0])
    assert more[0].params["reply_parameters"]["message_id"] == answer.result["message_id"]
    assert toasts[0] is None and toasts[1:] == [handlers.ALREADY_SHOWN] * 9
    removed = bot.calls_to("editMessageReplyMarkup", since=mark)
    assert removed and removed[0].params["message_id"] == answer.result["message_id"]


async def test_a_press_after_a_restart_removes_the_button(api: BotAPI) -> None:
    async with running(make_settings(api), FakeRetriever()):
        answer = await ask(api, QUESTION)
    async with running(make_settings(api), FakeRetriever()) as app:
        mark = api.mark()
        api.push_callback(button(answer)["callback_data"], message=answer.result)
        await settled(api, app)
    [toast] = api.calls_to("answerCallbackQuery", since=mark)
    [removed] = api.calls_to("editMessageReplyMarkup", since=mark)
    assert toast.params["text"] == handlers.STALE
    assert removed.params["message_id"] == answer.result["message_id"]


async def test_a_failed_callback_answer_posts_no_apology(bot: BotAPI) -> None:
    answer = await ask(bot, QUESTION)
    bot.fail("answerCallbackQuery", times=3, status=400)  # "query is too old"
    mark = bot.mark()
    bot.push_callback(button(answer)["callback_data"], message=answer.result)
    bot.push_callback("more:gone", message=answer.result)
    await _settled(bot)
    texts = [visible(c) for c in bot.calls_to("sendMessage", chat_id=1001, since=mark)]
    assert handlers.APOLOGY not in texts
    assert len(texts) == 1 and "نتائج أخرى" in texts[0]  # the press still did its job


async def test_a_caption_is_answered_like_text(bot: BotAPI) -> None:
    message = bot.new_message(chat_id=1001)
    message |= {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}
    message["caption"] = "متى تأسست المنظمة؟"
    mark = bot.mark()
    bot.push_update("message", message)
    call = await bot.wait_for("sendMessage", chat_id=1001, since=mark)
    assert "1969" in visible(call)
    # A document from someone who is not an admin: its caption is the question.
    mark = bot.mark()
    bot.push_document("notes.txt", b"x", chat_id=1001, caption="متى تأسست المنظمة؟")
    call = await bot.wait_for("sendMessage", chat_id=1001, since=mark)
    assert "1969" in visible(call)


async def test_an_edited_question_edits_its_answer(bot: BotAPI) -> None:
    message = bot.push_message("كيف أطبخ الكبسة؟", chat_id=1001)
    first = await bot.wait_for("sendMessage", chat_id=1001)
    assert render.NOT_FOUND in visible(first)
    mark = bot.mark()
    edited = message | {"text": "متى تأسست المنظمة؟", "edit_date": int(time.time())}
    bot.push_update("edited_message", edited)
    call = await bot.wait_for("editMessageText", since=mark)
    await _settled(bot)
    assert call.params["message_id"] == first.result["message_id"]
    assert "1969" in visible(call)
    assert not bot.calls_to("sendMessage", chat_id=1001, since=mark)


@pytest.mark.parametrize(
    "content",
    [{"sticker": {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                  "is_animated": False, "is_video": False, "type": "regular"}},
     {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}},
     {"location": {"latitude": 24.7, "longitude": 46.7}}],
)  # fmt: skip
async def test_stickers_voice_and_locations_get_one_note(
    bot: BotAPI, content: dict[str, Any]
) -> None:
    mark = bot.mark()
    bot.push_update("message", bot.new_message(chat_id=1001) | content)
    bot.push_update("message", bot.new_message(chat_id=-100777) | content)  # a group: silence
    await _settled(bot)
    [note] = bot.calls_to("sendMessage", chat_id=1001, since=mark)
    assert visible(note) == manners.TEXT_ONLY
    assert not bot.calls_to("sendMessage", chat_id=-100777, since=mark)


async def test_unknown_commands_point_to_help(bot: BotAPI) -> None:
    assert visible(await ask(bot, "/foo")) == manners.UNKNOWN_COMMAND
    mark = bot.mark()
    bot.push_message("/foo@other_bot", chat_id=-100777)  # another bot's command: not ours
    reply = await ask(bot, f"/foo@{BOT_USERNAME}", chat_id=-100777)
    assert visible(reply) == manners.UNKNOWN_COMMAND
    assert len(bot.calls_to("sendMessage", chat_id=-100777, since=mark)) == 1


async def test_help_names_the_bot_and_shows_admins_their_commands(bot: BotAPI) -> None:
    public = visible(await ask(bot, "/help", chat_id=1001))
    admin = visible(await ask(bot, "/help", chat_id=42))
    assert f"\u2068@{BOT_USERNAME}\u2069" in public
    assert "/add" not in public and "/stats" not in public
    assert "/add" in admin and "/stats" in admin and "/reindex" in admin


async def test_added_to_a_group_greets_once(bot: BotAPI) -> None:
    group = bot.chat(-100555, "supergroup")
    me = {k: bot.bot[k] for k in ("id", "is_bot", "first_name", "username")}

    def change(old: str, new: str) -> dict[str, Any]:
        return {
            "chat": group, "from": bot.user(7), "date": int(time.time()),
            "old_chat_member": {"status": old, "user": me},
            "new_chat_member": {"status": new, "user": me},
        }  # fmt: skip

    mark = bot.mark()
    bot.push_update("my_chat_member", change("left", "member"))
    bot.push_update("my_chat_member", change("member", "left"))  # removed again: no greeting
    await _settled(bot)
    [greeting] = bot.calls_to("sendMessage", chat_id=-100555, since=mark)
    assert f"@{BOT_USERNAME}" in visible(greeting) and "/ask" in visible(greeting)


async def test_a_thank_you_reply_in_a_group_gets_no_answer(bot: BotAPI) -> None:
    group = -100123
    answer = await ask(bot, f"@{BOT_USERNAME} متى تأسست المنظمة؟", chat_id=group, user_id=7)
    mark = bot.mark()
    for text in ("شكرًا", "👍", "شكرا جزيلا"):
        bot.push_message(text, chat_id=group, user_id=7, reply_to=answer.result)
    follow_up = await ask(bot, "ومتى عقدت قمة قازان؟", chat_id=group, user_id=7,
                          reply_to=answer.result)  # fmt: skip
    assert len(bot.calls_to("sendMessage", chat_id=group, since=mark)) == 1
    assert "قازان" in visible(follow_up)


async def test_a_link_from_an_admin_is_offered_for_add(bot: BotAPI) -> None:
    url = "https://news.example/story/1"
    offer = visible(await ask(bot, url, chat_id=42))
    other = visible(await ask(bot, url, chat_id=1001))
    assert offer == handlers.OFFER_ADD.format(url=url)
    assert other.startswith("اكتب سؤالك بالكلمات")


async def test_echoed_english_is_isolated(bot: BotAPI) -> None:
    call = await ask(bot, "How do I bake sourdough bread?")
    assert "«\u2068How do I bake sourdough bread?\u2069»" in visible(call)
    start = visible(await ask(bot, "/start"))
    assert f"\u2068{handlers.EXAMPLES[2]}\u2069" in start


async def test_polling_asks_for_exactly_the_handled_update_types(api: BotAPI) -> None:
    async with running(make_settings(api), FakeRetriever()) as app:
        data: BotData = app.bot_data
    assert set(data.update_types) == {
        "message", "edited_message", "callback_query", "my_chat_member"
    }  # fmt: skip
