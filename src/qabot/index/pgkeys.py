"""The lexical leg's rows: each passage's keys in its row, each key's posting list in another.

A passage's matching keys (:func:`qabot.arabic.index_keys`) are one ``bytea`` in its
``qabot_passages`` row (:data:`KEY`: key id and count, by key id): the candidates' BM25 and
coverage read those. Every key any passage holds has its posting list, one ``bytea`` row in
``qabot_lists`` (:data:`.pglists.ENTRY`, by passage), and its document frequency is that
list's length. A row per (key, passage) pair, as schema 3 kept them, made the database
~40 B of row header and index per pair: at 1M passages (~300M pairs) well over 20 GB.

A build from scratch spools every (key, passage) pair to scratch files, a part of the keys
to each, then writes each part's lists sorted in memory: what it holds at once is one part.
An edit patches the lists of the keys its passages lose or gain.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO

import numpy as np
import psycopg

from ..arabic import index_keys
from .pglists import ENTRY

#: A passage's keys: key id and its count in the passage, by key id.
KEY = np.dtype([("term", ">i4"), ("tf", ">i2")])
#: A spooled pair of a first build: key id, passage row (in the order analysed), count.
_PAIR = np.dtype([("term", "<i4"), ("row", "<i4"), ("tf", "<i2")])
#: Scratch files a first build spreads its pairs over (by key id): one is sorted at a time.
_PARTS = 32
#: Lists read, patched and written back at a time by an edit.
_PATCH = 500
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


class Writer:
    """The lexical rows of one commit: analyse new passages a block at a time, then write
    the lists (a build from scratch) or patch the touched ones (an edit)."""

    def __init__(self, conn: psycopg.Connection, fresh: bool) -> None:
        self.conn, self.fresh = conn, fresh
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
            self.ids.update(
                zip(
                    missing, range(len(self.ids) + 1, len(self.ids) + 1 + len(missing)), strict=True
                )
            )
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
                order = np.lexsort((passage[pairs["row"]], pairs["term"]))
                pairs = pairs[order]
                entries = np.empty(len(pairs), dtype=ENTRY)
                entries["passage"] = passage[pairs["row"]]
                entries["tf"], entries["dl"] = pairs["tf"], length[pairs["row"]]
                terms = pairs["term"].astype(np.int64)
                del pairs, order
                counts = _copy_lists(copy, terms, entries)
                starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])
                df[terms[starts]] = counts
            copy.write(TRAILER)
        with self.conn.cursor().copy("COPY qabot_terms (id, term, df) FROM STDIN") as copy:
            for term, id_ in self.ids.items():
                copy.write_row((id_, term, int(df[id_])))
        self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('qabot_terms', 'id'), %s, true)",
            (max(len(self.ids), 1),),
        )

    def _patch(self) -> None:
        """Each touched key's list without the passages that lost it, with those that gained
        it, by passage; its document frequency, its length."""
        touched: set[int] = set()
        for ids in self._lost.values():
            touched.update(ids.tolist())
        for terms, _, _ in self._gained.values():
            touched.update(terms.tolist())
        gone = np.asarray(sorted(self._lost.keys() | self._gained.keys()), dtype=np.int64)
        gain = [
            (t, key, tf, dl)
            for key, (terms, tfs, dl) in self._gained.items()
            for t, tf in zip(terms.tolist(), tfs.tolist(), strict=True)
        ]
        added = np.array(gain, dtype=np.int64).reshape(-1, 4)
        order = np.argsort(added[:, 0], kind="stable")
        added = added[order]
        todo = sorted(touched)
        for at in range(0, len(todo), _PATCH):
            part = todo[at : at + _PATCH]
            stored = dict(
                self.conn.execute(
                    "DELETE FROM qabot_lists WHERE term = ANY(%s) RETURNING term, postings",
                    (part,),
                    binary=True,
                ).fetchall()
            )
            terms_out, lists = [], []
            lo = np.searchsorted(added[:, 0], part[0])
            hi = np.searchsorted(added[:, 0], part[-1], side="right")
            mine = added[lo:hi]
            for term in part:
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
            terms = np.concatenate(terms_out)
            entries = np.concatenate(lists).astype(ENTRY)  # concatenate makes it native
            sql = "COPY qabot_lists (term, postings) FROM STDIN BINARY"
            with self.conn.cursor().copy(sql) as copy:
                copy.write(SIGNATURE)
                _copy_lists(copy, terms, entries)
                copy.write(TRAILER)
            df = [len(e) for e in lists]
            self.conn.execute(
                "UPDATE qabot_terms t SET df = v.df FROM unnest(%s::int[], %s::int[]) "
                "AS v(id, df) WHERE t.id = v.id",
                (part, df),
            )
