"""The bot's handlers: one short async function per action, as in PTB's examples.

Answers go out as HTML built by :mod:`qabot.render`. A question shows the best passage;
its "نتائج أخرى" button sends the remaining passages as a *new* message (replying to
the answer, whose button is then removed), so the first answer stays readable above.
The retriever runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop

from .. import render
from ..errors import QabotError
from ..index import build as indexer
from ..question import prepare_question
from ..results import Answer, ArticleInfo
from .state import BotContext, BotData, MoreResults

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


# --------------------------------------------------------------------------- small helpers


async def _reply(update: Update, text: str, **kwargs: Any) -> None:
    """Reply with one short, escaped line of our own text."""
    if update.effective_message:
        await update.effective_message.reply_text(render.plain_html(text), **kwargs)


async def _articles(context: BotContext) -> list[ArticleInfo]:
    """The indexed articles, after picking up a rebuilt index."""
    retriever = context.bot_data.retriever
    await asyncio.to_thread(retriever.refresh)
    return retriever.articles()


def _ask(data: BotData, question: str) -> Answer:
    """Pick up a rebuilt index, answer, record the question; runs in a worker thread."""
    data.retriever.refresh()
    answer = data.retriever.ask(question, k=data.settings.top_k)
    if data.qlog is not None:
        data.qlog.record_answer(answer)
    return answer


def _addressed_text(update: Update, context: BotContext) -> str | None:
    """The question in a message, or None for group chatter not meant for the bot."""
    message = update.effective_message
    if message is None or message.text is None:
        return None
    if message.chat.type == ChatType.PRIVATE:
        return message.text
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == context.bot.id:
        return message.text
    mention = f"@{context.bot.username}".lower()
    found = message.parse_entities([MessageEntity.MENTION])
    if any(text.lower() == mention for text in found.values()):
        return re.sub(re.escape(mention), " ", message.text, flags=re.IGNORECASE)
    return None


async def _answer(update: Update, context: BotContext, raw: str) -> None:
    """Answer one question: limits, typing, retrieval off the loop, reply with a button."""
    message, data = update.effective_message, context.bot_data
    assert message is not None and update.effective_chat is not None
    who = update.effective_user.id if update.effective_user else update.effective_chat.id
    wait = data.limiter.hit(who)
    if wait:  # said once; a flood gets no more replies than that
        if data.limiter.tell(who, wait):
            await _reply(update, RATE_LIMITED.format(seconds=math.ceil(wait)))
        return
    question = prepare_question(raw, data.settings.max_question_chars)
    if not question.has_words:
        await _reply(update, NO_WORDS.format(example=EXAMPLES[0]))
        return
    note = CUT_NOTE.format(limit=question.cut_at) if question.cut_at else None
    with contextlib.suppress(TelegramError):  # the typing hint is nice to have, no more
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    answer = await asyncio.to_thread(_ask, data, question.text)
    markup = None
    if answer.found and len(answer.passages) > 1:
        # PTB keeps the payload in its bounded cache and sends Telegram a 64-byte key.
        more = MoreResults(chat_id=message.chat_id, answer=answer)
        markup = InlineKeyboardMarkup.from_button(
            InlineKeyboardButton(MORE_BUTTON, callback_data=more)
        )
    texts = render.answer_html(answer, note=note)
    for i, text in enumerate(texts):
        await message.reply_text(text, reply_markup=markup if i == len(texts) - 1 else None)


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
    await update.effective_message.reply_text(render.help_html())


async def sources(update: Update, context: BotContext) -> None:
    """List the indexed articles: title, outlet, date, link."""
    assert update.effective_message is not None
    for text in render.sources_html(await _articles(context)):
        await update.effective_message.reply_text(text)


async def ask_command(update: Update, context: BotContext) -> None:
    """Answer `/ask QUESTION`, the way to ask in a group."""
    question = " ".join(context.args or [])
    if not question:
        await _reply(update, ASK_USAGE.format(example=EXAMPLES[0]))
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
    more = query.data
    if chat is None or chat.id != more.chat_id:
        await query.answer(STALE)
        return
    await query.answer()
    with contextlib.suppress(TelegramError):  # the button did its job; fine if it lingers
        await query.edit_message_reply_markup(None)
    for text in render.answer_html(more.answer, start=1, count=len(more.answer.passages)):
        await context.bot.send_message(chat.id, text)


async def stale_button(update: Update, context: BotContext) -> None:
    """Say that a button expired: PTB no longer holds its data (evicted, or a restart)."""
    assert update.callback_query is not None
    await update.callback_query.answer(STALE)


async def reindex(update: Update, context: BotContext) -> None:
    """Rebuild the index (admins only, one build at a time) and report what changed."""
    user, data = update.effective_user, context.bot_data
    if user is None or user.id not in data.settings.admin_ids:
        await _reply(update, ADMINS_ONLY)
        return
    if data.reindexing.locked():
        await _reply(update, ALREADY_REINDEXING)
        return
    async with data.reindexing:
        await _reply(update, REINDEXING)
        try:
            report = await asyncio.to_thread(
                indexer.build_index,
                data.settings,
                encoder=data.encoder,
                lock_timeout=data.timeouts.reindex_lock,
            )
        except QabotError as exc:
            await _reply(update, REINDEX_FAILED.format(error=exc))
            return
        await asyncio.to_thread(data.retriever.refresh)
    assert update.effective_message is not None
    for text in render.reindex_html(report):
        await update.effective_message.reply_text(text)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure (token redacted) and apologise instead of going silent."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    if update.callback_query:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
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
