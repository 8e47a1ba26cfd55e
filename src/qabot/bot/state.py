"""What the handlers share: a typed ``context.bot_data``, the rate limiter, button payloads.

PTB makes ``bot_data`` from ``ContextTypes(bot_data=BotData)``, calling ``BotData()`` with
no arguments; :func:`qabot.bot.app.build_application` then fills in the parts it was
given. Handlers take a :data:`BotContext`, so ``context.bot_data.settings`` is checked by
mypy instead of being a string key.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from telegram.ext import CallbackContext, ExtBot

from ..batching import Batcher, Busy, QueryBatcher
from ..config import Settings
from ..conversation import Turn
from ..encoder import Encoder
from ..questions import QuestionRecord
from ..results import Answer, ArticleInfo
from .memory import Memory
from .transport import Timeouts

log = logging.getLogger(__name__)


class Answerer(Protocol):
    """What the bot needs of a :class:`qabot.retriever.Retriever`."""

    def refresh(self) -> bool: ...

    def articles(self) -> list[ArticleInfo]: ...

    def ask(
        self,
        question: str,
        k: int = 3,
        *,
        history: list[Turn] | None = None,
        vector: np.ndarray | None = None,
    ) -> Answer: ...


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


class Recent:
    """The last ``size`` (chat id, message id) → message id pairs: a bounded memory."""

    def __init__(self, size: int = 2_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, int], int] = OrderedDict()

    def put(self, key: tuple[int, int], value: int) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: tuple[int, int]) -> int | None:
        return self._items.get(key)

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self._items


@dataclass(frozen=True)
class MoreResults:
    """The "more results" button's data: PTB keeps it and sends Telegram a short key."""

    chat_id: int  # the button works only in the chat its answer went to
    answer: Answer


@dataclass
class BotData:
    """Everything the handlers share, one per application.

    The fields without a default are set by ``build_application`` before the bot starts.
    """

    settings: Settings = field(init=False)
    retriever: Answerer = field(init=False)
    limiter: SlidingWindow = field(init=False)
    #: Each user's conversation in each chat (see qabot.bot.memory).
    memory: Memory = field(init=False)
    #: The encoder /reindex embeds with: the retriever's, so the model is loaded once.
    encoder: Encoder | None = None
    #: Encodes the questions that arrive together in one call (None: the retriever encodes).
    batcher: QueryBatcher | None = None
    #: Where answered and unanswered questions are recorded (None: recording is off).
    qlog: QuestionRecord | None = None
    #: Records answers into ``qlog``, those that come together in one transaction.
    recorder: Batcher[Answer, None] | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: Chats outside ``allowed_chat_ids`` already told so (they are told once).
    refused: set[int] = field(default_factory=set)
    #: Held while /reindex builds: one build at a time.
    reindexing: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: What polling subscribes to: exactly the update types the handlers take.
    update_types: tuple[str, ...] = ()
    #: A question's message → the answer sent for it, so an edited question edits it.
    answers: Recent = field(default_factory=Recent)
    #: Answers whose "more results" were already sent (→ the first extra message).
    expanded: Recent = field(default_factory=Recent)


    async def record(self, answer: Answer) -> None:
        """Record the question for /stats (several in one transaction, once the answer is
        out); a record lost to a full disk or a flood fails nothing."""
        if self.recorder is None:
            return
        try:
            await self.recorder(answer)
        except (sqlite3.Error, OSError, Busy) as exc:
            log.warning("could not record the question (%s)", exc)


def is_admin(user_id: int | None, data: BotData) -> bool:
    """Whether ``user_id`` may use the admins' commands (``QABOT_ADMIN_IDS``)."""
    return user_id is not None and user_id in data.settings.admin_ids


#: The ``context`` every handler receives.
BotContext = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
