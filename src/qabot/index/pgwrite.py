"""One commit of a snapshot into PostgreSQL: a single transaction, so readers see all or none.

Only what changed is written: passages whose record, position or sentences differ (by a
digest), the vectors a build staged (:class:`PgVectorIndex`), the keys and posting lists of
new or edited passages (:class:`PgLexical`'s staged change, :mod:`.pgkeys`), then the
manifest with the next generation. A build from scratch (a fresh vector index) replaces all,
streamed: passages are analysed and written a block at a time, vectors copied in binary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..arabic import ANALYSIS_VERSION
from ..errors import REBUILD_HINT, IndexError_
from . import pgkeys, pgvectorcopy
from .pglexical import Change, PgLexical
from .pgschema import HNSW
from .pgvectors import SENTENCES, text_key
from .snapshot import Snapshot

log = logging.getLogger(__name__)

#: The vector columns' dimension (pgschema): the bundled model's.
DIM = 384
#: The tables a first build fills without their secondary indexes.
BULK_TABLES = ["qabot_passage_vectors", "qabot_sentence_vectors"]
#: The tables a build from scratch empties and fills.
FILLED = ["qabot_passages", "qabot_passage_vectors", SENTENCES, "qabot_terms", "qabot_lists"]
#: The sentence vectors' HNSW graph (pgschema): kept only up to the ANN threshold.
SENTENCE_INDEX = "qabot_sentence_vectors_embedding_idx"
#: Passages and vectors written per COPY message (and passages analysed at a time).
_BLOCK = 4096
#: Memory for building those indexes at the end (HNSW builds far faster when the graph fits).
BULK_MEMORY = "1GB"
_BULK_KB = 1 << 20


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Log how long a step of a commit took (a million passages' build: where time goes)."""
    started = time.perf_counter()
    yield
    log.info("commit: %s in %.1f s", what, time.perf_counter() - started)


def _drop_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop :data:`BULK_TABLES`' indexes but the vector tables' keys; the statements that
    make them again (their own definitions, so :mod:`.pgschema` stays the one place)."""
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (BULK_TABLES,),
    ).fetchall()
    again = []
    for name, definition in indexes:
        conn.execute(f'DROP INDEX "{name}"')
        again.append(definition)
    return again


def generation_name(generation: int) -> str:
    return f"gen-{generation:06d}"


def _digest(position: int, record: dict[str, object], sentences: list[str]) -> str:
    text = json.dumps([position, record, sentences], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lexical_change(snapshot: Snapshot) -> Change:
    leg = snapshot.lexical
    if isinstance(leg, PgLexical):
        return leg.change
    raise TypeError(f"a PostgresStore keeps a PgLexical, not {type(leg).__name__}")


def _empty(conn: psycopg.Connection, first: bool) -> None:
    """Empty the index's tables for a build from scratch. The first build of a database
    truncates them (new files: with ``wal_level=minimal`` the loads that follow skip the WAL);
    a rebuild of a served database deletes, so readers keep the old rows till the commit."""
    if first:
        conn.execute(f"TRUNCATE {', '.join(FILLED)} RESTART IDENTITY")
        return
    for table in FILLED:
        conn.execute(f"DELETE FROM {table}")


def _bulk_memory(conn: psycopg.Connection) -> None:
    """At least :data:`BULK_MEMORY` for this transaction's index builds (a server given
    more, for a bigger graph, keeps its own)."""
    row = conn.execute(
        "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'"
    )
    kb = row.fetchone()
    if kb is None or int(kb[0]) < _BULK_KB:
        conn.execute(f"SET LOCAL maintenance_work_mem = '{BULK_MEMORY}'")


def _sentence_index(conn: psycopg.Connection, n: int, threshold: int) -> None:
    """Keep the sentence vectors' HNSW graph only up to ``threshold`` passages: past it no
    question searches sentences (:meth:`Snapshot.sentence_passages`), and a graph of ~4
    sentences per passage would cost more than the passages' own to build and keep."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (SENTENCE_INDEX,)).fetchone()
    if n > threshold and exists and exists[0]:
        conn.execute(f"DROP INDEX {SENTENCE_INDEX}")
    elif n <= threshold and not (exists and exists[0]):
        _bulk_memory(conn)
        conn.execute(
            f"CREATE INDEX {SENTENCE_INDEX} ON {SENTENCES} USING hnsw (embedding halfvec_ip_ops) "
            f"WITH ({HNSW})"
        )


def write(conn: psycopg.Connection, snapshot: Snapshot) -> str:
    """Make ``snapshot`` the database's current generation; return its name."""
    if snapshot.dim != DIM:
        raise IndexError_(
            f"the database keeps {DIM}-dimensional vectors, the model gives {snapshot.dim}",
            "use the bundled model, or the file store",
        )
    passages = pgvectorcopy.staged(snapshot.passages, "passage vectors")
    full = passages.fresh  # a build from scratch: no stored vector is reused
    change = _lexical_change(snapshot)
    with conn.transaction():
        head = conn.execute(
            "SELECT generation, passages, list_limit FROM qabot_manifest FOR UPDATE"
        ).fetchone()
        generation = (int(head[0]) if head else 0) + 1
        if full:
            _empty(conn, head is None)
        # The first build of a database fills empty tables: faster without their indexes,
        # built once at the end (nobody reads an index that does not exist yet).
        rebuild = _drop_indexes(conn) if full and head is None else []
        limit = int(head[2]) if head else 0
        lexical = pgkeys.Writer(conn, full, len(snapshot.chunks), limit)
        if not full:
            gone = list(change.remove | change.add.keys())
            lexical.lose(
                conn.execute(
                    "SELECT key, keys FROM qabot_passages WHERE key = ANY(%s)", (gone,), binary=True
                ).fetchall()
            )
        with _step("passages and their keys"):
            _write_passages(conn, snapshot, change, lexical, full)
        with _step("posting lists"):
            lexical.finish()
        with _step("passage vectors"):
            hashes = {c.key: c.hash for c in snapshot.chunks}
            pgvectorcopy.write_vectors(conn, "qabot_passage_vectors", passages, hashes)
        with _step("sentence vectors"):
            pgvectorcopy.write_sentences(conn, snapshot, full)
        n_total = len(snapshot.chunks)
        if rebuild:
            _bulk_memory(conn)
            for statement in rebuild:
                if n_total > passages.ann_threshold and SENTENCE_INDEX in statement:
                    continue
                with _step(statement.split(" USING ")[0].split(" ON ")[-1]):
                    conn.execute(statement)
            with _step("analyze"):
                conn.execute("ANALYZE")
        else:
            with _step("sentence graph"):
                _sentence_index(conn, n_total, passages.ann_threshold)
        counts = conn.execute(
            "SELECT count(*), coalesce(sum(n_keys), 0) FROM qabot_passages"
        ).fetchone()
        n, total_keys = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        if n != len(snapshot.chunks):
            expected = len(snapshot.chunks)
            raise IndexError_(f"commit left {n} passages, expected {expected}", REBUILD_HINT)
        conn.execute(
            "INSERT INTO qabot_manifest (generation, model, dim, prompts, built, passages, "
            "total_keys, analysis, list_limit) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (one) DO UPDATE SET generation = EXCLUDED.generation, "
            "model = EXCLUDED.model, dim = EXCLUDED.dim, prompts = EXCLUDED.prompts, "
            "built = EXCLUDED.built, passages = EXCLUDED.passages, "
            "total_keys = EXCLUDED.total_keys, analysis = EXCLUDED.analysis, "
            "list_limit = EXCLUDED.list_limit",
            (
                generation,
                snapshot.model,
                snapshot.dim,
                Jsonb(snapshot.prompts),
                snapshot.built,
                n,
                total_keys,
                ANALYSIS_VERSION,
                lexical.limit,
            ),
        )
    return generation_name(generation)


def _write_passages(
    conn: psycopg.Connection,
    snapshot: Snapshot,
    change: Change,
    lexical: pgkeys.Writer,
    full: bool,
) -> None:
    """Write the passages whose row differs (all of a build from scratch, streamed), with
    the keys of the new ones (:mod:`.pgkeys`) analysed a block at a time."""
    stored: dict[int, str] = {}
    if not full:
        stored = dict(conn.execute("SELECT key, digest FROM qabot_passages").fetchall())
        gone = list(stored.keys() - {c.key for c in snapshot.chunks})
        if gone:
            conn.execute("DELETE FROM qabot_passages WHERE key = ANY(%s)", (gone,))
    columns = "key, position, hash, record, sentences, digest, keys, n_keys, sentence_keys"
    if full:
        target = "qabot_passages"
    else:
        target = "qabot_new_passages"
        conn.execute(
            "CREATE TEMP TABLE qabot_new_passages (LIKE qabot_passages INCLUDING DEFAULTS) "
            "ON COMMIT DROP"
        )
        conn.execute("ALTER TABLE qabot_new_passages ALTER COLUMN keys DROP NOT NULL")
        conn.execute("ALTER TABLE qabot_new_passages ALTER COLUMN n_keys DROP NOT NULL")
    # An edit's few new passages are analysed first: new keys get their ids from the
    # database, which cannot be asked in the middle of a COPY (a fresh build numbers them).
    analysed: dict[int, tuple[bytes, int]] = {}
    if not full:
        new = list(change.add)
        analysed = dict(zip(new, lexical.analyse(new, [change.text(k) for k in new]), strict=True))
    written = 0
    with conn.cursor().copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for at in range(0, len(snapshot.chunks), _BLOCK):
            rows: list[list[Any]] = []
            for position in range(at, min(at + _BLOCK, len(snapshot.chunks))):
                chunk = snapshot.chunks[position]
                record = chunk.model_dump(mode="json")
                sentences = snapshot.sentences.get(chunk.key, [])
                digest = _digest(position, record, sentences)
                if stored.get(chunk.key) != digest or chunk.key in change.add:
                    rows.append([chunk.key, position, chunk.hash, record, sentences, digest])
            if full:
                new = [r[0] for r in rows if r[0] in change.add]
                texts = [change.text(k) for k in new]
                analysed = dict(zip(new, lexical.analyse(new, texts), strict=True))
            for row in rows:
                blob, length = analysed.get(row[0]) or (None, None)
                sentence_keys = [text_key(s) for s in row[4]]  # (:mod:`.pgreader`)
                row[3], row[4] = Jsonb(row[3]), Jsonb(row[4])
                copy.write_row((*row, blob, length, sentence_keys))
            written += len(rows)
    if written and not full:
        conn.execute(
            f"INSERT INTO qabot_passages ({columns}) SELECT key, position, hash, record, "
            "sentences, digest, coalesce(keys, ''::bytea), coalesce(n_keys, 0), sentence_keys "
            "FROM qabot_new_passages ON CONFLICT (key) DO UPDATE SET position = "
            "EXCLUDED.position, hash = EXCLUDED.hash, record = EXCLUDED.record, "
            "sentences = EXCLUDED.sentences, digest = EXCLUDED.digest, "
            "sentence_keys = EXCLUDED.sentence_keys, "
            "keys = CASE WHEN EXCLUDED.key = ANY(%s) THEN EXCLUDED.keys "
            "ELSE qabot_passages.keys END, "
            "n_keys = CASE WHEN EXCLUDED.key = ANY(%s) THEN EXCLUDED.n_keys "
            "ELSE qabot_passages.n_keys END",
            (list(change.add), list(change.add)),
        )
