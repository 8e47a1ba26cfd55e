"""Talking to the Bot API: timeouts, retries of transient faults, and the token kept secret.

:func:`configure` applies all of it to PTB's ApplicationBuilder, so the wiring in
:mod:`qabot.bot.app` only adds handlers. Timeouts and the retry policy are values passed
in (production defaults), so tests can shorten them without patching module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder, ExtBot

log = logging.getLogger(__name__)

#: What @BotFather hands out: the bot's numeric id, a colon, a long URL-safe secret.
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")

@dataclass(frozen=True)
class Timeouts:
    """Seconds the bot waits for the Bot API (and /reindex for another build's lock)."""

    connect: float = 5.0
    read: float = 15.0
    #: On top of the long-poll timeout of getUpdates.
    get_updates_read: float = 10.0
    #: How long /reindex waits for a build started elsewhere (`qabot index`) before saying so.
    reindex_lock: float = 5.0


#: What the bot runs with unless told otherwise.
TIMEOUTS = Timeouts()


@dataclass(frozen=True)
class RetryPolicy:
    """A call that fails transiently is repeated ``retries`` times, ``backoff`` s, 2×, 4× … later.

    ``rate_limited`` is how often a 429 is waited out, and ``per_second`` how many calls to
    chats may go out per second (PTB's AIORateLimiter does both).
    """

    retries: int = 3
    backoff: float = 0.5
    rate_limited: int = 3
    #: Messages per second to all chats together: Telegram's flood limit (0: no limit).
    per_second: float = 30.0


RETRY = RetryPolicy()


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

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(overall_max_rate=policy.per_second, max_retries=policy.rate_limited)
        self.policy = policy

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        retries, attempt = self.policy.retries, 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except TelegramError as exc:
                if attempt >= retries or not _transient(exc):
                    raise
                delay = self.policy.backoff * 2**attempt
                attempt += 1
                log.warning(
                    "Bot API %s failed (%s: %s); retry %d of %d in %.1f s",
                    endpoint, type(exc).__name__, exc, attempt, retries, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)


def _file_url(base_url: str) -> str | None:
    """PTB's base_file_url for a server given as base_url: ``…/bot`` → ``…/file/bot``."""
    return base_url.replace("/bot", "/file/bot", 1) if "/bot" in base_url else None


def builder(
    token: str, base_url: str | None, timeouts: Timeouts, retry: RetryPolicy
) -> ApplicationBuilder[ExtBot[int], Any, Any, Any, Any, Any]:
    """PTB's ApplicationBuilder set up to reach the Bot API at ``base_url`` (Telegram's if None)."""
    hide_token(token)
    builder = (
        ApplicationBuilder()
        .token(token)
        .rate_limiter(RetryingRateLimiter(retry))
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .write_timeout(timeouts.read)
        .pool_timeout(timeouts.connect)
        .get_updates_connect_timeout(timeouts.connect)
        .get_updates_read_timeout(timeouts.get_updates_read)
        # On shutdown PTB confirms the last updates with one more getUpdates while the
        # cancelled long poll may still hold its connection: with PTB's pool of one, that
        # call timed out and the last answered updates came back after a restart.
        .get_updates_connection_pool_size(2)
    )
    if base_url:
        builder = builder.base_url(base_url)
        file_url = _file_url(base_url)
        if file_url:
            builder = builder.base_file_url(file_url)
    return builder
