"""Question → ranked passages: dense paragraph + sentence vectors fused with Arabic BM25."""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path

import numpy as np

from . import conversation as conv
from .arabic import is_mostly_arabic
from .bridge import bridged_words
from .config import Settings
from .conversation import DEFAULT_CONTEXT, ContextWeights, History, Reading
from .encoder import Encoder
from .errors import REBUILD_HINT, IndexError_, QuestionError
from .fusion import (
    DEFAULT_WEIGHTS,
    MODES,
    Candidates,
    FusionWeights,
    Mode,
    foreign_words,
    fuse,
    passage_confidence,
    passage_of,
    zscore,
)
from .gate import is_question
from .highlight import answer_cue
from .index.files import FileStore
from .index.legs import LexicalHits
from .index.snapshot import Snapshot, again_if_moved
from .index.store import SnapshotStore, open_store
from .results import Answer, ArticleInfo, Passage

log = logging.getLogger(__name__)

#: Query vectors kept, so an earlier question is not encoded again as a follow-up's context.
_KEEP_VECTORS = 256


class Retriever:
    """Searches the current snapshot of a store; picks up newer ones between questions."""

    def __init__(
        self,
        store: SnapshotStore,
        encoder: Encoder,
        settings: Settings | None = None,
        weights: FusionWeights = DEFAULT_WEIGHTS,
        context: ContextWeights = DEFAULT_CONTEXT,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings or Settings()
        self.weights = weights
        self.context = context
        self._vectors = conv.QueryVectors(_KEEP_VECTORS)
        self._lock = threading.Lock()
        self._rejected: str | None = None
        self._snapshot = self._open()

    @classmethod
    def load(
        cls,
        index_dir: Path | str | None = None,
        settings: Settings | None = None,
        encoder: Encoder | None = None,
    ) -> Retriever:
        """The retriever the settings describe (``index_dir`` overrides their index folder)."""
        settings = settings or Settings()
        if encoder is None:
            from .model import load_encoder

            encoder = load_encoder(settings)
        return cls(open_store(settings, Path(index_dir) if index_dir else None), encoder, settings)

    def _open(self) -> Snapshot:
        snapshot = self.store.load()
        if not snapshot.built_with(self.encoder):
            raise IndexError_(
                f"index {self.store.location} was built with model {snapshot.model} "
                f"(dimension {snapshot.dim}), but the configured model is "
                f"{self.encoder.model_id} (dimension {self.encoder.dim})",
                REBUILD_HINT,
            )
        self._bridge = self.store.load_bridge(self.encoder)  # None: English by dense alone
        return snapshot.prepare_search()

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot questions are answered from now (a newer one may replace it)."""
        return self._snapshot

    @property
    def generation(self) -> str:
        return self._snapshot.name

    @property
    def index_dir(self) -> Path | None:
        """The index folder when the store is one (the default); None otherwise."""
        return self.store.folder if isinstance(self.store, FileStore) else None

    def refresh(self) -> bool:
        """Swap to a newer snapshot if one was committed; a failed load keeps the old one."""
        try:
            name = self.store.current_name()
        except IndexError_:
            return False
        if name is None or name in (self._snapshot.name, self._rejected):
            return False
        with self._lock:
            if name in (self._snapshot.name, self._rejected):
                return False
            try:
                self._snapshot = self._open()
            except Exception as exc:  # keep serving the old index, whatever broke the new one
                self._rejected = name  # and don't re-read it before the next build
                log.warning("keeping index %s: %s is unusable (%s)", self.generation, name, exc)
                return False
        log.info("switched to index %s", self._snapshot.name)
        return True

    def articles(self) -> list[ArticleInfo]:
        return again_if_moved(lambda: self._snapshot.articles(), self.refresh)

    def __len__(self) -> int:
        return len(self._snapshot.chunks)

    def search(
        self,
        question: str,
        k: int = 3,
        mode: Mode = "hybrid",
        vector: np.ndarray | None = None,
        history: History | None = None,
    ) -> list[Passage]:
        """The k best passages, best first, each with its answering sentence and confidence.

        ``history``: the same user's earlier questions (str or :class:`Turn`), oldest first;
        a follow-up that leans on them is searched in their context (qabot.conversation).
        """
        search = partial(self._search, question, k, mode, vector, history)
        return again_if_moved(search, self.refresh)[0]

    def _search(
        self,
        question: str,
        k: int,
        mode: Mode,
        vector: np.ndarray | None,
        history: History | None,
    ) -> tuple[list[Passage], bool, np.ndarray | None]:
        """The passages, whether the conversation's context chose them, the query vector."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        question = " ".join(question.split())
        if not question:
            raise QuestionError("the question is empty")
        snapshot = self._snapshot  # one snapshot for the whole question, even if a swap happens
        if not snapshot.chunks or k <= 0:
            return [], False, vector
        turns = conv.as_turns(history, self.context.turns)
        found_cues = conv.cues(question) if turns else set()
        if not conv.may_depend(found_cues, self.context):
            turns = []  # a complete question: its history can change nothing, not even read
        for turn in turns:  # encoded before, maybe by another replica: not encoded again
            if turn.vector is not None:
                self._vectors.keep(turn.question, conv.unpack_vector(turn.vector))
        if vector is None and mode != "lexical":
            # The question and any earlier question not kept go through the model together:
            # one call, so a cold history costs less than two encodings.
            texts = [question, *(t.question for t in turns)]
            vector = self._vectors.encode(texts, self.encoder)[0]
        elif vector is not None:  # encoded by the caller (in a batch): kept for follow-ups
            self._vectors.keep(question, vector)
        arabic, words = is_mostly_arabic(question), self._bridged(question, mode)
        # BM25 over Arabic keys matches a question in another language only by its bridged words.
        legs: Mode = "dense" if mode == "hybrid" and not arabic and not words else mode
        n = self.weights.candidates if legs != "dense" else 0
        dense = None if legs == "lexical" else vector
        primed = snapshot.for_question([words or question], dense, self.weights.candidates, n)
        lexical = primed.lexical.query(words or question, n)
        found = self._candidates(primed, question, vector, legs, lexical=lexical, words=words)
        if found is None:
            return [], False, vector
        fused = fuse(found, mode, arabic, self.weights)
        order = np.argsort(-fused, kind="stable")[:k]
        if not turns:
            return self._passages(snapshot, found, fused, order, arabic), False, vector
        # The question read in context shares what its own reading found: its lexical query,
        # and its candidates join the pool (no second search with its own vector). Only the
        # reading answered with is turned into passages; the other gives its confidence.
        text = conv.context_text(turns)
        mixed = None
        if vector is not None:
            earlier = self._vectors.mean([t.question for t in turns], self.encoder)
            mixed = conv.mix_vectors(vector, earlier, self.context.vector)
        more = self._candidates(
            snapshot, question, mixed, legs, text, found.keys, lexical, words
        )
        if more is None:
            return self._passages(snapshot, found, fused, order, arabic), False, vector
        scores = zscore(fuse(more, mode, arabic, self.weights))
        if self.context.alone:
            own_z = dict(zip(found.keys.tolist(), zscore(fused).tolist(), strict=True))
            scores = conv.fuse_readings(scores, more.keys.tolist(), own_z, self.context.alone)
        article_of = lambda i: snapshot.by_key[int(more.keys[i])].article  # noqa: E731
        scores = conv.with_prior(scores, more.keys, article_of, turns[-1], self.context, k)
        best = np.argsort(-scores, kind="stable")[:k]
        context = passage_confidence(more, int(best[0]), arabic, self.weights)
        reading = Reading(
            cues=frozenset(found_cues),
            alone=passage_confidence(found, int(order[0]), arabic, self.weights),
            context=context,
            own=float(lexical.coverage(more.keys)[best[0]]),  # scored already: no recount
            arabic=arabic,
            answered=context >= self.settings.min_confidence,
        )
        if conv.depends(reading, self.context):
            return self._passages(snapshot, more, scores, best, arabic), True, vector
        return self._passages(snapshot, found, fused, order, arabic), False, vector

    def _passages(
        self, snapshot: Snapshot, found: Candidates, scores: np.ndarray, order: np.ndarray,
        arabic: bool,
    ) -> list[Passage]:  # fmt: skip
        w = self.weights
        return [passage_of(snapshot, found, int(i), float(scores[i]), arabic, w) for i in order]

    def candidates(
        self, question: str, vector: np.ndarray | None, mode: Mode = "hybrid"
    ) -> Candidates | None:
        """Every leg's scores for the pooled candidates of ``question`` (its ``vector`` given),
        before fusion: what tuning scripts weigh. Keys map to passages via ``snapshot.by_key``."""
        question = " ".join(question.split())
        words = self._bridged(question, mode)
        return self._candidates(self._snapshot, question, vector, mode, words=words)

    def _bridged(self, question: str, mode: Mode) -> str:
        """The Arabic words standing for a non-Arabic question's words (:mod:`.bridge`)."""
        if mode != "hybrid" or is_mostly_arabic(question):
            return ""
        w = self.weights
        return bridged_words(
            self._bridge, question, self.encoder, w.bridge_words, w.bridge_threshold
        )

    def _candidates(
        self,
        snapshot: Snapshot,
        question: str,
        vector: np.ndarray | None,
        mode: Mode,
        context: str | None = None,
        pooled: np.ndarray | None = None,
        lexical: LexicalHits | None = None,
        words: str = "",
    ) -> Candidates | None:
        """Pool the top hits of every leg, then score each candidate on every leg.

        With a ``context`` (earlier questions), their words join BM25 and coverage at the
        context's lower weight, and the question's own candidates (``pooled``) join the pool.
        ``lexical``: the question's BM25 query when the caller made it already. ``words``:
        what BM25 and coverage read instead of the question (:mod:`.bridge`).
        """
        n = self.weights.candidates
        pool: dict[int, None] = {}
        if mode == "lexical":
            vector = None  # BM25 alone: no dense candidates, whatever the caller passed
        # A database fetches at once what this search will ask for (unless the caller did).
        texts = [t for t in (words or question if lexical is None else None, context) if t]
        if texts:
            snapshot = snapshot.for_question(texts, vector, n, n if mode != "dense" else 0)
        if vector is not None:
            for key, _ in snapshot.passages.search(vector, n):
                pool[key] = None
        if pooled is not None:
            pool.update(dict.fromkeys(int(key) for key in pooled))
        if vector is not None:
            for key in snapshot.sentence_passages(vector, n * 2):
                pool[key] = None
        if lexical is None:
            lexical = snapshot.lexical.query(words or question, n if mode != "dense" else 0)
        earlier = snapshot.lexical.query(context, n if mode != "dense" else 0) if context else None
        for key, _ in lexical.hits + (earlier.hits if earlier else []):
            pool[key] = None
        if not pool:
            return None
        keys = np.array(list(pool), dtype=np.int64)
        cos_p = np.zeros(len(keys), dtype=np.float32)
        cos_s = np.zeros(len(keys), dtype=np.float32)
        sims: list[np.ndarray] = []
        if vector is not None:
            cos_p = snapshot.passages.get(keys) @ vector
            # Every chunk has at least one sentence: score them all in one product.
            rows = snapshot.sentence_rows(keys.tolist())
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            flat = snapshot.sentence_vectors.get(np.concatenate(rows)) @ vector
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            cos_s = np.maximum.reduceat(flat, starts)
            sims = np.split(flat, starts[1:])
        bm25 = lexical.scores(keys) if mode != "dense" else np.zeros(len(keys))
        dense = self.weights.dense(cos_p, cos_s)
        coverage, groups = lexical.coverage(keys), lexical.groups
        if earlier is not None:
            w = self.context.words
            if mode != "dense":
                bm25 = conv.mix_lexical(bm25, earlier.scores(keys), w)
            own_total, earlier_total = (sum(g[1] for g in x.groups) for x in (lexical, earlier))
            coverage = conv.mix_coverage(
                coverage, earlier.coverage(keys), own_total, earlier_total, w
            )
            groups = groups + [(terms, w * weight) for terms, weight in earlier.groups]
        foreign = foreign_words(question, snapshot.lexical.knows)
        cue = answer_cue(question)
        return Candidates(
            keys, cos_p, cos_s, dense, sims, bm25, coverage, groups, cue, foreign, bool(words)
        )

    def ask(
        self,
        question: str,
        k: int = 3,
        mode: Mode = "hybrid",
        history: History | None = None,
        vector: np.ndarray | None = None,
    ) -> Answer:
        """Search, then decide honestly whether the articles answer the question at all.

        ``history`` as for :meth:`search`; the answer says whether it used the context.
        ``vector``: the question's query vector when the caller encoded it already (the bot
        encodes the questions that arrive together in one batch, :mod:`qabot.batching`).
        Text that is no question about the articles (gibberish, see :mod:`qabot.gate`) is
        not searched: the dense leg would find *something* for it.
        """
        if not question.strip():
            raise QuestionError("the question is empty")
        if not is_question(question, self._snapshot.lexical.knows):
            return Answer(question=question, passages=[], found=False)
        search = partial(self._search, question, k, mode, vector, history)
        passages, used, vector = again_if_moved(search, self.refresh)
        found = bool(passages) and passages[0].confidence >= self.settings.min_confidence
        answer = Answer(
            question=question,
            passages=passages,
            found=found,
            sentence=passages[0].sentence if found else None,
            context_used=used,
        )
        answer._vector = vector
        return answer
