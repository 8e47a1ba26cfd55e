"""A snapshot's passages kept column-wise: compact on disk, memory-mapped, built on access.

Loading a million passages as one object each (a JSON line, a pydantic model) costs seconds
before the first question. Here the texts are one UTF-8 blob, the attribution of each article
is stored once, and a :class:`~qabot.chunking.Chunk` is built only when a question (or a
build) asks for that passage. A passage's sentences are character spans of its text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..chunking import Chunk

#: The per-article fields, stored once per distinct combination and referenced by number.
_META = ("article", "title", "source", "url", "published", "lang")
_ARRAYS = ("keys", "ids", "id_ends", "meta", "paragraphs", "sections", "text_ix", "text",
           "text_ends", "hashes", "hash_ends", "spans", "span_ends")  # fmt: skip


def _blob(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array plus the end offset of each."""
    encoded = [s.encode("utf-8") for s in strings]
    ends = np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


def _spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    """Each sentence's (start, end) in ``text``: sentences are substrings, in order."""
    out, at = [], 0
    for sentence in sentences:
        start = text.find(sentence, at)
        if start < 0:
            raise ValueError(f"sentence {sentence[:40]!r} is not in its passage's text")
        at = start + len(sentence)
        out.append((start, at))
    return out


class PassageTable(Sequence[Chunk]):
    """The passages of one snapshot, in order, with their sentences."""

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: list[dict[str, Any]],
                 sections: list[str | None]) -> None:  # fmt: skip
        self._a = dict(arrays)
        self._meta = [m | {"published": _date(m.get("published"))} for m in meta]
        self._sections = sections
        self.keys: np.ndarray = self._a["keys"]

    # ------------------------------------------------------------------ construction

    @classmethod
    def of(cls, chunks: Sequence[Chunk], sentences: Mapping[int, list[str]]) -> PassageTable:
        """The table of ``chunks`` and their ``sentences`` (passage key → its sentences)."""
        if isinstance(chunks, PassageTable) and sentences is chunks.sentences:
            return chunks
        meta_of: dict[tuple[Any, ...], int] = {}
        section_of: dict[str | None, int] = {}
        text_of: dict[str, int] = {}  # archives repeat paragraphs: each text is kept once
        meta_ix, section_ix, text_ix, spans, counts = [], [], [], [], []
        for chunk in chunks:
            fields = tuple(getattr(chunk, f) for f in _META)
            meta_ix.append(meta_of.setdefault(fields, len(meta_of)))
            section_ix.append(section_of.setdefault(chunk.section, len(section_of)))
            text_ix.append(text_of.setdefault(chunk.text, len(text_of)))
            own = _spans(chunk.text, sentences.get(chunk.key, []))
            spans.extend(own)
            counts.append(len(own))
        ids, id_ends = _blob([c.id for c in chunks])
        text, text_ends = _blob(list(text_of))
        hashes, hash_ends = _blob([c.hash for c in chunks])
        arrays = {
            "keys": np.fromiter((c.key for c in chunks), np.int64, len(chunks)),
            "ids": ids,
            "id_ends": id_ends,
            "meta": np.asarray(meta_ix, dtype=np.int32),
            "paragraphs": np.fromiter((c.paragraph for c in chunks), np.int32, len(chunks)),
            "sections": np.asarray(section_ix, dtype=np.int32),
            "text_ix": np.asarray(text_ix, dtype=np.int32),
            "text": text,
            "text_ends": text_ends,
            "hashes": hashes,
            "hash_ends": hash_ends,
            "spans": np.asarray(spans, dtype=np.int32).reshape(-1, 2),
            "span_ends": np.cumsum(np.asarray(counts, dtype=np.int64), dtype=np.int64),
        }
        meta = [
            dict(zip(_META, (str(v) if isinstance(v, date) else v for v in fields), strict=True))
            for fields in meta_of
        ]
        return cls(arrays, meta, list(section_of))

    def save(self, folder: Path) -> None:
        """One ``.npy`` per column (so a reader can memory-map them) and a small JSON."""
        folder.mkdir()
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", self._a[name], allow_pickle=False)
        meta = [m | {"published": str(m["published"]) if m["published"] else None}
                for m in self._meta]  # fmt: skip
        tables = {"meta": meta, "sections": self._sections}
        (folder / "tables.json").write_text(json.dumps(tables, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> PassageTable:
        """Memory-map what :meth:`save` wrote; ValueError/OSError if anything is off."""
        tables = json.loads((folder / "tables.json").read_text(encoding="utf-8"))
        # Plain views of the mapped files: indexing a np.memmap costs ~2 µs more a call.
        arrays = {n: np.asarray(np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False))
                  for n in _ARRAYS}  # fmt: skip
        table = cls(arrays, list(tables["meta"]), list(tables["sections"]))
        table.validate()
        return table

    def validate(self) -> None:
        """Check that the columns agree with each other (a damaged file raises ValueError)."""
        a, n = self._a, len(self._a["keys"])
        lengths = {a[c].shape[0] for c in ("id_ends", "meta", "paragraphs", "sections",
                                           "text_ix", "hash_ends", "span_ends")}  # fmt: skip
        ok = (
            lengths <= {n}
            and (n == 0 or (a["id_ends"][-1] == len(a["ids"])
                            and a["text_ends"][-1] == len(a["text"])
                            and a["hash_ends"][-1] == len(a["hashes"])
                            and a["span_ends"][-1] == len(a["spans"])))
            and (n == 0 or int(a["meta"].max()) < len(self._meta))
            and (n == 0 or 0 <= int(a["text_ix"].min()) <= int(a["text_ix"].max())
                 < len(a["text_ends"]))
            and (n == 0 or int(a["sections"].max()) < len(self._sections))
        )  # fmt: skip
        if not ok:
            raise ValueError("passage columns disagree")

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        a = self._a
        return Chunk.model_construct(
            **self._meta[int(a["meta"][i])],
            id=_cut(a["ids"], a["id_ends"], i),
            key=int(self.keys[i]),
            paragraph=int(a["paragraphs"][i]),
            section=self._sections[int(a["sections"][i])],
            text=_cut(a["text"], a["text_ends"], int(a["text_ix"][i])),
            hash=_cut(a["hashes"], a["hash_ends"], i),
        )

    def __iter__(self) -> Iterator[Chunk]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    @cached_property
    def _order(self) -> np.ndarray:
        return np.argsort(self.keys, kind="stable")

    def position(self, key: int) -> int | None:
        """The row of the passage with ``key``, or None."""
        order = self._order
        at = int(np.searchsorted(self.keys, key, sorter=order))
        if at < len(order) and self.keys[order[at]] == key:
            return int(order[at])
        return None

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """The rows of the passages with ``keys`` (all of which must be known), in one go."""
        order = self._order
        at = np.minimum(np.searchsorted(self.keys, keys, sorter=order), len(order) - 1)
        rows = order[at]
        if len(keys) and not np.array_equal(self.keys[rows], keys):
            raise KeyError("unknown passage key")
        return rows

    def sentences_at(self, i: int) -> list[str]:
        """The sentences of passage ``i``, in order."""
        a = self._a
        text = _cut(a["text"], a["text_ends"], int(a["text_ix"][i]))
        first = int(a["span_ends"][i - 1]) if i else 0
        return [text[s:e] for s, e in a["spans"][first : int(a["span_ends"][i])].tolist()]

    def article_counts(self) -> list[tuple[dict[str, Any], int]]:
        """Each article's metadata (``article`` included) and its number of passages, in
        order of first appearance: what `/sources` lists, without building every passage."""
        meta = np.asarray(self._a["meta"])
        counts = np.bincount(meta, minlength=len(self._meta))
        _, first = np.unique(meta, return_index=True)
        fields: dict[str, dict[str, Any]] = {}  # an article's first metadata
        total: dict[str, int] = {}
        for m in meta[np.sort(first)].tolist():  # one row per stored metadata combination
            article = self._meta[m]["article"]
            fields.setdefault(article, self._meta[m])
            total[article] = total.get(article, 0) + int(counts[m])
        return [(fields[article], n) for article, n in total.items()]

    def hashes(self) -> list[str]:
        """Every passage's text hash, in order, without building the passages."""
        a = self._a
        blob = bytes(a["hashes"]).decode("ascii")  # hex digests: one byte per character
        ends = a["hash_ends"].tolist()
        return [blob[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]

    def sentence_counts(self) -> np.ndarray:
        """How many sentences each passage has."""
        return np.diff(self._a["span_ends"], prepend=0)

    @cached_property
    def sentences(self) -> Sentences:
        return Sentences(self)


def _cut(blob: np.ndarray, ends: np.ndarray, i: int) -> str:
    start = int(ends[i - 1]) if i else 0
    return bytes(blob[start : int(ends[i])]).decode("utf-8")


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


class Sentences(Mapping[int, list[str]]):
    """Passage key → its sentences, read from a :class:`PassageTable` on access."""

    def __init__(self, table: PassageTable) -> None:
        self._table = table

    def __getitem__(self, key: int) -> list[str]:
        i = self._table.position(key)
        if i is None:
            raise KeyError(key)
        return self._table.sentences_at(i)

    def __iter__(self) -> Iterator[int]:
        return iter(self._table.keys.tolist())

    def __len__(self) -> int:
        return len(self._table)
