"""Wiring: the Application with its handlers (`build_application`), and `run_bot`.

Updates are handled concurrently, each chat's in order (:mod:`qabot.bot.concurrency`), and
the questions waiting are encoded in one batch (:mod:`qabot.batching`). `/reindex`, `/add`
and uploads run beside their chat's next updates, so questions are answered from the old
index meanwhile.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from .. import model
from ..batching import Batcher, QueryBatcher
from ..config import Settings
from ..encoder import Encoder
from ..errors import QabotError
from ..index import build as indexer
from ..index import open_store
from ..questions import QuestionLog, QuestionRecord
from ..results import Answer
from ..retriever import Retriever
from . import admin, handlers, manners, memory, transport, webhook
from .concurrency import CAPACITY, Capacity, ChatOrder, UpdateQueue
from .state import Answerer, BotContext, BotData, MoreResults, SlidingWindow
from .transport import RETRY, TIMEOUTS, TOKEN_RE, RetryPolicy, Timeouts

#: Answers, all chats together, whose "more results" button still works (PTB's LRU cache).
KEEP_ANSWERS = 2_000

BotApplication = Application[ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any]


def build_application(
    settings: Settings,
    retriever: Answerer,
    *,
    encoder: Encoder | None = None,
    timeouts: Timeouts = TIMEOUTS,
    retry: RetryPolicy = RETRY,
    keep_answers: int = KEEP_ANSWERS,
    capacity: Capacity = CAPACITY,
) -> BotApplication:
    """The bot, ready to poll: Bot API settings, shared state and handlers.

    ``encoder`` is what /reindex embeds with (None: it loads the configured model).
    Questions are batch-encoded with the retriever's own encoder when it has one (a real
    :class:`Retriever`); a stand-in without one encodes (or not) by itself.
    """
    token, base_url = settings.telegram_bot_token or "", settings.telegram_api_base_url
    application = (
        transport.builder(token, base_url, timeouts, retry)
        .context_types(ContextTypes(bot_data=BotData))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .arbitrary_callback_data(keep_answers)
        .post_init(handlers.publish_commands)
        .concurrent_updates(ChatOrder(capacity.updates))
        .update_queue(UpdateQueue(capacity.updates, capacity.queued))
        .build()
    )

    data = application.bot_data
    data.settings, data.retriever, data.encoder = settings, retriever, encoder
    query_encoder: Encoder | None = getattr(retriever, "encoder", None)
    if query_encoder is not None:
        data.batcher = QueryBatcher(
            query_encoder, max_batch=capacity.batch, max_waiting=capacity.waiting
        )
    data.limiter = SlidingWindow(settings.rate_limit_per_minute)
    data.memory = memory.Memory.of(settings)
    data.timeouts = timeouts
    data.qlog = QuestionLog.of(settings)
    data.recorder = _recorder(data.qlog) if data.qlog is not None else None

    handled: list[str] = []

    def on(kinds: tuple[str, ...], handler: BaseHandler[Update, BotContext, Any]) -> None:
        """Add ``handler``, noting the update types it needs polling to deliver."""
        application.add_handler(handler)
        handled.extend(k for k in kinds if k not in handled)

    message, edited = Update.MESSAGE, Update.EDITED_MESSAGE
    new = filters.UpdateType.MESSAGE
    words = (filters.TEXT | filters.CAPTION) & ~filters.COMMAND & ~filters.Document.ALL
    not_text = (
        filters.Sticker.ALL | filters.VOICE | filters.AUDIO | filters.VIDEO | filters.VIDEO_NOTE
        | filters.ANIMATION | filters.LOCATION | filters.VENUE | filters.CONTACT | filters.POLL
        | filters.Dice.ALL | filters.PHOTO
    ) & ~filters.CAPTION  # fmt: skip
    application.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    on((message,), CommandHandler("start", handlers.start))
    on((message,), CommandHandler("help", handlers.help_command))
    on((message,), CommandHandler("sources", handlers.sources))
    on((message,), CommandHandler("ask", handlers.ask_command))
    on((message,), CommandHandler("new", memory.new_conversation))
    # Not blocking: questions go on being answered (from the old index) while it builds.
    on((message,), CommandHandler("reindex", handlers.reindex, block=False))
    on((message,), CommandHandler("add", admin.add_command, block=False))
    on((message,), CommandHandler("stats", admin.stats_command))
    on((message, edited), MessageHandler(words, handlers.text_message))
    on((message,), MessageHandler(new & filters.Document.ALL, admin.document, block=False))
    on((message,), MessageHandler(new & not_text, manners.not_text))
    on((message,), MessageHandler(new & filters.COMMAND, manners.unknown_command))
    on((Update.MY_CHAT_MEMBER,), ChatMemberHandler(manners.joined))
    on((Update.CALLBACK_QUERY,), CallbackQueryHandler(handlers.more_results, pattern=MoreResults))
    # Anything else pressed is PTB's InvalidCallbackData: a button it no longer knows.
    on((Update.CALLBACK_QUERY,), CallbackQueryHandler(handlers.stale_button))
    data.update_types = tuple(handled)
    application.add_error_handler(handlers.on_error)
    admin.schedule_feeds(application)
    return application


def _recorder(qlog: QuestionRecord) -> Batcher[Answer, None]:
    """Answers recorded in batches: one commit costs about what a hundred rows do."""

    def record(answers: list[Answer]) -> list[None]:
        qlog.record_answers(answers)
        return [None] * len(answers)

    return Batcher(record, max_batch=256, max_waiting=10_000, name="question-log")


def _load_retriever(settings: Settings, encoder: Encoder) -> Retriever:
    """The retriever, building the index from the articles folder first if there is none."""
    store = open_store(settings)
    if store.current_name() is None:
        print(f"qabot: no index in {store.location}; building it…", file=sys.stderr)
        report = indexer.build_index(settings, encoder=encoder)
        print(f"qabot: {report.summary()}", file=sys.stderr)
    return Retriever.load(settings=settings, encoder=encoder)


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


def run_bot(settings: Settings, encoder: Encoder | None = None) -> int:
    """Check the token, make sure there is an index, then poll Telegram until stopped.

    The model is loaded once (unless ``encoder`` is given), for the index build (if
    needed), the retriever and /reindex.
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
        encoder = encoder or model.load_encoder(settings)
        retriever = _load_retriever(settings, encoder)
        application = build_application(settings, retriever, encoder=encoder)
        webhook.serve(application, settings)  # polling, or webhook mode (QABOT_WEBHOOK_URL)
    except QabotError as exc:
        print(f"qabot: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print("qabot: Telegram rejected TELEGRAM_BOT_TOKEN (revoked or mistyped?)", file=sys.stderr)
        return 2
    return 0
