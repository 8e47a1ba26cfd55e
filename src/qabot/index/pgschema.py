"""The PostgreSQL schema of the store, created and migrated by qabot itself (`qabot db init`).

``qabot_schema`` holds the version; each step of :data:`MIGRATIONS` brings the schema from the
version before it, in one transaction, under an advisory lock so two replicas starting at once
do not both migrate. A database migrated by a newer qabot is refused, never "downgraded".
"""

from __future__ import annotations

import psycopg

from ..errors import QabotError
from .bm25 import MAX_DF_SHARE, MIN_PRUNED_DF
from .pgvectors import text_key

#: The schema this qabot reads and writes.
SCHEMA_VERSION = 5
#: pg_advisory_lock keys: one for migrations, one for index builds (the store's ``lock()``).
MIGRATE_LOCK = 0x71AB0001
BUILD_LOCK = 0x71AB0002

_V1 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE qabot_manifest (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL,
    model text NOT NULL,
    dim integer NOT NULL,
    prompts jsonb NOT NULL DEFAULT '{}',
    built text NOT NULL DEFAULT '',
    passages integer NOT NULL DEFAULT 0,
    total_keys bigint NOT NULL DEFAULT 0,
    analysis integer NOT NULL DEFAULT 0 -- qabot.arabic.ANALYSIS_VERSION of the keys
);
-- One row per passage: its Chunk record (text and metadata), its sentences, its key count.
CREATE TABLE qabot_passages (
    key bigint PRIMARY KEY,
    position integer NOT NULL,
    hash text NOT NULL,
    record jsonb NOT NULL,
    sentences jsonb NOT NULL,
    digest text NOT NULL, -- of position, record and sentences: what a commit compares
    n_keys integer NOT NULL DEFAULT 0
);
CREATE TABLE qabot_passage_vectors (
    key bigint PRIMARY KEY,
    hash text NOT NULL,
    embedding vector(384) NOT NULL
);
CREATE INDEX ON qabot_passage_vectors (hash);
CREATE INDEX ON qabot_passage_vectors USING hnsw (embedding vector_ip_ops);
-- One row per distinct sentence text, keyed by its text (qabot.index.pgvectors.text_key), in
-- float16 as the file store keeps them.
CREATE TABLE qabot_sentence_vectors (
    key bigint PRIMARY KEY,
    embedding halfvec(384) NOT NULL
);
CREATE INDEX ON qabot_sentence_vectors USING hnsw (embedding halfvec_ip_ops);
-- The lexical leg: every matching key (qabot.arabic.index_keys) with its document frequency,
-- and its postings (passage, term frequency, passage length in keys) for BM25 and coverage.
CREATE TABLE qabot_terms (
    id serial PRIMARY KEY,
    term text NOT NULL UNIQUE,
    df integer NOT NULL DEFAULT 0
);
CREATE TABLE qabot_postings (
    term integer NOT NULL,
    passage bigint NOT NULL,
    tf integer NOT NULL,
    dl integer NOT NULL,
    PRIMARY KEY (term, passage)
);
CREATE INDEX ON qabot_postings (passage);
-- What readers asked (qabot.pgquestions): every replica records here, `qabot stats` reads it.
CREATE TABLE qabot_questions (
    id bigserial PRIMARY KEY,
    asked timestamp NOT NULL, -- UTC
    question text NOT NULL,
    key text NOT NULL,
    answered boolean NOT NULL,
    confidence real,
    article text
);
CREATE INDEX ON qabot_questions (asked);
"""

# 2: the bot's conversations (qabot.pgmemory), so a follow-up answered by another replica
# has its context. Times are seconds since the epoch; rows idle past their expiry are deleted.
_V2 = """
CREATE TABLE qabot_conversations (
    key text PRIMARY KEY, -- a chat and user
    at double precision NOT NULL, -- the last question's time: silence expires it
    turns jsonb NOT NULL -- the last few turns, oldest first
);
CREATE INDEX ON qabot_conversations (at);
-- Which turn each answer message belongs to, so a reply to it brings the turn back.
CREATE TABLE qabot_replies (
    chat bigint NOT NULL,
    message bigint NOT NULL,
    at double precision NOT NULL,
    turn jsonb NOT NULL,
    PRIMARY KEY (chat, message)
);
CREATE INDEX ON qabot_replies (at);
"""

#: The HNSW graphs' parameters (pgvector's defaults: m 16, ef_construction 64). On 100k
#: vectors drawn like ARCD's embeddings (benchmarks/pg_hnsw.py), recall@10 at ef_search 400
#: is 0.989 with these, 0.921 with the defaults (0.938 with ef_construction 128 alone); the
#: graph takes ~3x as long to build.
HNSW = "m = 32, ef_construction = 128"

#: A key's list from its postings rows: (passage int8, tf int2, length int4) big-endian per
#: entry, by passage (qabot.index.pglists.ENTRY).
LIST_OF = (
    "string_agg(int8send(passage) || int2send(tf::int2) || int4send(dl), ''::bytea "
    "ORDER BY passage)"
)

# 3: each key's postings as one row (qabot.index.pglists), so a question's BM25 reads a row
# per key. Stored uncompressed (EXTERNAL): read whole on every question. A database of
# version 2 gets every key's list made from its postings (its bridge comes with the next
# `qabot index`).
_V3 = """
CREATE TABLE qabot_lists (
    term integer PRIMARY KEY,
    postings bytea NOT NULL -- (passage int8, tf int2, passage length int4) per entry
);
ALTER TABLE qabot_lists ALTER COLUMN postings SET STORAGE EXTERNAL;
INSERT INTO qabot_lists (term, postings)
SELECT term, {list_of} FROM qabot_postings GROUP BY term;
-- The English→Arabic word bridge (qabot.bridge): the corpus's words and their vectors, as
-- Bridge.to_bytes() gives them, replaced by a build when the words change.
CREATE TABLE qabot_bridge (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    data bytea NOT NULL
);
ALTER TABLE qabot_bridge ALTER COLUMN data SET STORAGE EXTERNAL;
-- The HNSW graphs again, denser ({hnsw}): measured by benchmarks/pg_hnsw.py.
SET LOCAL maintenance_work_mem = '1GB';
DROP INDEX qabot_passage_vectors_embedding_idx;
CREATE INDEX qabot_passage_vectors_embedding_idx ON qabot_passage_vectors
    USING hnsw (embedding vector_ip_ops) WITH ({hnsw});
DROP INDEX qabot_sentence_vectors_embedding_idx;
CREATE INDEX qabot_sentence_vectors_embedding_idx ON qabot_sentence_vectors
    USING hnsw (embedding halfvec_ip_ops) WITH ({hnsw})
"""

# 4: no row per (key, passage) pair (~45 B of header and index each: over 40 GB at 1M
# passages). Each passage's keys are one bytea in its row ((key id int4, count int2) per key,
# by key id: qabot.index.pgkeys), and a key keeps its list while in at most list_limit
# passages (twice the walked share), made here from the pairs.
_V4 = """
ALTER TABLE qabot_passages ADD COLUMN keys bytea NOT NULL DEFAULT ''::bytea;
UPDATE qabot_passages p SET keys = k.keys FROM (
    SELECT passage, string_agg(int4send(term) || int2send(tf::int2), ''::bytea ORDER BY term)
    AS keys FROM qabot_postings GROUP BY passage
) k WHERE p.key = k.passage;
ALTER TABLE qabot_manifest ADD COLUMN list_limit integer NOT NULL DEFAULT 0;
UPDATE qabot_manifest SET list_limit = 2 * greatest({min_df}, floor({share} * passages)::int);
DELETE FROM qabot_lists;
INSERT INTO qabot_lists (term, postings)
SELECT term, {list_of} FROM qabot_postings WHERE term IN (
    SELECT id FROM qabot_terms, qabot_manifest WHERE df <= list_limit
) GROUP BY term;
DROP TABLE qabot_postings
"""

# 5: each passage's sentence keys (qabot.index.pgvectors.text_key of each sentence, in order):
# a reader fetches a question's sentence vectors with its passages, and finds the passages of
# a sentence hit, without reading every passage's sentences (qabot.index.pgreader). Computed
# in Python (:func:`_fill_sentence_keys`): the key is no hash PostgreSQL has.
_V5 = "ALTER TABLE qabot_passages ADD COLUMN sentence_keys bigint[] NOT NULL DEFAULT '{}'"


def _fill_sentence_keys(conn: psycopg.Connection) -> None:
    rows = conn.execute("SELECT key, sentences FROM qabot_passages").fetchall()
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE qabot_passages SET sentence_keys = %s WHERE key = %s",
            [([text_key(s) for s in sentences], key) for key, sentences in rows],
        )


#: version → the SQL that reaches it from the version before.
MIGRATIONS: dict[int, str] = {
    1: _V1,
    2: _V2,
    3: _V3.format(list_of=LIST_OF, hnsw=HNSW),
    4: _V4.format(list_of=LIST_OF, min_df=MIN_PRUNED_DF, share=MAX_DF_SHARE),
    5: _V5,
}
#: version → what its migration computes in Python after its SQL (same transaction).
FILLS = {5: _fill_sentence_keys}


def schema_version(conn: psycopg.Connection) -> int:
    """The database's schema version; 0 when qabot never initialised it."""
    exists = conn.execute("SELECT to_regclass('qabot_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM qabot_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise QabotError(
            f"the database {where} has qabot schema version {version}, newer than this qabot "
            f"understands ({SCHEMA_VERSION})",
            "upgrade qabot on this host, or point it at another database",
        )


def migrate(conn: psycopg.Connection, where: str) -> tuple[int, int]:
    """Bring the schema to :data:`SCHEMA_VERSION`; (version before, version after).

    ``conn`` must be in autocommit mode: each step is its own transaction.
    """
    before = schema_version(conn)
    check_version(before, where)
    if before == SCHEMA_VERSION:
        return before, before
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        before = schema_version(conn)  # another process may have migrated meanwhile
        check_version(before, where)
        for version in range(before + 1, SCHEMA_VERSION + 1):
            with conn.transaction():
                conn.execute("CREATE TABLE IF NOT EXISTS qabot_schema (version integer NOT NULL)")
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if version in FILLS:
                    FILLS[version](conn)
                conn.execute("INSERT INTO qabot_schema VALUES (%s)", (version,))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return before, SCHEMA_VERSION
