"""The lexical leg's rows: each passage's keys in its row, each key's posting list in another.

A passage's matching keys (:func:`qabot.arabic.index_keys`) are one ``bytea`` in its
``qabot_passages`` row (:data:`KEY`: key id and count, by key id): the candidates' BM25 and
coverage read those. A key's posting list is one ``bytea`` row in ``qabot_lists``
(:data:`.pglists.ENTRY`, by passage). A row per (key, passage) pair, as schema 3 kept them,
cost ~45 B of row header and index per pair: 63 % of the database at 10k passages of
scale.py's corpus (~480 pairs a passage), ~40 GB of it at 1M.

A key's list is kept only while it is in at most :func:`list_limit` passages (twice what a
question walks). A build from scratch spools every (key, passage) pair to scratch files, a
part of the keys to each, then writes each part's lists sorted in memory: what it holds at
once is one part. An edit patches the lists of the keys its passages lose or gain.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO

import numpy as np
import psycopg

from ..arabic import index_keys
from .bm25 import pruned_df
from .pglists import ENTRY

#: A passage's keys: key id and its count in the passage, by key id.
KEY = np.dtype([("term", ">i4"), ("tf", ">i2")])
#: A spooled pair of a first build: key id, passage row (in the order analysed), count.
_PAIR = np.dtype([("term", "<i4"), ("row", "<i4"), ("tf", "<i2")])
#: Scratch files a first build spreads its pairs over (by key id): one is sorted at a time.
_PARTS = 32
#: Lists read, patched and written back at a time by an edit.
_PATCH = 500
#: Passages' keys read at a time by a scan.
_SCAN = 10_000
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"


def encode(terms: np.ndarray, tf: np.ndarray) -> bytes:
    out = np.empty(len(terms), dtype=KEY)
    out["term"], out["tf"] = terms, tf
    return out.tobytes()


def decode(blob: bytes | memoryview | None) -> tuple[np.ndarray, np.ndarray]:
    """A passage's (key ids, counts) from its stored keys."""
    keys = np.frombuffer(blob or b"", dtype=KEY)
    return keys["term"].astype(np.int64), keys["tf"].astype(np.int64)


def postings(rows: Iterable[tuple[int, bytes | None, int]], terms: Iterable[int]) -> np.ndarray:
    """(passage, key id, count, passage length) of ``terms`` in passages given as (passage,
    stored keys, length) rows: what BM25 and coverage of candidates read."""
    wanted = np.asarray(sorted(set(terms)), dtype=np.int64)
    out = []
    for key, blob, dl in rows:
        ids, tf = decode(blob)
        hit = np.isin(ids, wanted, assume_unique=True)
        if hit.any():
            part = np.empty((int(hit.sum()), 4), dtype=np.int64)
            part[:, 0], part[:, 1], part[:, 2], part[:, 3] = key, ids[hit], tf[hit], dl
            out.append(part)
    return np.concatenate(out) if out else np.zeros((0, 4), dtype=np.int64)


def _copy_lists(copy: psycopg.Copy, terms: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """Write the lists of ``entries`` (sorted by ``terms``, then passage) as binary COPY rows
    of (term, postings); each key's document frequency, in order of its first entry."""
    starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if len(terms) else terms
    counts = np.diff(np.r_[starts, len(terms)]).astype(np.int64)
    head = np.zeros(len(starts), dtype=[("n", ">i2"), ("l1", ">i4"), ("t", ">i4"), ("l2", ">i4")])
    head["n"], head["l1"], head["t"], head["l2"] = 2, 4, terms[starts], counts * ENTRY.itemsize
    heads, blob, hs, es = head.tobytes(), entries.tobytes(), head.itemsize, ENTRY.itemsize
    step = 20_000
    for at in range(0, len(starts), step):
        copy.write(
            b"".join(
                heads[i * hs : (i + 1) * hs] + blob[s * es : (s + c) * es]
                for i, s, c in zip(
                    range(at, min(at + step, len(starts))),
                    starts[at : at + step].tolist(),
                    counts[at : at + step].tolist(),
                    strict=True,
                )
            )
        )
    return counts


def list_limit(n: int) -> int:
    """The most passages a key may be in and keep its list, set when a build starts it:
    twice what a question walks (:func:`~.bm25.pruned_df`), so the keys in between keep
    theirs as they cross back and forth, and the corpus may double before one is read
    again from every passage's keys. A list for each key past the walked share would be
    ~2/3 of all pairs (scale.py's corpus at 10k), and an edit would rewrite the longest."""
    return 2 * pruned_df(n)


class Writer:
    """The lexical rows of one commit: analyse new passages a block at a time, then write
    the lists (a build from scratch) or patch the touched ones (an edit).

    The invariant (``limit``: the manifest's ``list_limit``): a key has its exact list when
    its document frequency is at most ``limit``, none when past it (an edit drops it), and
    any key without one that a question may walk (``df <= pruned_df(n)``) gets its list,
    read from every passage's keys (:meth:`_scan`), when the corpus outgrows ``limit`` or a
    key falls that far."""

    def __init__(self, conn: psycopg.Connection, fresh: bool, n: int, limit: int) -> None:
        self.conn, self.fresh, self.n = conn, fresh, n
        #: The manifest's list limit after this commit.
        self.limit = list_limit(n) if fresh or limit < pruned_df(n) else limit
        #: Key → id: all of them on a fresh build (numbered here), else those met so far.
        self.ids: dict[str, int] = {}
        self._rows: list[tuple[int, int]] = []  # (passage, length) of each analysed row
        self._parts: list[IO[bytes]] = []
        if fresh:
            self._parts = [tempfile.TemporaryFile() for _ in range(_PARTS)]  # noqa: SIM115
        #: An edit: passage → its keys before (to drop), and after (to add).
        self._lost: dict[int, np.ndarray] = {}
        self._gained: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def _key_ids(self, keys: Iterable[str]) -> None:
        missing = sorted({k for k in keys if k not in self.ids})
        if not missing:
            return
        if self.fresh:
            first = len(self.ids) + 1
            self.ids.update(zip(missing, range(first, first + len(missing)), strict=True))
            return
        self.conn.execute(
            "INSERT INTO qabot_terms (term) SELECT unnest(%s::text[]) ON CONFLICT (term) "
            "DO NOTHING",
            (missing,),
        )
        rows = self.conn.execute(
            "SELECT term, id FROM qabot_terms WHERE term = ANY(%s)", (missing,)
        )
        self.ids.update(rows.fetchall())

    def lose(self, rows: Iterable[tuple[int, bytes | None]]) -> None:
        """Passages whose stored keys an edit drops (removed, or about to be re-added)."""
        for key, blob in rows:
            self._lost[int(key)] = decode(blob)[0]

    def analyse(self, keys: Sequence[int], texts: Sequence[str]) -> list[tuple[bytes, int]]:
        """The stored keys and length of each passage of one block."""
        analysed = [index_keys(t) for t in texts]
        self._key_ids(k for ks in analysed for k in ks)
        out = []
        pairs = []
        for key, ks in zip(keys, analysed, strict=True):
            counts = Counter(self.ids[k] for k in ks)
            terms = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
            tf = np.fromiter((counts[t] for t in terms.tolist()), dtype=np.int64, count=len(terms))
            out.append((encode(terms, tf), len(ks)))
            if self.fresh:
                pair = np.empty(len(terms), dtype=_PAIR)
                pair["term"], pair["row"], pair["tf"] = terms, len(self._rows), tf
                pairs.append(pair)
            else:
                self._gained[int(key)] = (terms, tf, len(ks))
            self._rows.append((int(key), len(ks)))
        if pairs:
            block = np.concatenate(pairs)
            part = block["term"] % _PARTS
            for p in range(_PARTS):
                self._parts[p].write(block[part == p].tobytes())
        return out

    def finish(self) -> None:
        """Write the lists and document frequencies."""
        if self.fresh:
            self._write_all()
        else:
            self._patch()
            needed = self.conn.execute(
                "SELECT id FROM qabot_terms t WHERE df > 0 AND df <= %s AND NOT EXISTS "
                "(SELECT 1 FROM qabot_lists l WHERE l.term = t.id)",
                (pruned_df(self.n),),
            ).fetchall()
            if needed:
                self._scan([r[0] for r in needed])

    def _write_all(self) -> None:
        rows = np.array(self._rows, dtype=np.int64).reshape(-1, 2)
        passage, length = rows[:, 0], rows[:, 1]
        df = np.zeros(len(self.ids) + 1, dtype=np.int64)
        with self.conn.cursor().copy("COPY qabot_lists (term, postings) FROM STDIN BINARY") as copy:
            copy.write(SIGNATURE)
            for f in self._parts:
                f.seek(0)
                pairs = np.frombuffer(f.read(), dtype=_PAIR)
                f.close()
                if not len(pairs):
                    continue
                terms, counts = np.unique(pairs["term"], return_counts=True)
                df[terms] = counts
                pairs = pairs[df[pairs["term"]] <= self.limit]
                order = np.lexsort((passage[pairs["row"]], pairs["term"]))
                pairs = pairs[order]
                entries = np.empty(len(pairs), dtype=ENTRY)
                entries["passage"] = passage[pairs["row"]]
                entries["tf"], entries["dl"] = pairs["tf"], length[pairs["row"]]
                kept = pairs["term"].astype(np.int64)
                del pairs, order
                _copy_lists(copy, kept, entries)
            copy.write(TRAILER)
        with self.conn.cursor().copy("COPY qabot_terms (id, term, df) FROM STDIN") as copy:
            for term, id_ in self.ids.items():
                copy.write_row((id_, term, int(df[id_])))
        self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('qabot_terms', 'id'), %s, true)",
            (max(len(self.ids), 1),),
        )

    def _patch(self) -> None:
        """Each touched key's document frequency by the passages that lost and gained it,
        and its list patched (or dropped past the limit, or made for a new key)."""
        lost: Counter[int] = Counter()
        for ids in self._lost.values():
            lost.update(ids.tolist())
        gain = [
            (t, key, tf, dl)
            for key, (terms, tfs, dl) in self._gained.items()
            for t, tf in zip(terms.tolist(), tfs.tolist(), strict=True)
        ]
        added = np.array(gain, dtype=np.int64).reshape(-1, 4)
        added = added[np.argsort(added[:, 0], kind="stable")]
        gained = Counter(added[:, 0].tolist())
        gone = np.asarray(sorted(self._lost.keys() | self._gained.keys()), dtype=np.int64)
        todo = sorted(lost.keys() | gained.keys())
        for at in range(0, len(todo), _PATCH):
            part = todo[at : at + _PATCH]
            old_df: dict[int, int] = dict(
                self.conn.execute(
                    "SELECT id, df FROM qabot_terms WHERE id = ANY(%s)", (part,)
                ).fetchall()
            )
            stored: dict[int, bytes] = dict(
                self.conn.execute(
                    "DELETE FROM qabot_lists WHERE term = ANY(%s) RETURNING term, postings",
                    (part,),
                    binary=True,
                ).fetchall()
            )
            df = [old_df[t] - lost[t] + gained[t] for t in part]
            lo = np.searchsorted(added[:, 0], part[0])
            hi = np.searchsorted(added[:, 0], part[-1], side="right")
            mine = added[lo:hi]
            terms_out, lists = [], []
            for term, now in zip(part, df, strict=True):
                if now <= 0 or now > self.limit or (term not in stored and old_df[term] > 0):
                    continue  # no list: gone, too common, or one it never had (see finish)
                old = np.frombuffer(stored.get(term) or b"", dtype=ENTRY)
                old = old[~np.isin(old["passage"].astype(np.int64), gone)]
                new = mine[mine[:, 0] == term]
                entries = np.empty(len(old) + len(new), dtype=ENTRY)
                entries[: len(old)] = old
                entries["passage"][len(old) :] = new[:, 1]
                entries["tf"][len(old) :], entries["dl"][len(old) :] = new[:, 2], new[:, 3]
                entries = entries[np.argsort(entries["passage"].astype(np.int64), kind="stable")]
                terms_out.append(np.full(len(entries), term, dtype=np.int64))
                lists.append(entries)
            if lists:
                self._copy(np.concatenate(terms_out), np.concatenate(lists).astype(ENTRY))
            self.conn.execute(
                "UPDATE qabot_terms t SET df = v.df FROM unnest(%s::int[], %s::int[]) "
                "AS v(id, df) WHERE t.id = v.id",
                (part, df),
            )

    def _copy(self, terms: np.ndarray, entries: np.ndarray) -> None:
        """Write lists (``entries`` by ``terms``, then passage; concatenating made them
        native-endian, hence the ``astype`` of callers)."""
        with self.conn.cursor().copy("COPY qabot_lists (term, postings) FROM STDIN BINARY") as copy:
            copy.write(SIGNATURE)
            _copy_lists(copy, terms, entries)
            copy.write(TRAILER)

    def _scan(self, terms: list[int]) -> None:
        """Make the lists of ``terms`` from every passage's stored keys (a read of them all:
        only when the corpus outgrew the limit, or a common key lost most of its passages)."""
        wanted = np.asarray(sorted(terms), dtype=np.int64)
        found = []
        with self.conn.cursor(binary=True) as cur:
            cur.execute("SELECT key, keys, n_keys FROM qabot_passages")
            while rows := cur.fetchmany(_SCAN):
                part = postings(rows, wanted)
                if len(part):
                    found.append(part)
        pairs = np.concatenate(found) if found else np.zeros((0, 4), dtype=np.int64)
        pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
        entries = np.empty(len(pairs), dtype=ENTRY)
        entries["passage"], entries["tf"], entries["dl"] = pairs[:, 0], pairs[:, 2], pairs[:, 3]
        self._copy(pairs[:, 1], entries)
