"""Updates handled concurrently, each chat's in the order they came, memory bounded.

PTB hands every fetched update to the update processor in a task of its own. With
:class:`ChatOrder` up to ``Capacity.updates`` run at once, so while one chat's question
is being answered another's is too (and their questions are encoded in one batch,
:mod:`qabot.batching`), but within a chat each update waits for the one before it: a
follow-up is read after the question it follows, `/new` before the next question, and
the answers arrive in the order asked.

:class:`UpdateQueue` is the update queue between polling and the processor: it hands out
at most ``Capacity.updates`` updates not yet done and holds ``Capacity.queued`` more;
beyond that polling waits, and Telegram keeps the rest until there is room. So a flood
costs bounded memory, whatever its size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


@dataclass(frozen=True)
class Capacity:
    """How much the bot takes on at once; beyond it, work waits or is turned away."""

    #: Updates being handled at once (all chats together).
    updates: int = 256
    #: Updates fetched and waiting for a free place (then polling waits).
    queued: int = 100
    #: Questions encoded in one call.
    batch: int = 32
    #: Questions waiting to be encoded; one more is told the bot is busy.
    waiting: int = 128


#: What the bot runs with unless told otherwise.
CAPACITY = Capacity()


class ChatOrder(BaseUpdateProcessor):
    """Runs updates concurrently, but one chat's updates one after another, in order.

    Tasks reach ``do_process_update`` in the order the updates were fetched, and an
    asyncio lock wakes its waiters first come, first served. A chat's lock is dropped
    once nobody holds or waits for it, so idle chats cost nothing.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    @property
    def chats(self) -> int:
        """Chats with an update being handled or waiting."""
        return len(self._chats)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:  # no chat to keep in order (a poll, an inline query…)
            await coroutine
            return
        lock, users = self._chats.setdefault(chat.id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if not users[0]:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB waits for the updates in flight before shutting down."""


class UpdateQueue(asyncio.Queue[object]):
    """PTB's update queue, handing out at most ``in_flight`` updates not yet done.

    PTB takes an update with :meth:`get` and calls :meth:`task_done` once it was handled;
    :meth:`get` waits while ``in_flight`` are between the two. With ``maxsize`` it then
    fills up and polling's ``put`` waits, so no more updates are fetched.
    """

    def __init__(self, in_flight: int, maxsize: int) -> None:
        super().__init__(maxsize)
        self.in_flight = in_flight
        self.handed = 0  # got and not yet done
        self._room = asyncio.Event()
        self._room.set()

    async def get(self) -> object:
        while self.handed >= self.in_flight:
            self._room.clear()
            await self._room.wait()
        item = await super().get()
        self.handed += 1
        return item

    def task_done(self) -> None:
        super().task_done()
        self.handed = max(self.handed - 1, 0)
        self._room.set()
