"""Conversation memory in a real PostgreSQL: shared, bounded, and brought in by a migration.

The bot-level behaviour (last turns, expiry, /new, replies, group users) runs against this
store in tests/test_bot_memory.py; across two webhook replicas in test_postgres_webhook.py.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from qabot.conversation import Turn, pack_vector, unpack_vector
from qabot.index import pgschema
from qabot.index.postgres import close_pool, init_database
from qabot.pgmemory import PgConversations, PgReplies


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_two_replicas_share_one_conversation(pg_url: str) -> None:
    clock = Clock()
    one, two = PgConversations(pg_url, 2, 600, clock), PgConversations(pg_url, 2, 600, clock)
    one.remember((5, 7), Turn("q1", "a", "a#1"))
    assert two.history((5, 7)) == [Turn("q1", "a", "a#1")]
    for q in ("q2", "q3"):
        two.remember((5, 7), Turn(q))
    assert [t.question for t in one.history((5, 7))] == ["q2", "q3"]  # the last two
    assert one.history((5, 8)) == [] and one.history((6, 7)) == []
    one.forget((5, 7))
    assert two.history((5, 7)) == []
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    one.remember((5, 7), Turn("q4", "a", "a#2", pack_vector(vector)))
    kept = two.history((5, 7))[0].vector
    assert kept is not None and np.array_equal(unpack_vector(kept), vector)  # exact, float32


def test_expired_rows_are_deleted(pg_url: str) -> None:
    clock = Clock()
    memory, replies = PgConversations(pg_url, 3, 600, clock), PgReplies(pg_url, 3600, clock)
    for chat in range(5):
        memory.remember((chat, 1), Turn(f"q{chat}"))
        replies.add(chat, 10, Turn(f"q{chat}"))
    assert len(memory) == 5 and len(replies) == 5
    clock.now += 599
    memory.remember((0, 1), Turn("again"))  # keeps chat 0 alive
    clock.now += 2
    assert [t.question for t in memory.history((0, 1))] == ["q0", "again"]
    assert memory.history((1, 1)) == []
    memory.remember((9, 1), Turn("new"))
    assert len(memory) == 2  # chats 1-4 fell silent: their rows went with this write
    clock.now += 3600
    assert replies.get(0, 10) is None
    replies.add(9, 11, Turn("new"))
    assert len(replies) == 1 and replies.get(9, 11) == Turn("new")


def test_silence_starts_a_fresh_conversation_even_without_reading(pg_url: str) -> None:
    clock = Clock()
    memory = PgConversations(pg_url, 3, 600, clock)
    memory.remember("me", Turn("old"))
    clock.now += 601
    memory.remember("me", Turn("new"))
    assert memory.history("me") == [Turn("new")]


def test_a_version_1_database_is_migrated(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(pgschema, "SCHEMA_VERSION", 1)
        assert init_database(pg_url) == (0, 1)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('qabot_conversations')").fetchone() == (None,)
    assert init_database(pg_url) == (1, pgschema.SCHEMA_VERSION)
    close_pool(pg_url)
    memory = PgConversations(pg_url)
    memory.remember((1, 2), Turn("q"))
    assert memory.history((1, 2)) == [Turn("q")]
