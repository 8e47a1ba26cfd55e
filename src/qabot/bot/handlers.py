"""The bot's handlers: one short async function per action, as in PTB's examples.

Answers go out as HTML built by :mod:`qabot.render`. A question shows the best passage;
its "نتائج أخرى" button sends the other passages that pass the confidence threshold as
*one* new message replying to the answer, and is then removed (later presses get a short
toast). An edited question edits its answer. The question is encoded in a batch with
the others waiting (:mod:`qabot.batching`) and searched in a worker thread, so the event
loop stays free; when too many wait, the asker is told to try again shortly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from typing import Any

import numpy as np
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop

from .. import render, render_admin
from ..batching import Busy
from ..conversation import Turn
from ..errors import QabotError
from ..gate import is_link, sounds_like_question
from ..index import build as indexer
from ..question import prepare_question
from ..results import Answer, ArticleInfo
from . import hints
from .memory import context_note
from .state import BotContext, BotData, MoreResults, is_admin

log = logging.getLogger(__name__)

EXAMPLES = (
    "متى تأسست منظمة التعاون الإسلامي؟",
    "مع من التقى لافروف في موسكو؟",
    "When was the Organisation of Islamic Cooperation founded?",
)
MORE_BUTTON = "نتائج أخرى"
NOT_ALLOWED = "عذرًا، هذا البوت مخصص لمحادثات محددة ولا يعمل هنا."
RATE_LIMITED = "أرسلتَ أسئلة كثيرة خلال دقيقة. يُرجى المحاولة بعد {seconds} ثانية."
NO_WORDS = "اكتب سؤالك بالكلمات، مثلًا: {example}"
CUT_NOTE = "سؤالك طويل، فاستخدمتُ أول {limit} حرف منه فقط."
ASK_USAGE = "اكتب سؤالك بعد الأمر، مثلًا: ‎/ask {example}"
STALE = "انتهت صلاحية هذه النتائج، أعد طرح السؤال."
ADMINS_ONLY = "عذرًا، تحديث الفهرس متاح للمشرفين فقط."
REINDEXING = "جارٍ تحديث الفهرس من المقالات…"
ALREADY_REINDEXING = "تحديث الفهرس جارٍ بالفعل، انتظر حتى ينتهي."
REINDEX_FAILED = "تعذّر تحديث الفهرس: {error}"
APOLOGY = "عذرًا، حدث خطأ غير متوقع أثناء معالجة رسالتك. حاول مرة أخرى بعد قليل."
OFFER_ADD = "هذا رابط وليس سؤالًا. لإضافة المقالة إلى ما أجيب منه أرسل: ‎/add {url}"
BUSY = "عذرًا، تصلني أسئلة كثيرة الآن. أعد إرسال سؤالك بعد قليل."
NO_MORE = "لا توجد نتائج أخرى تجيب عن السؤال بثقة كافية."
ALREADY_SHOWN = "عُرضت النتائج الأخرى في رسالة أسفل الإجابة."


# --------------------------------------------------------------------------- small helpers


async def reply_line(update: Update, text: str, **kwargs: Any) -> None:
    """Reply with one short, escaped line of our own text."""
    if update.effective_message:
        await update.effective_message.reply_text(render.plain_html(text), **kwargs)


async def _articles(context: BotContext) -> list[ArticleInfo]:
    """The indexed articles, after picking up a rebuilt index."""
    retriever = context.bot_data.retriever
    await asyncio.to_thread(retriever.refresh)
    return retriever.articles()


def _ask(
    data: BotData, question: str, history: list[Turn], vector: np.ndarray | None
) -> Answer:
    """Pick up a rebuilt index and answer; runs in a worker thread."""
    data.retriever.refresh()
    return data.retriever.ask(question, k=data.settings.top_k, history=history, vector=vector)


def _addressed_text(update: Update, context: BotContext) -> str | None:
    """The question in a message (its text or caption), or None for group chatter not
    meant for the bot, including a reply to the bot that asks nothing («شكرًا», 👍)."""
    message = update.effective_message
    if message is None:
        return None
    text = message.text or message.caption
    if text is None:
        return None
    if message.chat.type == ChatType.PRIVATE:
        return text
    mention = f"@{context.bot.username}".lower()
    types: list[str | None] = [MessageEntity.MENTION]
    found = message.parse_entities(types) if message.text else message.parse_caption_entities(types)
    if any(word.lower() == mention for word in found.values()):
        return re.sub(re.escape(mention), " ", text, flags=re.IGNORECASE)
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == context.bot.id:
        return text if sounds_like_question(text) else None
    return None


def _user_id(update: Update) -> int | None:
    return update.effective_user.id if update.effective_user else None


async def _send_answer(
    message: Message, context: BotContext, texts: list[str], markup: Any
) -> list[int]:
    """Reply with ``texts``; for an edited question, edit the answer it had (if one text).
    The ids of the messages that carry the answer, every part of it."""
    data, key = context.bot_data, (message.chat_id, message.message_id)
    earlier = data.answers.get(key) if message.edit_date else None
    if earlier is not None and len(texts) == 1:
        with contextlib.suppress(TelegramError):  # gone or unchanged: reply anew below
            await context.bot.edit_message_text(
                texts[0], message.chat_id, earlier, reply_markup=markup
            )
            return [earlier]
    sent: list[int] = []
    for i, text in enumerate(texts):
        part = await message.reply_text(text, reply_markup=markup if i == len(texts) - 1 else None)
        sent.append(part.message_id)
    if sent:
        data.answers.put(key, sent[-1])
    return sent


async def _answer(update: Update, context: BotContext, raw: str) -> None:
    """Answer one question: limits, typing, retrieval off the loop, reply with a button."""
    message, data = update.effective_message, context.bot_data
    assert message is not None and update.effective_chat is not None
    who = update.effective_user.id if update.effective_user else update.effective_chat.id
    wait = data.limiter.hit(who)
    if wait:  # said once; a flood gets no more replies than that
        if data.limiter.tell(who, wait):
            await reply_line(update, RATE_LIMITED.format(seconds=math.ceil(wait)))
        return
    if is_link(raw) and is_admin(_user_id(update), data):
        await reply_line(update, OFFER_ADD.format(url=raw.split()[0]))
        return
    question = prepare_question(raw, data.settings.max_question_chars)
    if not question.has_words:
        await reply_line(update, NO_WORDS.format(example=EXAMPLES[0]))
        return
    note = CUT_NOTE.format(limit=question.cut_at) if question.cut_at else None
    history = await data.memory.history(message, who)
    typing = hints.start_typing(context, message.chat_id)
    answer: Answer | None = None
    try:
        vector = await data.batcher.encode(question.text) if data.batcher else None
        answer = await asyncio.to_thread(_ask, data, question.text, history, vector)
    except Busy:
        pass  # told below, once the typing hint is settled
    finally:
        await hints.settle(typing)
    if answer is None:
        await reply_line(update, BUSY)
        return
    note = " ".join(filter(None, (note, context_note(answer, history)))) or None
    markup = None
    if answer.found and _more(answer, data.settings.min_confidence):
        # PTB keeps the payload in its bounded cache and sends Telegram a 64-byte key.
        more = MoreResults(chat_id=message.chat_id, answer=answer)
        markup = InlineKeyboardMarkup.from_button(
            InlineKeyboardButton(MORE_BUTTON, callback_data=more)
        )
    turn = await data.memory.remember(message, who, answer)
    for part in await _send_answer(message, context, render.answer_html(answer, note=note), markup):
        await data.memory.sent(message.chat_id, part, turn)  # a reply to any part: the turn
    await data.record(answer)


def _more(answer: Answer, threshold: float) -> Answer | None:
    """The answer with only the extra passages that pass the threshold; None if none do."""
    extra = [p for p in answer.passages[1:] if p.confidence >= threshold]
    return answer.model_copy(update={"passages": answer.passages[:1] + extra}) if extra else None


# --------------------------------------------------------------------------- handlers


async def guard(update: Update, context: BotContext) -> None:
    """Turn away chats outside `allowed_chat_ids`: one polite refusal, then silence."""
    allowed, chat = context.bot_data.settings.allowed_chat_ids, update.effective_chat
    if not allowed or chat is None or chat.id in allowed:
        return
    if update.callback_query:
        await update.callback_query.answer(NOT_ALLOWED)
    elif chat.id not in context.bot_data.refused:
        context.bot_data.refused.add(chat.id)
        await context.bot.send_message(chat.id, render.plain_html(NOT_ALLOWED))
    raise ApplicationHandlerStop


async def start(update: Update, context: BotContext) -> None:
    """Greet, say which articles the bot has read and what to ask."""
    assert update.effective_message is not None
    for text in render.welcome_html(await _articles(context), EXAMPLES):
        await update.effective_message.reply_text(text)


async def help_command(update: Update, context: BotContext) -> None:
    """Explain how to ask and list the commands."""
    assert update.effective_message is not None
    extra = render_admin.ADMIN_COMMANDS if is_admin(_user_id(update), context.bot_data) else ()
    await update.effective_message.reply_text(render.help_html(context.bot.username, extra))


async def sources(update: Update, context: BotContext) -> None:
    """List the indexed articles: title, outlet, date, link."""
    assert update.effective_message is not None
    for text in render.sources_html(await _articles(context)):
        await update.effective_message.reply_text(text)


async def ask_command(update: Update, context: BotContext) -> None:
    """Answer `/ask QUESTION`, the way to ask in a group."""
    question = " ".join(context.args or [])
    if not question:
        await reply_line(update, ASK_USAGE.format(example=EXAMPLES[0]))
        return
    await _answer(update, context, question)


async def text_message(update: Update, context: BotContext) -> None:
    """Answer a text message as a question (in groups only when it is meant for the bot)."""
    question = _addressed_text(update, context)
    if question is not None:
        await _answer(update, context, question)


async def more_results(update: Update, context: BotContext) -> None:
    """Send the other passages of an earlier answer, in the chat it was given in."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and isinstance(query.data, MoreResults)
    more, message = query.data, query.message
    if chat is None or chat.id != more.chat_id or message is None:
        await _toast(update, STALE)
        return
    key, expanded = (chat.id, message.message_id), context.bot_data.expanded
    if key in expanded:  # pressed again (presses fetched together all carry the data)
        await _toast(update, ALREADY_SHOWN)
        return
    expanded.put(key, 0)
    # Used once: PTB forgets the data, so a later press lands in `stale_button`.
    with contextlib.suppress(KeyError):
        context.drop_callback_data(query)
    extra = _more(more.answer, context.bot_data.settings.min_confidence)
    await _toast(update, None if extra else NO_MORE)
    with contextlib.suppress(TelegramError):  # the button did its job; fine if it lingers
        await query.edit_message_reply_markup(None)
    if extra is None:
        return
    reply = ReplyParameters(message.message_id, allow_sending_without_reply=True)
    texts = render.answer_html(extra, start=1, count=len(extra.passages))
    for text in texts:
        await context.bot.send_message(chat.id, text, reply_parameters=reply)


async def _toast(update: Update, text: str | None) -> None:
    """Answer a button press; Telegram refuses (400) once a press is too old: no matter."""
    assert update.callback_query is not None
    with contextlib.suppress(TelegramError):
        await update.callback_query.answer(text)


async def stale_button(update: Update, context: BotContext) -> None:
    """A button PTB no longer knows: used already (say where its results are), or expired
    (evicted, or a restart); either way it goes, so it cannot be pressed again."""
    query = update.callback_query
    assert query is not None
    message = query.message
    used = message is not None and (message.chat.id, message.message_id) in (
        context.bot_data.expanded
    )
    await _toast(update, ALREADY_SHOWN if used else STALE)
    if message is not None:
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(None)


async def reindex(update: Update, context: BotContext) -> None:
    """Rebuild the index (admins only, one build at a time) and report what changed."""
    user, data = update.effective_user, context.bot_data
    if user is None or user.id not in data.settings.admin_ids:
        await reply_line(update, ADMINS_ONLY)
        return
    if data.reindexing.locked():
        await reply_line(update, ALREADY_REINDEXING)
        return
    async with data.reindexing:
        await reply_line(update, REINDEXING)
        try:
            report = await asyncio.to_thread(
                indexer.build_index,
                data.settings,
                encoder=data.encoder,
                lock_timeout=data.timeouts.reindex_lock,
            )
        except QabotError as exc:
            await reply_line(update, REINDEX_FAILED.format(error=exc))
            return
        await asyncio.to_thread(data.retriever.refresh)
    assert update.effective_message is not None
    for text in render_admin.reindex_html(report):
        await update.effective_message.reply_text(text)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure (token redacted) and apologise instead of going silent."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    if update.callback_query:  # a button press never posts an error into the chat
        await _toast(update, None)
        return
    if update.effective_chat:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, render.plain_html(APOLOGY))


async def publish_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Publish the commands with Arabic descriptions, for Telegram's command menu.

    The menu is a convenience: if Telegram keeps failing here, the bot starts without it.
    """
    commands = [BotCommand(name, text) for name, text in render.COMMANDS]
    try:
        await application.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not publish the command menu (%s); starting without it", exc)
