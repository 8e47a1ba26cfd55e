"""One commit of a snapshot into PostgreSQL: a single transaction, so readers see all or none.

Only what changed is written: passages whose record, position or sentences differ (by a
digest), the vectors a build staged (:class:`PgVectorIndex`), the postings of new or edited
passages (:class:`PgLexical`'s staged change), then the manifest with the next generation.
A build from scratch (a fresh vector index, an in-memory :class:`LexicalIndex`) replaces all.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable

import numpy as np
import psycopg
from pgvector import HalfVector
from psycopg.types.json import Jsonb

from ..arabic import ANALYSIS_VERSION
from ..errors import REBUILD_HINT, IndexError_
from . import pglists
from .lexical import LexicalIndex
from .pglexical import Change, PgLexical
from .pgvectors import SENTENCES, PgVectorIndex, text_key
from .snapshot import Snapshot, sentence_layout

#: The vector columns' dimension (pgschema): the bundled model's.
DIM = 384
#: The tables a first build fills without their secondary indexes (and postings' key).
BULK_TABLES = ["qabot_passage_vectors", "qabot_sentence_vectors", "qabot_postings"]
#: Memory for building those indexes at the end (HNSW builds far faster when the graph fits).
BULK_MEMORY = "1GB"


def _drop_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop :data:`BULK_TABLES`' indexes but the vector tables' keys; the statements that
    make them again (their own definitions, so :mod:`.pgschema` stays the one place)."""
    constraints = conn.execute(
        "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid WHERE t.relname = 'qabot_postings' "
        "AND c.contype = 'p'"
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (BULK_TABLES,),
    ).fetchall()
    again = []
    for table, name, definition in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        conn.execute(f'DROP INDEX "{name}"')
        again.append(definition)
    return again


def generation_name(generation: int) -> str:
    return f"gen-{generation:06d}"


def _digest(position: int, record: dict[str, object], sentences: list[str]) -> str:
    text = json.dumps([position, record, sentences], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _staged(vectors: object, what: str) -> PgVectorIndex:
    if not isinstance(vectors, PgVectorIndex):
        raise TypeError(f"a PostgresStore keeps PgVectorIndex {what}, not {type(vectors).__name__}")
    return vectors


def _lexical_change(snapshot: Snapshot) -> tuple[bool, Change]:
    """(replace everything?, the change) from the snapshot's lexical leg."""
    leg = snapshot.lexical
    if isinstance(leg, PgLexical):
        return False, leg.change
    if isinstance(leg, LexicalIndex):  # a build from scratch indexes every passage in memory
        return True, Change(add={int(k): leg.terms_of(int(k)) for k in leg.ids.tolist()})
    raise TypeError(f"a PostgresStore keeps a PgLexical, not {type(leg).__name__}")


def write(conn: psycopg.Connection, snapshot: Snapshot) -> str:
    """Make ``snapshot`` the database's current generation; return its name."""
    if snapshot.dim != DIM:
        raise IndexError_(
            f"the database keeps {DIM}-dimensional vectors, the model gives {snapshot.dim}",
            "use the bundled model, or the file store",
        )
    passages = _staged(snapshot.passages, "passage vectors")
    full = passages.fresh  # a build from scratch: no stored vector is reused
    replace, change = _lexical_change(snapshot)
    with conn.transaction():
        head = conn.execute(
            "SELECT generation, passages FROM qabot_manifest FOR UPDATE"
        ).fetchone()
        generation = (int(head[0]) if head else 0) + 1
        # The first build of a database fills empty tables: faster without their indexes,
        # built once at the end (nobody reads an index that does not exist yet).
        rebuild = _drop_indexes(conn) if full and replace and head is None else []
        _write_passages(conn, snapshot)
        hashes = {c.key: c.hash for c in snapshot.chunks}
        _write_vectors(conn, "qabot_passage_vectors", passages, hashes)
        _write_sentences(conn, snapshot, full)
        table, touched = _write_postings(conn, change, replace)
        if rebuild:
            conn.execute(f"SET LOCAL maintenance_work_mem = '{BULK_MEMORY}'")
            for statement in rebuild:
                conn.execute(statement)
            conn.execute("ANALYZE")
        counts = conn.execute(
            "SELECT count(*), coalesce(sum(n_keys), 0) FROM qabot_passages"
        ).fetchone()
        n, total_keys = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        if n != len(snapshot.chunks):
            expected = len(snapshot.chunks)
            raise IndexError_(f"commit left {n} passages, expected {expected}", REBUILD_HINT)
        if replace:
            pglists.write_all(conn, table, n)
        else:
            pglists.sync(conn, touched, int(head[1]) if head else 0, n)
        conn.execute(
            "INSERT INTO qabot_manifest (generation, model, dim, prompts, built, passages, "
            "total_keys, analysis) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (one) DO UPDATE SET generation = EXCLUDED.generation, "
            "model = EXCLUDED.model, dim = EXCLUDED.dim, prompts = EXCLUDED.prompts, "
            "built = EXCLUDED.built, passages = EXCLUDED.passages, "
            "total_keys = EXCLUDED.total_keys, analysis = EXCLUDED.analysis",
            (
                generation,
                snapshot.model,
                snapshot.dim,
                Jsonb(snapshot.prompts),
                snapshot.built,
                n,
                total_keys,
                ANALYSIS_VERSION,
            ),
        )
    return generation_name(generation)


def _write_passages(conn: psycopg.Connection, snapshot: Snapshot) -> None:
    stored: dict[int, str] = dict(conn.execute("SELECT key, digest FROM qabot_passages").fetchall())
    keys = [c.key for c in snapshot.chunks]
    conn.execute("DELETE FROM qabot_passages WHERE NOT key = ANY(%s)", (keys,))
    rows = []
    for position, chunk in enumerate(snapshot.chunks):
        record = chunk.model_dump(mode="json")
        sentences = snapshot.sentences.get(chunk.key, [])
        digest = _digest(position, record, sentences)
        if stored.get(chunk.key) != digest:
            rows.append((chunk.key, position, chunk.hash, Jsonb(record), Jsonb(sentences), digest))
    if rows:
        conn.execute(
            "CREATE TEMP TABLE qabot_new_passages (LIKE qabot_passages INCLUDING DEFAULTS) "
            "ON COMMIT DROP"
        )
        with conn.cursor().copy(
            "COPY qabot_new_passages (key, position, hash, record, sentences, digest) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(
            "INSERT INTO qabot_passages (key, position, hash, record, sentences, digest) "
            "SELECT key, position, hash, record, sentences, digest FROM qabot_new_passages "
            "ON CONFLICT (key) DO UPDATE SET position = EXCLUDED.position, "
            "hash = EXCLUDED.hash, record = EXCLUDED.record, sentences = EXCLUDED.sentences, "
            "digest = EXCLUDED.digest"
        )


def _write_vectors(
    conn: psycopg.Connection, table: str, index: PgVectorIndex, hashes: dict[int, str]
) -> None:
    """Apply the staged vectors to ``table`` (the index's own, or any for a fresh one)."""
    if index.fresh:
        conn.execute(f"DELETE FROM {table}")
    else:
        gone = list(index.staged_remove | index.staged_add.keys())
        conn.execute(f"DELETE FROM {table} WHERE key = ANY(%s)", (gone,))
    sql = f"COPY {table} (key, hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
    with conn.cursor().copy(sql) as copy:
        copy.set_types(["int8", "text", "vector"])
        for key, vector in index.staged_add.items():
            copy.write_row((key, hashes[key], np.asarray(vector, dtype=np.float32)))
    index.staged_add, index.staged_remove, index.fresh = {}, set(), False


def _write_sentences(conn: psycopg.Connection, snapshot: Snapshot, full: bool) -> None:
    """One row per distinct sentence text (:func:`text_key`): add the texts new to the
    table, from the vectors the build staged under their layout ids, and drop the texts no
    passage holds any more; ``full`` replaces every row."""
    texts, _ = sentence_layout(snapshot.chunks, snapshot.sentences)
    keys = [text_key(t) for t in texts]
    if full:
        conn.execute(f"DELETE FROM {SENTENCES}")
        stored: set[int] = set()
    else:
        stored = {r[0] for r in conn.execute(f"SELECT key FROM {SENTENCES}").fetchall()}
        conn.execute(f"DELETE FROM {SENTENCES} WHERE NOT key = ANY(%s)", (keys,))
    new = [i for i, key in enumerate(keys) if key not in stored]
    if not new:
        return
    staged = _staged(snapshot.sentence_vectors, "sentence vectors")
    if any(i not in staged.staged_add for i in new):
        raise IndexError_("commit lacks the vectors of new sentences", REBUILD_HINT)
    sql = f"COPY {SENTENCES} (key, embedding) FROM STDIN WITH (FORMAT BINARY)"
    with conn.cursor().copy(sql) as copy:
        copy.set_types(["int8", "halfvec"])
        for i in new:
            copy.write_row((keys[i], HalfVector(staged.staged_add[i])))
    staged.staged_add, staged.staged_remove, staged.fresh = {}, set(), False


def _write_postings(
    conn: psycopg.Connection, change: Change, replace: bool
) -> tuple[np.ndarray, set[int]]:
    """Drop the postings of removed and re-added passages, add the new ones, fix the dfs
    (by the rows each key lost and gained: no recount of a common key's postings). The
    postings added (:data:`_ROW`, by key) and the keys whose postings changed."""
    removed: Counter[int] = Counter()
    if replace:
        conn.execute("DELETE FROM qabot_postings")
        conn.execute("UPDATE qabot_terms SET df = 0 WHERE df <> 0")
    else:
        gone = list(change.remove | change.add.keys())
        rows = conn.execute(
            "DELETE FROM qabot_postings WHERE passage = ANY(%s) RETURNING term", (gone,)
        ).fetchall()
        removed.update(r[0] for r in rows)
    vocabulary = sorted({t for keys in change.add.values() for t in keys})
    term_id = _term_ids(conn, vocabulary)
    table = _postings_table(change.add, term_id)
    sql = "COPY qabot_postings (term, passage, tf, dl) FROM STDIN BINARY"
    with conn.cursor().copy(sql) as copy:
        copy.write(_binary_copy(table))
    if change.add:
        conn.execute(
            "UPDATE qabot_passages p SET n_keys = v.n FROM unnest(%s::bigint[], %s::int[]) "
            "AS v(key, n) WHERE p.key = v.key",
            (list(change.add), [len(k) for k in change.add.values()]),
        )
    terms, added = np.unique(table["term"].astype(np.int64), return_counts=True)
    delta = Counter(dict(zip(terms.tolist(), added.tolist(), strict=True)))
    delta.subtract(removed)
    changed = {t: d for t, d in delta.items() if d}
    if changed:
        conn.execute(
            "UPDATE qabot_terms t SET df = t.df + v.d FROM unnest(%s::int[], %s::int[]) "
            "AS v(id, d) WHERE t.id = v.id",
            (list(changed), list(changed.values())),
        )
    return table, set(delta)


#: A postings row as PostgreSQL's binary COPY format lays it out: a field count, then each
#: field's length and big-endian value (term int4, passage int8, tf int4, dl int4).
_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("term", ">i4"), ("l2", ">i4"), ("passage", ">i8"),
     ("l3", ">i4"), ("tf", ">i4"), ("l4", ">i4"), ("dl", ">i4")]
)  # fmt: skip


def _postings_table(added: dict[int, list[str]], term_id: dict[str, int]) -> np.ndarray:
    """One :data:`_ROW` per (key, passage) of the added passages, with its count, sorted by
    key then passage: built with numpy, as a first build writes millions of them."""
    lengths = np.fromiter(map(len, added.values()), dtype=np.int64, count=len(added))
    terms = np.fromiter(
        (term_id[t] for keys in added.values() for t in keys), dtype=np.int64, count=lengths.sum()
    )
    # Passages numbered in key order: rows sorted by (key, passage), as a list lays them out.
    ids = np.fromiter(added, dtype=np.int64, count=len(added))
    order = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    owner = np.repeat(rank, lengths)
    # Sorted by key: a first build lays each key's postings out together on disk, so a
    # question's BM25 reads a few pages per key, not one per posting.
    pairs, tf = np.unique((terms << 32) | owner, return_counts=True)
    table = np.zeros(len(pairs), dtype=_ROW)
    table["n"], table["l1"], table["l2"], table["l3"], table["l4"] = 4, 4, 8, 4, 4
    table["term"] = pairs >> 32
    rows = pairs & 0xFFFFFFFF
    table["passage"] = ids[order][rows]
    table["tf"], table["dl"] = tf, lengths[order][rows]
    return table


def _binary_copy(table: np.ndarray) -> bytes:
    """``table``'s rows as a whole binary COPY stream: signature, flags, rows, trailer."""
    return b"PGCOPY\n\xff\r\n\x00" + bytes(8) + table.tobytes() + b"\xff\xff"


def _term_ids(conn: psycopg.Connection, terms: Iterable[str]) -> dict[str, int]:
    terms = list(terms)
    if not terms:
        return {}
    conn.execute(
        "INSERT INTO qabot_terms (term) SELECT unnest(%s::text[]) ON CONFLICT (term) DO NOTHING",
        (terms,),
    )
    rows = conn.execute("SELECT term, id FROM qabot_terms WHERE term = ANY(%s)", (terms,))
    return dict(rows.fetchall())
