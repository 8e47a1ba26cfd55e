"""What a conversation remembers: each user's last few questions, forgotten after silence.

:class:`ConversationMemory` and :class:`ReplyMemory` say what any memory does; the classes
here keep it in this process (a restart forgets every conversation, as does ``/new``): the
bot keeps one :class:`Conversations` for all chats, bounded, so idle conversations are
dropped first; ``qabot chat`` keeps one for its single user. With a database configured the
bot keeps them there instead (:mod:`qabot.pgmemory`), shared by every replica. Sizes come
from the settings (``context_turns``, ``context_minutes``).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Protocol

from .conversation import Turn

#: Conversations kept at once, all chats together (the least recently active go first).
MAX_CONVERSATIONS = 10_000


class ConversationMemory(Protocol):
    """Per key (a chat and user): the last few turns, forgotten after a silence."""

    def history(self, key: Hashable) -> list[Turn]:
        """The key's earlier turns, oldest first (none once it has been silent too long)."""
        ...

    def remember(self, key: Hashable, turn: Turn) -> None:
        """Add a turn; the oldest falls off past the limit."""
        ...

    def forget(self, key: Hashable) -> None:
        """Start afresh (``/new``)."""
        ...


class ReplyMemory(Protocol):
    """Which turn each answer message (chat id, message id) of the bot belongs to."""

    def add(self, chat_id: int, message_id: int, turn: Turn) -> None: ...

    def get(self, chat_id: int, message_id: int) -> Turn | None: ...


class Conversations:
    """Per key (a chat and user): the last ``turns`` questions, expiring after ``ttl`` s."""

    def __init__(
        self,
        turns: int = 3,
        ttl: float = 600.0,
        limit: int = MAX_CONVERSATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.turns, self.ttl, self.limit, self.clock = turns, ttl, limit, clock
        self._kept: OrderedDict[Hashable, tuple[float, deque[Turn]]] = OrderedDict()

    def history(self, key: Hashable) -> list[Turn]:
        """The key's earlier turns, oldest first; none once ``ttl`` seconds have passed."""
        kept = self._kept.get(key)
        if kept is None:
            return []
        last, turns = kept
        if self.clock() - last > self.ttl:
            del self._kept[key]
            return []
        return list(turns)

    def remember(self, key: Hashable, turn: Turn) -> None:
        """Add a turn (the oldest falls off past ``turns``); the key becomes the freshest."""
        if self.turns <= 0:
            return
        _, turns = self._kept.pop(key, (0.0, deque(maxlen=self.turns)))
        turns.append(turn)
        self._kept[key] = (self.clock(), turns)
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        """Start afresh (``/new``)."""
        self._kept.pop(key, None)

    def __len__(self) -> int:
        return len(self._kept)


class Replies:
    """Which turn each recent answer message of the bot belongs to (chat id, message id),
    so a reply to one brings back its question and passage; the oldest are dropped."""

    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[int, int], Turn] = OrderedDict()

    def add(self, chat_id: int, message_id: int, turn: Turn) -> None:
        self._items[(chat_id, message_id)] = turn
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, chat_id: int, message_id: int) -> Turn | None:
        return self._items.get((chat_id, message_id))

    def __len__(self) -> int:
        return len(self._items)
