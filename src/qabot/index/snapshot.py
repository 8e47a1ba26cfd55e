"""One built index: passages, their sentences, both sets of vectors and the BM25 leg.

A snapshot is what a build leaves and what a retriever searches; a store
(:class:`qabot.index.store.SnapshotStore`) keeps it. Passages are :class:`~qabot.chunking.Chunk`
objects keyed by ``chunk.key``; each passage's sentences have vectors of their own, keyed by
:func:`sentence_key`, the one place that scheme is defined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..chunking import Chunk, content_hash, stable_key
from ..encoder import Encoder
from ..errors import REBUILD_HINT, IndexError_
from .legs import LexicalLeg
from .vectors import VectorIndex


def sentence_key(passage_id: str, number: int) -> int:
    """The vector id of sentence ``number`` (0-based) of a passage: stable across builds."""
    return stable_key(f"{passage_id}/s{number}")


def sentence_entries(
    chunks: Iterable[Chunk], sentences: dict[int, list[str]]
) -> dict[int, tuple[str, str]]:
    """Every sentence's vector id → (content hash, text), in passage order."""
    return {
        sentence_key(chunk.id, j): (content_hash(text), text)
        for chunk in chunks
        for j, text in enumerate(sentences.get(chunk.key, []))
    }


@dataclass(eq=False)
class Snapshot:
    """Everything a retriever searches, as one build left it."""

    model: str  # the encoder's model_id: vectors of another model cannot be compared
    dim: int
    chunks: list[Chunk]
    sentences: dict[int, list[str]]  # passage key → its sentences, in order
    passages: VectorIndex  # one vector per passage, under chunk.key
    sentence_vectors: VectorIndex  # one vector per sentence, under sentence_key
    lexical: LexicalLeg
    prompts: dict[str, str] = field(default_factory=dict)  # the encoder's, for the record
    built: str = ""  # ISO time of the build, for the record
    name: str = ""  # the store's name for it, e.g. "gen-000003"; "" until committed
    #: A derived part (BM25) had to be rebuilt on load: worth committing a new snapshot.
    stale: bool = False

    def built_with(self, encoder: Encoder) -> bool:
        """Whether ``encoder``'s vectors are comparable with the stored ones."""
        return self.model == encoder.model_id and self.dim == encoder.dim

    @cached_property
    def by_key(self) -> dict[int, Chunk]:
        return {chunk.key: chunk for chunk in self.chunks}

    def sentence_count(self) -> int:
        return sum(len(s) for s in self.sentences.values())

    def check(self, where: str, passages: int | None = None, sentences: int | None = None) -> None:
        """Raise `IndexError_` unless every part holds the same passages and sentences (and
        as many as a store's own record says, if given)."""
        n_sentences = self.sentence_count()
        if (
            len(self.passages) != len(self.chunks)
            or len(self.lexical) != len(self.chunks)
            or passages not in (None, len(self.chunks))
            or len(self.sentence_vectors) != n_sentences
            or sentences not in (None, n_sentences)
        ):
            raise IndexError_(
                f"index {where} is inconsistent ({len(self.passages)} vectors, "
                f"{len(self.chunks)} passages, {len(self.sentence_vectors)} sentence vectors, "
                f"{n_sentences} sentences)",
                REBUILD_HINT,
            )

    def vectors_by_hash(self) -> tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]:
        """The stored passage and sentence vectors, keyed by the hash of the text they embed,
        so a build can reuse them wherever that text stands now."""
        keys = np.array([c.key for c in self.chunks], dtype=np.int64)
        passage_vecs = self.passages.get(keys)
        by_hash = {c.hash: passage_vecs[i] for i, c in enumerate(self.chunks)}
        entries = sentence_entries(self.chunks, self.sentences)
        sent_vecs = self.sentence_vectors.get(np.fromiter(entries, np.int64, len(entries)))
        sent_by_hash = {h: sent_vecs[i] for i, (h, _) in enumerate(entries.values())}
        return by_hash, sent_by_hash

    # The retriever scores all sentences of its candidates in one product: it needs them as
    # the rows of one matrix, computed once per snapshot.

    def prepare_search(self) -> Snapshot:
        """Compute the sentence matrix now (on load), not during the first question."""
        _ = self.sentence_matrix, self.sentence_owner
        return self

    @cached_property
    def _sentence_layout(self) -> tuple[dict[int, list[int]], list[int]]:
        rows: dict[int, list[int]] = {}
        keys: list[int] = []
        for chunk in self.chunks:
            for j in range(len(self.sentences.get(chunk.key, []))):
                rows.setdefault(chunk.key, []).append(len(keys))
                keys.append(sentence_key(chunk.id, j))
        return rows, keys

    def sentence_vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of these rows of the sentence layout (:attr:`sentence_rows`): a store
        that searches in a database fetches just these instead of holding the matrix."""
        return self.sentence_matrix[rows]

    @property
    def sentence_rows(self) -> dict[int, list[int]]:
        """Passage key → the rows of :attr:`sentence_matrix` holding its sentences."""
        return self._sentence_layout[0]

    @cached_property
    def sentence_matrix(self) -> np.ndarray:
        """Every sentence vector, in passage order (one row per sentence)."""
        return self.sentence_vectors.get(np.array(self._sentence_layout[1], dtype=np.int64))

    @cached_property
    def sentence_owner(self) -> dict[int, int]:
        """Sentence vector id → the key of its passage."""
        rows, keys = self._sentence_layout
        return {keys[r]: passage for passage, rs in rows.items() for r in rs}
