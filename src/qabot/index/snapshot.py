"""One built index: passages, their sentences, both sets of vectors and the BM25 leg.

A snapshot is what a build leaves and what a retriever searches; a store
(:class:`qabot.index.store.SnapshotStore`) keeps it. Passages are :class:`~qabot.chunking.Chunk`
objects keyed by ``chunk.key``. Sentence vectors are kept once per distinct sentence text
(news repeats boilerplate, archives repeat whole paragraphs): :func:`sentence_layout` is the
one place that says which vector each sentence uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from ..articles import ArticleMeta
from ..chunking import Chunk
from ..encoder import Encoder
from ..errors import REBUILD_HINT, IndexError_
from ..results import ArticleInfo
from .legs import LexicalLeg
from .passages import PassageTable
from .vectors import VectorIndex


class SnapshotMoved(Exception):
    """The store moved on to a newer generation while a reader was reading its snapshot (a
    database reader reads passages per question): load the new one and ask again."""


#: Times a read starts again on a newer snapshot committed while it was read.
MOVES = 3
T = TypeVar("T")


def again_if_moved(read: Callable[[], T], reload: Callable[[], object]) -> T:
    """``read()``, done again after ``reload()`` (which swaps to the store's newer snapshot)
    each time the store moved on under it (:class:`SnapshotMoved`), at most :data:`MOVES`."""
    for _ in range(MOVES):
        try:
            return read()
        except SnapshotMoved:
            reload()
    return read()


def sentence_layout(
    chunks: Sequence[Chunk], sentences: Mapping[int, list[str]]
) -> tuple[list[str], np.ndarray]:
    """The sentence-id scheme: a sentence's vector id is the number of its text among the
    distinct sentence texts, numbered in order of first appearance, passage after passage.

    Returns those texts (id order) and the vector id of every sentence, passage after passage.
    """
    number: dict[str, int] = {}
    ids = [number.setdefault(s, len(number)) for c in chunks for s in sentences.get(c.key, [])]
    return list(number), np.asarray(ids, dtype=np.int64)


@dataclass(eq=False)
class Snapshot:
    """Everything a retriever searches, as one build left it."""

    model: str  # the encoder's model_id: vectors of another model cannot be compared
    dim: int
    chunks: Sequence[Chunk]  # a list, a PassageTable, or a database reader's lazy sequence
    sentences: Mapping[int, list[str]]  # passage key → its sentences, in order
    passages: VectorIndex  # one vector per passage, under chunk.key
    sentence_vectors: VectorIndex  # one vector per distinct sentence text, under its id
    lexical: LexicalLeg
    prompts: dict[str, str] = field(default_factory=dict)  # the encoder's, for the record
    built: str = ""  # ISO time of the build, for the record
    name: str = ""  # the store's name for it, e.g. "gen-000003"; "" until committed
    #: A derived part (BM25) had to be rebuilt on load: worth committing a new snapshot.
    stale: bool = False
    #: Every sentence's vector id, passage after passage (:func:`sentence_layout`); a store
    #: that kept them passes them in, else they are computed.
    sentence_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.sentence_ids) == 0 and self.chunks:
            self.sentence_ids = sentence_layout(self.chunks, self.sentences)[1]

    def built_with(self, encoder: Encoder) -> bool:
        """Whether ``encoder``'s vectors are comparable with the stored ones."""
        return self.model == encoder.model_id and self.dim == encoder.dim

    @cached_property
    def by_key(self) -> Mapping[int, Chunk]:
        if isinstance(self.chunks, PassageTable):
            return _ByKey(self.chunks)
        return {chunk.key: chunk for chunk in self.chunks}

    def articles(self) -> list[ArticleInfo]:
        """Every article and its number of passages, in order of first appearance."""
        if isinstance(self.chunks, PassageTable):  # a million passages: no Chunk built
            return [
                ArticleInfo(
                    **{f: m[f] for f in ArticleMeta.model_fields}, id=m["article"], passages=n
                )
                for m, n in self.chunks.article_counts()
            ]
        infos: dict[str, ArticleInfo] = {}
        for chunk in self.chunks:
            info = infos.get(chunk.article)
            if info is None:
                infos[chunk.article] = ArticleInfo(**chunk.metadata(), id=chunk.article, passages=1)
            else:
                info.passages += 1
        return list(infos.values())

    def sentence_count(self) -> int:
        return len(self.sentence_ids)

    def check(self, where: str, passages: int | None = None, sentences: int | None = None) -> None:
        """Raise `IndexError_` unless every part holds the same passages and sentences (and
        as many as a store's own record says, if given)."""
        n_sentences = int(self._counts.sum())
        distinct = int(self.sentence_ids.max()) + 1 if len(self.sentence_ids) else 0
        if (
            len(self.passages) != len(self.chunks)
            or len(self.lexical) != len(self.chunks)
            or passages not in (None, len(self.chunks))
            or len(self.sentence_ids) != n_sentences
            or sentences not in (None, n_sentences)
            or len(self.sentence_vectors) != distinct
            or (len(self.sentence_ids) and int(self.sentence_ids.min()) < 0)
        ):
            raise IndexError_(
                f"index {where} is inconsistent ({len(self.passages)} vectors, "
                f"{len(self.chunks)} passages, {len(self.sentence_vectors)} sentence vectors, "
                f"{n_sentences} sentences)",
                REBUILD_HINT,
            )

    def passage_hashes(self) -> dict[int, str]:
        """Passage key → the hash of its text (read from a table without building passages)."""
        if isinstance(self.chunks, PassageTable):
            return dict(zip(self._keys.tolist(), self.chunks.hashes(), strict=True))
        return {c.key: c.hash for c in self.chunks}

    def vectors_by_hash(self) -> Mapping[str, np.ndarray]:
        """The stored passage vectors, keyed by the hash of the text they embed, so a build
        can reuse them wherever that text stands now; each read when asked for (a million
        passages' vectors are 3 GB, and an edit reuses a handful)."""
        return _VectorsByHash({h: k for k, h in self.passage_hashes().items()}, self.passages)

    def stored_sentence_ids(self, texts: Sequence[str]) -> np.ndarray:
        """The id of the stored vector of each of the distinct ``texts`` (-1 where none is
        stored), found in one pass over the stored sentences: no table of the stored texts
        is built (four million sentences at a million passages)."""
        wanted = {t: i for i, t in enumerate(texts)}
        out = np.full(len(texts), -1, dtype=np.int64)
        if isinstance(self.chunks, PassageTable):
            table = self.chunks
            stored: Iterator[str] = (s for i in range(len(table)) for s in table.sentences_at(i))
        else:
            stored = (s for key in self._keys.tolist() for s in self.sentences.get(key, []))
        get = wanted.get
        for text, sid in zip(stored, self.sentence_ids.tolist(), strict=True):
            i = get(text)
            if i is not None:
                out[i] = sid
        return out

    def sentence_ids_by_text(self) -> dict[str, int]:
        """Sentence text → the id of its stored vector, so a build can reuse it."""
        if isinstance(self.chunks, PassageTable):
            table = self.chunks
            texts: Iterator[str] = (s for i in range(len(table)) for s in table.sentences_at(i))
        else:
            texts = (s for key in self._keys.tolist() for s in self.sentences.get(key, []))
        return dict(zip(texts, self.sentence_ids.tolist(), strict=True))

    # The retriever scores all sentences of its candidates in one product, and turns the
    # best sentences of the whole index into candidate passages: both need the layout as
    # arrays, computed once per snapshot.

    def prepare_search(self) -> Snapshot:
        """Compute the sentence layout now (on load), not during the first question."""
        _ = self._starts, self.by_key
        if not getattr(self.passages, "approximate", False):  # else sentence_passages is off
            _ = self._owners
        if isinstance(self.chunks, PassageTable):
            self.chunks.position(0)
        return self

    @cached_property
    def _counts(self) -> np.ndarray:
        if isinstance(self.chunks, PassageTable):
            return self.chunks.sentence_counts()
        counts = (len(self.sentences.get(c.key, [])) for c in self.chunks)
        return np.fromiter(counts, dtype=np.int64, count=len(self.chunks))

    @cached_property
    def _starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self._counts))).astype(np.int64)

    @cached_property
    def _position(self) -> dict[int, int]:
        return {c.key: i for i, c in enumerate(self.chunks)}

    def sentence_rows(self, keys: Sequence[int]) -> list[np.ndarray]:
        """The vector ids of each passage's sentences (rows of :attr:`sentence_vectors`)."""
        starts, ids = self._starts, self.sentence_ids
        if isinstance(self.chunks, PassageTable):
            rows = self.chunks.positions(np.asarray(keys, dtype=np.int64)).tolist()
        else:
            rows = [self._position[int(key)] for key in keys]
        return [ids[starts[i] : starts[i + 1]] for i in rows]

    @cached_property
    def _owners(self) -> tuple[np.ndarray, np.ndarray]:
        """Sentence id → the passages (keys, in passage order) that contain that text, as
        (keys, offsets) in CSR form."""
        passage = np.repeat(np.arange(len(self.chunks), dtype=np.int64), self._counts)
        order = np.argsort(self.sentence_ids, kind="stable")
        keys = self._keys[passage[order]]
        ends = np.cumsum(np.bincount(self.sentence_ids, minlength=len(self.sentence_vectors)))
        return keys, np.concatenate(([0], ends)).astype(np.int64)

    @cached_property
    def _keys(self) -> np.ndarray:
        if isinstance(self.chunks, PassageTable):
            return np.asarray(self.chunks.keys)
        return np.fromiter((c.key for c in self.chunks), dtype=np.int64, count=len(self.chunks))

    def sentence_passages(self, vector: np.ndarray, k: int) -> list[int]:
        """The passages of the ``k`` sentences most similar to ``vector``, best first (a text
        that several passages share counts once for each of them).

        None once the passage vectors are approximate (past ``QABOT_ANN_THRESHOLD``): an
        exact search over every sentence would then cost more than the rest of a question
        (4M sentences at 1M passages), and sentences are still scored inside the passages
        the other legs find. Measured (benchmarks/sentence_leg.py): dropping these hits
        moves ARCD R@1 0.7849 → 0.7864 and MRR@10 0.8645 → 0.8652, so no index is kept.
        """
        if getattr(self.passages, "approximate", False):
            return []
        out: list[int] = []
        for sid, _ in self.sentence_vectors.search(vector, k):
            out.extend(self.holders(sid)[: k - len(out)].tolist())
            if len(out) >= k:
                break
        return out

    def holders(self, sid: int) -> np.ndarray:
        """The keys of the passages holding sentence vector ``sid``'s text, in passage order."""
        keys, offsets = self._owners
        return keys[offsets[sid] : offsets[sid + 1]]

    def for_question(
        self,
        texts: Sequence[str],
        vector: np.ndarray | None,
        n: int,
        lexical_k: int,
    ) -> Snapshot:
        """The snapshot to gather one question's candidates from: the retriever says what it
        will search (``n`` hits of ``vector``, ``lexical_k`` BM25 hits of each
        of ``texts``), so a database store can fetch it all at once. Here: itself."""
        return self


class _ByKey(Mapping[int, Chunk]):
    """Passage key → passage, built from a table on access."""

    def __init__(self, table: PassageTable) -> None:
        self._table = table

    def __getitem__(self, key: int) -> Chunk:
        i = self._table.position(key)
        if i is None:
            raise KeyError(key)
        return self._table[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self._table.keys.tolist())

    def __len__(self) -> int:
        return len(self._table)


class _VectorsByHash(Mapping[str, np.ndarray]):
    """Text hash → the stored vector of a passage with that text, read on access."""

    def __init__(self, keys: dict[str, int], vectors: VectorIndex) -> None:
        self._keys = keys
        self._vectors = vectors

    def __getitem__(self, text_hash: str) -> np.ndarray:
        return self._vectors.get(np.array([self._keys[text_hash]], np.int64))[0]

    def __contains__(self, text_hash: object) -> bool:
        return text_hash in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
