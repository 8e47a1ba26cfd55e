"""The Telegram bot: one short handler per action; `build_application` only wires them.

Answers go out as HTML built by :mod:`qabot.render`. A question shows the best passage;
its "نتائج أخرى" button sends the remaining passages as a *new* message (replying to
the answer, whose button is then removed), so the first answer stays readable above.
Updates are handled one at a time (PTB's default): the retriever runs in a worker thread
so the event loop stays free, and the model is CPU-bound anyway. `/reindex` is the
exception: it runs beside them, so questions are answered from the old index meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import secrets
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from . import render
from .arabic import sanitize
from .config import Settings
from .errors import QabotError
from .index import build as indexer
from .index.files import current_name
from .results import Answer
from .retriever import ArticleInfo, Retriever

log = logging.getLogger(__name__)

#: What @BotFather hands out: the bot's numeric id, a colon, a long URL-safe secret.
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
EXAMPLES = (
    "متى تأسست منظمة التعاون الإسلامي؟",
    "مع من التقى لافروف في موسكو؟",
    "When was the Organisation of Islamic Cooperation founded?",
)
KEEP_ANSWERS = 2_000  # answers, all chats together, that a "more results" button can reach
MORE = "more:"
#: Seconds /reindex waits for a build started elsewhere (`qabot index`) before saying so.
REINDEX_LOCK_TIMEOUT = 5.0

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

# Bot API timeouts in seconds; module constants so the fault tests can shorten them.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
GET_UPDATES_READ_TIMEOUT = 10.0  # on top of the long-poll timeout
#: A call that fails transiently is repeated this many times, RETRY_BACKOFF s, 2×, 4× … later.
RETRIES = 3
RETRY_BACKOFF = 0.5


# --------------------------------------------------------------------------- small helpers


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key (a user id)."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[int, deque[float]] = {}
        self._told: dict[int, float] = {}  # key -> when its current refusal ends

    def hit(self, key: int) -> float:
        """Count one event; 0 if it is allowed, else the seconds until one would be."""
        if self.limit <= 0:
            return 0.0
        now = self.clock()
        if len(self._events) > 10_000:  # forget idle users, so memory stays bounded
            self._events = {k: v for k, v in self._events.items() if v[-1] > now - self.window}
            self._told = {k: t for k, t in self._told.items() if t > now}
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window - now
        events.append(now)
        return 0.0

    def tell(self, key: int, wait: float) -> bool:
        """Whether to tell ``key`` about a refusal: once, then not until ``wait`` has passed."""
        now = self.clock()
        if self._told.get(key, -math.inf) > now:
            return False
        self._told[key] = now + wait
        return True


class RedactToken(logging.Filter):
    """Replaces the bot token in a record's message and traceback: it is the bot's password."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.secret = token.partition(":")[2] or token

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):  # a broken format string is not ours to fix
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "<token>"), ()
        if record.exc_info and not record.exc_text:
            trace = logging.Formatter().formatException(record.exc_info)
            if self.secret in trace:
                record.exc_text = trace.replace(self.secret, "<token>")
        return True


def _transient(exc: TelegramError) -> bool:
    """Whether a failed Bot API call is worth repeating as it is.

    Yes for 5xx, timeouts, refused or dropped connections (PTB's NetworkError) and for a
    body that is not JSON (a proxy's error page). No for 400 (our request is wrong, and
    BadRequest subclasses NetworkError), 401/403/409, or 429, which AIORateLimiter already
    waited out as many times as it was told to.
    """
    if isinstance(exc, BadRequest):
        return False
    return isinstance(exc, NetworkError) or isinstance(exc.__cause__, json.JSONDecodeError)


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter plus retries with backoff for transient faults.

    AIORateLimiter keeps outgoing calls within Telegram's flood limits and waits out a
    429's ``retry_after``, but PTB raises a 5xx or a timeout at once, so without this an
    answer would turn into an apology at the first hiccup. getUpdates never comes here
    (PTB exempts it): its polling loop has a backoff of its own. A call whose response is
    lost after Telegram acted on it (a read timeout) may deliver its message twice: a
    rare duplicate beats a lost answer.
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except TelegramError as exc:
                if attempt >= RETRIES or not _transient(exc):
                    raise
                delay = RETRY_BACKOFF * 2**attempt
                attempt += 1
                log.warning(
                    "Bot API %s failed (%s: %s); retry %d of %d in %.1f s",
                    endpoint, type(exc).__name__, exc, attempt, RETRIES, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)


_HIDDEN: set[str] = set()


def hide_token(token: str) -> None:
    """Redact ``token`` from every log record as it is made, whichever handler prints it.

    A record factory rather than a handler filter, so handlers added later (basicConfig,
    pytest's caplog) are covered too. Idempotent: a token already hidden is skipped.
    """
    if not token or token in _HIDDEN:
        return
    _HIDDEN.add(token)
    redact, make_record = RedactToken(token), logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redact.filter(record)
        return record

    logging.setLogRecordFactory(factory)


def _settings(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    return context.bot_data["settings"]


def _retriever(context: ContextTypes.DEFAULT_TYPE) -> Retriever:
    return context.bot_data["retriever"]


async def _reply(update: Update, text: str, **kwargs: Any) -> None:
    """Reply with one short, escaped line of our own text."""
    if update.effective_message:
        await update.effective_message.reply_text(render.plain_html(text), **kwargs)


async def _articles(context: ContextTypes.DEFAULT_TYPE) -> list[ArticleInfo]:
    """The indexed articles, after picking up a rebuilt index."""
    retriever = _retriever(context)
    await asyncio.to_thread(retriever.refresh)
    return retriever.articles()


def _ask(retriever: Retriever, question: str, k: int) -> Answer:
    """Pick up a rebuilt index, then answer; runs in a worker thread."""
    retriever.refresh()
    return retriever.ask(question, k=k)


def _remember(context: ContextTypes.DEFAULT_TYPE, chat_id: int, answer: Answer) -> str:
    """Keep the answer for its "more results" button; returns the button's short key.

    One store for all chats, the oldest answer dropped beyond KEEP_ANSWERS: its button
    then gets the STALE note.
    """
    answers: OrderedDict[str, tuple[int, Answer]] = context.bot_data["answers"]
    key = secrets.token_urlsafe(6)
    answers[key] = (chat_id, answer)
    while len(answers) > KEEP_ANSWERS:
        answers.popitem(last=False)
    return key


def _addressed_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
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


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, raw: str) -> None:
    """Answer one question: limits, typing, retrieval off the loop, reply with a button."""
    message, settings = update.effective_message, _settings(context)
    assert message is not None and update.effective_chat is not None
    who = update.effective_user.id if update.effective_user else update.effective_chat.id
    limiter: SlidingWindow = context.bot_data["limiter"]
    wait = limiter.hit(who)
    if wait:  # said once; a flood gets no more replies than that
        if limiter.tell(who, wait):
            await _reply(update, RATE_LIMITED.format(seconds=math.ceil(wait)))
        return
    question = " ".join(sanitize(raw).split())
    if not any(ch.isalnum() for ch in question):
        await _reply(update, NO_WORDS.format(example=EXAMPLES[0]))
        return
    note = None
    if len(question) > settings.max_question_chars:
        question = question[: settings.max_question_chars]
        note = CUT_NOTE.format(limit=settings.max_question_chars)
    with contextlib.suppress(TelegramError):  # the typing hint is nice to have, no more
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    answer = await asyncio.to_thread(_ask, _retriever(context), question, settings.top_k)
    markup = None
    if answer.found and len(answer.passages) > 1:
        key = _remember(context, message.chat_id, answer)
        button = InlineKeyboardButton("نتائج أخرى", callback_data=MORE + key)
        markup = InlineKeyboardMarkup.from_button(button)
    texts = render.answer_html(answer, note=note)
    for i, text in enumerate(texts):
        await message.reply_text(text, reply_markup=markup if i == len(texts) - 1 else None)


# --------------------------------------------------------------------------- handlers


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turn away chats outside `allowed_chat_ids`: one polite refusal, then silence."""
    allowed, chat = _settings(context).allowed_chat_ids, update.effective_chat
    if not allowed or chat is None or chat.id in allowed:
        return
    if update.callback_query:
        await update.callback_query.answer(NOT_ALLOWED)
    elif chat.id not in context.bot_data["refused"]:
        context.bot_data["refused"].add(chat.id)
        await context.bot.send_message(chat.id, render.plain_html(NOT_ALLOWED))
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, say which articles the bot has read and what to ask."""
    assert update.effective_message is not None
    for text in render.welcome_html(await _articles(context), EXAMPLES):
        await update.effective_message.reply_text(text)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask and list the commands."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(render.help_html())


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the indexed articles: title, outlet, date, link."""
    assert update.effective_message is not None
    for text in render.sources_html(await _articles(context)):
        await update.effective_message.reply_text(text)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer `/ask QUESTION`, the way to ask in a group."""
    question = " ".join(context.args or [])
    if not question:
        await _reply(update, ASK_USAGE.format(example=EXAMPLES[0]))
        return
    await _answer(update, context, question)


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message as a question (in groups only when it is meant for the bot)."""
    question = _addressed_text(update, context)
    if question is not None:
        await _answer(update, context, question)


async def more_results(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the other passages of an earlier answer, or say that the button expired."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    key = (query.data or "").removeprefix(MORE)
    chat_id, answer = context.bot_data["answers"].get(key, (None, None))
    if answer is None or chat is None or chat.id != chat_id:
        await query.answer(STALE)
        return
    context.bot_data["answers"].move_to_end(key)
    await query.answer()
    with contextlib.suppress(TelegramError):  # the button did its job; fine if it lingers
        await query.edit_message_reply_markup(None)
    for text in render.answer_html(answer, start=1, count=len(answer.passages)):
        await context.bot.send_message(chat.id, text)


async def reindex(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Rebuild the index (admins only, one build at a time) and report what changed."""
    user, settings = update.effective_user, _settings(context)
    if user is None or user.id not in settings.admin_ids:
        await _reply(update, ADMINS_ONLY)
        return
    running: asyncio.Lock = context.bot_data["reindexing"]
    if running.locked():
        await _reply(update, ALREADY_REINDEXING)
        return
    async with running:
        await _reply(update, REINDEXING)
        try:
            report = await asyncio.to_thread(
                indexer.build_index, settings, lock_timeout=REINDEX_LOCK_TIMEOUT
            )
        except QabotError as exc:
            await _reply(update, REINDEX_FAILED.format(error=exc))
            return
        await asyncio.to_thread(_retriever(context).refresh)
    assert update.effective_message is not None
    for text in render.reindex_html(report):
        await update.effective_message.reply_text(text)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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


async def post_init(application: Application) -> None:
    """Publish the commands with Arabic descriptions, for Telegram's command menu.

    The menu is a convenience: if Telegram keeps failing here, the bot starts without it.
    """
    commands = [BotCommand(name, text) for name, text in render.COMMANDS]
    try:
        await application.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not publish the command menu (%s); starting without it", exc)


# --------------------------------------------------------------------------- wiring


def _file_url(base_url: str) -> str | None:
    """PTB's base_file_url for a server given as base_url: ``…/bot`` → ``…/file/bot``."""
    return base_url.replace("/bot", "/file/bot", 1) if "/bot" in base_url else None


def build_application(settings: Settings, retriever: Retriever) -> Application:
    """The bot, ready to poll: Telegram HTTP settings, shared state and handlers."""
    token = settings.telegram_bot_token or ""
    hide_token(token)
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )
    builder = (
        ApplicationBuilder()
        .token(token)
        .defaults(defaults)
        .rate_limiter(RetryingRateLimiter(max_retries=3))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .write_timeout(READ_TIMEOUT)
        .pool_timeout(CONNECT_TIMEOUT)
        .get_updates_connect_timeout(CONNECT_TIMEOUT)
        .get_updates_read_timeout(GET_UPDATES_READ_TIMEOUT)
        # On shutdown PTB confirms the last updates with one more getUpdates while the
        # cancelled long poll may still hold its connection: with PTB's pool of one, that
        # call timed out and the last answered updates came back after a restart.
        .get_updates_connection_pool_size(2)
        .post_init(post_init)
    )
    base_url = settings.telegram_api_base_url
    if base_url:
        builder = builder.base_url(base_url)
        file_url = _file_url(base_url)
        if file_url:
            builder = builder.base_file_url(file_url)
    application = builder.build()
    application.bot_data.update(
        settings=settings,
        retriever=retriever,
        limiter=SlidingWindow(settings.rate_limit_per_minute),
        refused=set(),
        answers=OrderedDict(),
        reindexing=asyncio.Lock(),
    )
    new_text = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    application.add_handler(TypeHandler(Update, guard), group=-1)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("sources", sources))
    application.add_handler(CommandHandler("ask", ask_command))
    # Not blocking: questions go on being answered (from the old index) while it builds.
    application.add_handler(CommandHandler("reindex", reindex, block=False))
    application.add_handler(MessageHandler(new_text, text_message))
    application.add_handler(CallbackQueryHandler(more_results))
    application.add_error_handler(on_error)
    return application


def _load_retriever(settings: Settings) -> Retriever:
    """The retriever, building the index from the articles folder first if there is none."""
    if current_name(settings.index_dir) is None:
        print(f"qabot: no index in {settings.index_dir}; building it…", file=sys.stderr)
        report = indexer.build_index(settings)
        print(f"qabot: {report.summary()}", file=sys.stderr)
    return Retriever.load(settings=settings)


def _configure_logging() -> None:
    """qabot at INFO; httpx and PTB at WARNING, or INFO under `qabot -v` (root at INFO).

    The same whether `qabot bot` (cli.main) configured logging already or `python bot.py`
    did not: a handler is added only if there is none, and the levels are set here.
    PTB's Application keeps INFO for its start and stop lines.
    """
    verbose = logging.getLogger().level <= logging.INFO
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("qabot").setLevel(logging.INFO)
    for name in ("httpx", "telegram"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("telegram.ext.Application").setLevel(logging.INFO)


def run_bot(settings: Settings) -> int:
    """Check the token, make sure there is an index, then poll Telegram until stopped.

    A damaged index or model stops the bot here, with the fix, rather than letting it
    answer from garbage. An unreachable Bot API does not: the bot keeps trying with
    backoff (bootstrap_retries=-1), as a bot started before the network is up should.
    run_polling returns on SIGINT or SIGTERM: it stops fetching, lets every update
    already fetched finish and get its reply, confirms them to Telegram (so none is
    answered again after a restart), and we exit 0.
    """
    token = settings.telegram_bot_token
    if not token:
        print("qabot: TELEGRAM_BOT_TOKEN is not set (ask @BotFather for one)", file=sys.stderr)
        return 2
    if not TOKEN_RE.fullmatch(token):
        print(
            "qabot: TELEGRAM_BOT_TOKEN is malformed: expected '<digits>:<secret>' as "
            "@BotFather gives it",
            file=sys.stderr,
        )
        return 2
    _configure_logging()
    try:
        application = build_application(settings, _load_retriever(settings))
        application.run_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY], bootstrap_retries=-1
        )
    except QabotError as exc:
        print(f"qabot: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print("qabot: Telegram rejected TELEGRAM_BOT_TOKEN (revoked or mistyped?)", file=sys.stderr)
        return 2
    return 0
