"""Snapshots in PostgreSQL with pgvector: one index shared by many bot replicas and indexers.

What a retriever searches stays in the database: the vector legs are pgvector HNSW searches,
the lexical leg is SQL over stored postings (:mod:`.pglexical`), and a question's passages are
read with its candidates (:mod:`.pgreader`): a reader loads a generation's manifest only. A
commit is one transaction (:mod:`.pgwrite`); builds are serialised by an advisory lock; the
schema is created and migrated by qabot (:mod:`.pgschema`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from .. import bridge
from ..bridge import Bridge
from ..config import DEFAULT_ANN_THRESHOLD
from ..encoder import Encoder
from ..errors import DatabaseError, QabotError
from . import pgbase, pgreader, pgschema, pgwrite
from .pglexical import PgLexical
from .pgreader import PgSnapshot
from .pgvectors import PgVectorIndex
from .snapshot import Snapshot

log = logging.getLogger(__name__)

#: Seconds to wait for a connection (at start, and from the pool) before giving up.
CONNECT_TIMEOUT = 5.0
#: HNSW candidate list (also the most hits a search returns: above the 2 × 50 sentence hits
#: a question asks for). With the graphs of :data:`.pgschema.HNSW`, on 100k vectors drawn
#: like ARCD's embeddings, recall@10 against exact search is 0.957 at 200 and 0.989 at 400
#: (benchmarks/pg_hnsw.py; 0.921 at 400 with pgvector's default graphs).
EF_SEARCH = 400
#: The longest wait between the pool's attempts to reconnect to a lost database.
RECONNECT_DELAY = 0.5

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def describe(url: str) -> str:
    """``host:port/dbname`` of a URL, never its password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(malformed QABOT_DATABASE_URL)"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _unreachable(url: str, exc: Exception) -> DatabaseError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseError(
        f"cannot reach the database {describe(url)}: {reason}",
        "start it, or check QABOT_DATABASE_URL / --database-url",
    )


def init_database(url: str) -> tuple[int, int]:
    """Create or migrate qabot's schema (`qabot db init`); (version before, version after)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)) as conn:
            return pgschema.migrate(conn, describe(url))
    except psycopg.OperationalError as exc:
        raise _unreachable(url, exc) from exc


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")


class _Attempt(AttemptWithBackoff):
    """psycopg_pool doubles the wait between reconnection attempts without bound (1, 2, 4,
    8… s): after a restart the pool could sit out a far attempt while questions got the
    apology. Attempts here come at most :data:`RECONNECT_DELAY` apart (a refused connection
    costs the server nothing)."""

    INITIAL_DELAY = 0.1

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_DELAY)


class _Pool(ConnectionPool):
    """The pool, reconnecting promptly once the database is back (:class:`_Attempt`)."""

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _Attempt(timeout=self.reconnect_timeout), growing)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        try:
            return super().getconn(timeout)
        except PoolTimeout:
            # The database is likely gone: drop every broken idle connection now (each
            # would otherwise cost a later checkout a failed check and a back-off) and let
            # replacements be made as soon as it answers again.
            self.check()
            raise


def pool_for(url: str) -> ConnectionPool:
    """The process's pool for ``url`` (schema checked and migrated on first use).

    Broken connections are checked out of the pool and replaced as the server comes back.
    """
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            init_database(url)
            pool = _Pool(
                url,
                min_size=1,
                max_size=8,
                kwargs={"autocommit": True},
                configure=_configure,
                check=ConnectionPool.check_connection,
                timeout=CONNECT_TIMEOUT,
                open=False,
                name="qabot",
            )
            try:
                pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except PoolTimeout as exc:
                pool.close()
                raise _unreachable(url, exc) from exc
            _pools[url] = pool
        return pool


def close_pool(url: str) -> None:
    """Close the process's pool for ``url`` (a test's database, or at shutdown)."""
    with _pools_lock:
        pool = _pools.pop(url, None)
    if pool is not None:
        pool.close()


class PostgresStore:
    """The snapshots of one database (``QABOT_DATABASE_URL``)."""

    #: A sentence text's vector is a row kept across generations (:mod:`.pgwrite`): a build
    #: need not read the reused ones back, only embed the new texts.
    sentences_by_text = True

    def __init__(self, url: str, *, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> None:
        self.url = url
        self.location = describe(url)
        self.pool = pool_for(url)
        #: Past this many passages no sentence vectors are searched (nor indexed).
        self.ann_threshold = ann_threshold

    def current_name(self) -> str | None:
        try:
            with self.pool.connection() as conn:
                row = conn.execute("SELECT generation FROM qabot_manifest").fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc
        return pgwrite.generation_name(int(row[0])) if row else None

    def new_vectors(self, dim: int) -> PgVectorIndex:
        return PgVectorIndex(
            self.pool, "qabot_passage_vectors", dim, fresh=True, ann_threshold=self.ann_threshold
        )

    def new_lexical(self) -> PgLexical:
        """An empty lexical leg for a build from scratch: it stages the passages' texts, and
        the commit analyses them a block at a time (no million passages' keys in memory)."""
        return PgLexical(self.pool, 0, 0)

    def load_bridge(self, encoder: Encoder) -> Bridge | None:
        try:
            with self.pool.connection() as conn:
                row = conn.execute("SELECT data FROM qabot_bridge").fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc
        return bridge.usable(bytes(row[0]) if row else None, encoder, f"{self.location} bridge")

    def update_bridge(self, texts: Iterable[str], encoder: Encoder, changed: bool) -> None:
        new = bridge.renewed(self.load_bridge(encoder), texts, encoder, changed)
        if new is None:
            return
        try:
            with self.pool.connection() as conn:
                conn.execute(
                    "INSERT INTO qabot_bridge (data) VALUES (%s) "
                    "ON CONFLICT (one) DO UPDATE SET data = EXCLUDED.data",
                    (new.to_bytes(),),
                )
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc

    def load(self) -> PgSnapshot:
        """The current generation as a reader searches it: its manifest, not its passages
        (read per question, :mod:`.pgreader`)."""
        try:
            return pgreader.load(self.pool, self.location, self.ann_threshold)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc

    def load_for_update(self) -> Snapshot:
        """The current generation as `qabot index` updates it (:mod:`.pgbase`): keys and
        text hashes, no passage read, so an edit costs what it changes."""
        try:
            return pgbase.load_base(self.pool, self.location, self.ann_threshold)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc

    def commit(self, snapshot: Snapshot) -> str:
        try:
            with self.pool.connection() as conn:
                name = pgwrite.write(conn, snapshot)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from exc
        snapshot.name = name
        return name

    @contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """The build lock: a session advisory lock, so a killed build releases it."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
        except psycopg.OperationalError as exc:
            raise _unreachable(self.url, exc) from exc
        with conn:
            deadline = time.monotonic() + timeout
            warned = False
            while not _try_lock(conn):
                if not warned:
                    what = "waiting for another `qabot index` to finish (%s, up to %g s)…"
                    log.warning(what, self.location, timeout)
                    warned = True
                if time.monotonic() >= deadline:
                    raise QabotError(
                        f"another `qabot index` was still updating {self.location} after "
                        f"{timeout:g} s; gave up",
                        "try again once it has finished, or wait longer with `qabot index "
                        "--wait SECONDS` (QABOT_LOCK_TIMEOUT)",
                    )
                time.sleep(0.1)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (pgschema.BUILD_LOCK,))


def _try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (pgschema.BUILD_LOCK,)).fetchone()
    return bool(row and row[0])
