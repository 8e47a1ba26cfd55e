"""The bot's conversation memory in the index's PostgreSQL database, shared by every replica.

The same semantics as :mod:`qabot.memory` (the last ``turns`` questions per chat and user,
forgotten after ``ttl`` seconds of silence, ``/new`` forgets, a reply brings back its
answer's turn), so a follow-up POSTed to another replica behind the load balancer is read in
context. Tables ``qabot_conversations`` and ``qabot_replies`` of :mod:`qabot.index.pgschema`;
each call is one statement (one round trip), and each write also deletes the rows that have
expired, so the tables stay bounded. Times come from each replica's clock (seconds since the
epoch): skew between hosts of a few seconds is small beside minutes of silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import asdict
from typing import Any

from psycopg.types.json import Jsonb

from .conversation import Turn
from .index.postgres import pool_for

#: Seconds a reply to an answer still brings its turn back (the rows are deleted after).
REPLY_TTL = 7 * 24 * 3600.0

_REMEMBER = """
WITH gone AS (
    DELETE FROM qabot_conversations WHERE at < %(expired)s AND key <> %(key)s
)
INSERT INTO qabot_conversations AS c (key, at, turns)
VALUES (%(key)s, %(now)s, jsonb_build_array(%(turn)s::jsonb))
ON CONFLICT (key) DO UPDATE SET at = excluded.at, turns = CASE
    WHEN c.at < %(expired)s THEN excluded.turns
    ELSE (
        SELECT coalesce(jsonb_agg(e ORDER BY i), '[]'::jsonb)
        FROM jsonb_array_elements(c.turns) WITH ORDINALITY AS t(e, i)
        WHERE i > jsonb_array_length(c.turns) - %(keep)s
    ) || excluded.turns
END
"""

_ADD_REPLY = """
WITH gone AS (DELETE FROM qabot_replies WHERE at < %(expired)s)
INSERT INTO qabot_replies (chat, message, at, turn)
VALUES (%(chat)s, %(message)s, %(now)s, %(turn)s)
ON CONFLICT (chat, message) DO UPDATE SET at = excluded.at, turn = excluded.turn
"""


def _key(key: Hashable) -> str:
    """The text a conversation's key is stored under: (chat, user) → ``"(chat, user)"``."""
    return repr(key)


def _turn(value: dict[str, Any]) -> Turn:
    return Turn(**value)


class PgConversations:
    """:class:`qabot.memory.ConversationMemory` in the database; any thread may use it."""

    def __init__(
        self,
        url: str,
        turns: int = 3,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool_for(url)
        self.turns, self.ttl, self.clock = turns, ttl, clock

    def history(self, key: Hashable) -> list[Turn]:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT turns FROM qabot_conversations WHERE key = %s AND at >= %s",
                (_key(key), self.clock() - self.ttl),
            ).fetchone()
        return [_turn(t) for t in row[0]] if row else []

    def remember(self, key: Hashable, turn: Turn) -> None:
        if self.turns <= 0:
            return
        now = self.clock()
        params = {
            "key": _key(key), "now": now, "expired": now - self.ttl,
            "turn": Jsonb(asdict(turn)), "keep": self.turns - 1,
        }  # fmt: skip
        with self.pool.connection() as conn:
            conn.execute(_REMEMBER, params)

    def forget(self, key: Hashable) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM qabot_conversations WHERE key = %s", (_key(key),))

    def __len__(self) -> int:
        """Conversations still stored (expired ones go at the next write)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM qabot_conversations").fetchone()
        return int(row[0]) if row else 0


class PgReplies:
    """:class:`qabot.memory.ReplyMemory` in the database, kept :data:`REPLY_TTL` seconds."""

    def __init__(
        self, url: str, ttl: float = REPLY_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.pool = pool_for(url)
        self.ttl, self.clock = ttl, clock

    def add(self, chat_id: int, message_id: int, turn: Turn) -> None:
        now = self.clock()
        params = {
            "chat": chat_id, "message": message_id, "now": now, "expired": now - self.ttl,
            "turn": Jsonb(asdict(turn)),
        }  # fmt: skip
        with self.pool.connection() as conn:
            conn.execute(_ADD_REPLY, params)

    def get(self, chat_id: int, message_id: int) -> Turn | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT turn FROM qabot_replies WHERE chat = %s AND message = %s AND at >= %s",
                (chat_id, message_id, self.clock() - self.ttl),
            ).fetchone()
        return _turn(row[0]) if row else None

    def __len__(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM qabot_replies").fetchone()
        return int(row[0]) if row else 0
