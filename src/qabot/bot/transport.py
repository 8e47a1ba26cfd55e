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

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder, BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest, RequestData

log = logging.getLogger(__name__)

#: Messages a minute Telegram lets a bot send to one group.
GROUP_PER_MINUTE = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP

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

    The first retry comes quickly (a lone 5xx is the common case, and an answer held back
    for it is what makes the slowest answers slow); the doubling still spans ~3 s of outage.
    ``rate_limited`` is how often a 429 is waited out, and ``per_second`` how many calls to
    chats may go out per second (PTB's AIORateLimiter does both).
    """

    retries: int = 5
    backoff: float = 0.1
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
    BadRequest subclasses NetworkError), 401/403/409, or 429, which is waited out apart
    (:class:`RetryingRateLimiter`).
    """
    if isinstance(exc, BadRequest):
        return False
    return isinstance(exc, NetworkError) or isinstance(exc.__cause__, json.JSONDecodeError)


class RetryingRateLimiter(BaseRateLimiter[int]):
    """Telegram's flood limits kept, a 429 waited out, a transient fault retried with backoff.

    Calls to chats share ``per_second`` (Telegram's 30 messages/s) and a group's 20 a
    minute, with aiolimiter as PTB's AIORateLimiter does. Unlike AIORateLimiter, a 429
    holds back only the call that got it, for its ``retry_after``: AIORateLimiter pauses
    every call, so one chat's 429 held every answer back for a second (benchmarks/README.md,
    "Speed, round 2"). PTB raises a 5xx or a timeout at once, so without the retries an
    answer would turn into an apology at the first hiccup. getUpdates never comes here
    (PTB exempts it; :class:`PollingRequest` retries it). A call whose response is lost
    after Telegram acted on it (a read timeout) may deliver its message twice: a rare
    duplicate beats a lost answer.
    """

    #: Group limiters kept; beyond that, those with their whole minute unused are dropped.
    GROUPS = 512

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._all = AsyncLimiter(policy.per_second, 1) if policy.per_second else None
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""

    def _limits(self, data: dict[str, Any]) -> list[AsyncLimiter]:
        """The limiters a call to ``data``'s chat passes: all chats', and its group's."""
        chat: Any = data.get("chat_id")
        if chat is None:
            return []
        with contextlib.suppress(ValueError, TypeError):
            chat = int(chat)
        limits = [self._all] if self._all else []
        if isinstance(chat, str) or chat < 0:  # a group or channel (an @name is one too)
            if chat not in self._groups and len(self._groups) >= self.GROUPS:
                for key, limiter in list(self._groups.items()):
                    if limiter.has_capacity(limiter.max_rate):
                        del self._groups[key]
            limits.append(self._groups.setdefault(chat, AsyncLimiter(GROUP_PER_MINUTE, 60)))
        return limits

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        limited = failed = 0
        while True:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    for limiter in self._limits(data):
                        await stack.enter_async_context(limiter)
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if limited >= (rate_limit_args or self.policy.rate_limited):
                    raise
                limited += 1
                # PTB's own reading of the wait: its public attribute warns until v23.
                delay = exc._retry_after.total_seconds() + 0.1
                log.info("Rate limit hit on %s; retry %d in %.1f s", endpoint, limited, delay)
            except TelegramError as exc:
                if failed >= self.policy.retries or not _transient(exc):
                    raise
                delay = self.policy.backoff * 2**failed
                failed += 1
                log.warning(
                    "Bot API %s failed (%s: %s); retry %d of %d in %.1f s",
                    endpoint, type(exc).__name__, exc, failed, self.policy.retries, delay,
                )  # fmt: skip
            await asyncio.sleep(delay)


class PollingRequest(HTTPXRequest):
    """getUpdates' connection, repeating a 5xx after ``policy``'s short backoff.

    Without it PTB's polling loop pauses 1 s after a failed getUpdates (1.5 s, 2.25 s …
    after more) and fetches nothing meanwhile, so one 502 holds back every question asked
    in that second. getUpdates is safe to repeat: nothing is confirmed until the next call's
    offset. A 429 is waited out for just its ``retry_after`` (PTB adds half a second).
    What still fails after the retries, and every other fault (a timeout, a refused
    connection), goes on to PTB's loop as before.
    """

    def __init__(self, policy: RetryPolicy, **options: Any) -> None:
        super().__init__(**options)
        self.policy = policy

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        attempt = 0
        while True:
            status, payload = await super().do_request(url, method, request_data, *timeouts)
            wait = _retry_after(payload) if status == 429 else None
            if (status < 500 and wait is None) or attempt >= self.policy.retries:
                return status, payload
            delay = wait if wait is not None else self.policy.backoff * 2**attempt
            attempt += 1
            log.warning(
                "Bot API getUpdates failed (HTTP %d); retry %d of %d in %.1f s",
                status, attempt, self.policy.retries, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)


def _retry_after(payload: bytes) -> float | None:
    """The seconds a 429's body asks to wait, if it says."""
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        return float(json.loads(payload)["parameters"]["retry_after"])
    return None


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
        .get_updates_request(
            PollingRequest(
                retry,
                connect_timeout=timeouts.connect,
                read_timeout=timeouts.get_updates_read,
                # On shutdown PTB confirms the last updates with one more getUpdates while
                # the cancelled long poll may still hold its connection: with PTB's pool of
                # one, that call timed out and the last answered updates came back after a
                # restart.
                connection_pool_size=2,
            )
        )
    )
    if base_url:
        builder = builder.base_url(base_url)
        file_url = _file_url(base_url)
        if file_url:
            builder = builder.base_file_url(file_url)
    return builder
