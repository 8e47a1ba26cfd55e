"""`qabot eval --database-url URL`: the eval set indexed into scratch databases on that server.

A user who points `qabot eval` at the database their bots answer from wants to know how the
database store ranks, not to have its index replaced by the eval set's paragraphs. So each
index the eval builds (the whole set, and the two halves of ``--unanswerable``) goes into a
database of its own on the same server, created for the run and dropped after it: the live
database is never written. (A scratch *schema* would not do: pgvector's types and operators
are found through ``search_path``, and so would the live tables be.) Creating a database
needs the CREATEDB privilege; without it the eval refuses with a message saying so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .encoder import Encoder
from .errors import DatabaseError, QabotError
from .index.postgres import close_pool, describe


@contextmanager
def scratch_database(url: str, label: str) -> Iterator[str]:
    """A fresh database on ``url``'s server; its URL. Dropped afterwards."""
    name = f"qabot_eval_{os.getpid()}_{label}_{secrets.token_hex(3)}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise QabotError(
            f"qabot eval indexes the eval set into a scratch database, so as not to replace "
            f"the index in {describe(url)}, and this user may not create one",
            "grant it CREATEDB, or run `qabot eval` without --database-url (a file index)",
        ) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot reach the database {describe(url)}: {exc}") from exc
    try:
        yield make_conninfo(url, dbname=name)
    finally:
        close_pool(make_conninfo(url, dbname=name))
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


class Memo:
    """An encoder that embeds each text once: the halves of ``--unanswerable`` reuse the
    whole set's passage vectors and its word bridge's (a file store copies its folder)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.model_id, self.dim = encoder.model_id, encoder.dim
        self._seen: dict[str, np.ndarray] = {}
        self._asked: dict[str, np.ndarray] = {}

    def _memo(
        self, seen: dict[str, np.ndarray], texts: list[str], encode: Callable[..., np.ndarray]
    ) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in seen]
        if todo:
            seen.update(zip(todo, encode(todo), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([seen[t] for t in texts])

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._memo(self._seen, texts, self.encoder.encode_passages)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._memo(self._asked, texts, self.encoder.encode_queries)

    def count_tokens(self, text: str) -> int:
        return self.encoder.count_tokens(text)
