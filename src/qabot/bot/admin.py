"""The admins' handlers: /add, an uploaded document, /stats, and the feed-polling job.

Ingestion (fetching, extracting, writing article files, the index build) runs in a worker
thread, holding the ingestion lock, so questions go on being answered meanwhile; once
something was added the retriever swaps to the new index.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from .. import feeds, render_admin
from ..errors import QabotError
from ..ingest import HTML_SUFFIXES, TEXT_SUFFIXES, AddReport, Source, Upload, add_sources
from ..questions import QuestionLog
from . import handlers
from .state import BotContext, BotData, is_admin

log = logging.getLogger(__name__)

ADMINS_ONLY = "عذرًا، هذا الأمر متاح للمشرفين فقط."
ADD_USAGE = "أرسل رابط المقالة بعد الأمر، مثلًا: ‎/add https://example.com/news/1"
ADDING = "جارٍ قراءة المقالة وإضافتها…"
ADD_FAILED = "تعذّرت الإضافة: {error}"
UPLOAD_KINDS = "أرسل المقالة ملفًّا بصيغة ‎.txt أو ‎.md أو ‎.html."
UPLOAD_TOO_BIG = "الملف أكبر من الحد المسموح ({limit} ميغابايت)."
STATS_USAGE = "اكتب عدد الأيام بعد الأمر، مثلًا: ‎/stats 30"
MAX_STATS_DAYS = 3650


async def _refused(update: Update, context: BotContext) -> bool:
    """True (after the polite reply) when the sender is not an admin."""
    user = update.effective_user
    if is_admin(user.id if user else None, context.bot_data):
        return False
    await handlers.reply_line(update, ADMINS_ONLY)
    return True


async def _ingest(update: Update, context: BotContext, sources: list[Source]) -> None:
    """Add ``sources`` off the event loop, swap to the new index, reply with what happened."""
    data = context.bot_data
    await handlers.reply_line(update, ADDING)
    try:
        report = await asyncio.to_thread(
            add_sources, sources, data.settings, encoder=data.encoder
        )
    except QabotError as exc:  # the ingestion lock or the index build failed
        await handlers.reply_line(update, ADD_FAILED.format(error=exc))
        return
    if report.added:
        await asyncio.to_thread(data.retriever.refresh)
    assert update.effective_message is not None
    for text in render_admin.added_html(report):
        await update.effective_message.reply_text(text)


async def add_command(update: Update, context: BotContext) -> None:
    """`/add URL...`: fetch the pages and add their articles (admins only)."""
    if await _refused(update, context):
        return
    urls = context.args or []
    if not urls:
        await handlers.reply_line(update, ADD_USAGE)
        return
    sources: list[Source] = list(urls)
    await _ingest(update, context, sources)


async def document(update: Update, context: BotContext) -> None:
    """An uploaded .txt/.md/.html file becomes an article (admins only)."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    upload, limit = message.document, context.bot_data.settings.fetch_max_bytes
    name = upload.file_name or "upload.txt"
    article = Path(name).suffix.lower() in (*TEXT_SUFFIXES, *HTML_SUFFIXES)
    user = update.effective_user
    if message.caption and not (article and is_admin(user.id if user else None, context.bot_data)):
        await handlers.text_message(update, context)  # a question in the caption
        return
    if await _refused(update, context):
        return
    if not article:
        await handlers.reply_line(update, UPLOAD_KINDS)
        return
    if upload.file_size and upload.file_size > limit:
        await handlers.reply_line(update, UPLOAD_TOO_BIG.format(limit=f"{limit / 1_000_000:g}"))
        return
    data = bytes(await (await upload.get_file()).download_as_bytearray())
    if len(data) > limit:
        await handlers.reply_line(update, UPLOAD_TOO_BIG.format(limit=f"{limit / 1_000_000:g}"))
        return
    await _ingest(update, context, [Upload(name, data)])


async def stats_command(update: Update, context: BotContext) -> None:
    """`/stats [days]`: questions per day, share answered, top unanswered (admins only)."""
    if await _refused(update, context):
        return
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 0 < int(args[0]) <= MAX_STATS_DAYS)):
        await handlers.reply_line(update, STATS_USAGE)
        return
    days = int(args[0]) if args else 7
    settings = context.bot_data.settings  # the record is the database's, when configured
    stats = await asyncio.to_thread(lambda: QuestionLog.at(settings).stats(days))
    assert update.effective_message is not None
    for text in render_admin.stats_html(stats):
        await update.effective_message.reply_text(text)


async def poll_feeds(context: BotContext) -> None:
    """The JobQueue's feed poll: add new entries, then answer from the new index."""
    data = context.bot_data
    try:
        report: AddReport = await asyncio.to_thread(
            feeds.poll, data.settings, encoder=data.encoder
        )
    except (QabotError, OSError) as exc:  # tried again at the next interval
        log.warning("feed poll failed: %s", exc)
        return
    if report.added:
        await asyncio.to_thread(data.retriever.refresh)
        log.info("feeds: %s", report.summary().replace("\n", "; "))


def schedule_feeds(application: Application[Any, Any, Any, Any, BotData, Any]) -> None:
    """Poll ``settings.feeds`` every ``feed_minutes`` (first soon after start)."""
    settings = application.bot_data.settings
    if not settings.feeds or application.job_queue is None:
        return
    interval = settings.feed_minutes * 60
    application.job_queue.run_repeating(
        poll_feeds, interval=interval, first=min(interval, 5.0), name="feeds"
    )


__all__ = [
    "ADMINS_ONLY",
    "add_command",
    "document",
    "poll_feeds",
    "schedule_feeds",
    "stats_command",
]
