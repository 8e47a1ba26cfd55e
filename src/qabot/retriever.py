"""Question → ranked passages: dense paragraph + sentence vectors fused with Arabic BM25."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .arabic import is_mostly_arabic, terms
from .config import Settings
from .encoder import Encoder
from .errors import REBUILD_HINT, IndexError_, QuestionError
from .results import Answer, ArticleInfo, Passage
from .store import Generation, current_name, read_generation, sentence_key

log = logging.getLogger(__name__)

#: Weights chosen on ARCD (see README, "Retrieval quality"); the names say what they mix.
PARAGRAPH_WEIGHT = 0.6  # dense score = w·cos(paragraph) + (1-w)·max cos(sentence)
LEXICAL_WEIGHT = 0.4  # fused = (1-w)·z(dense) + w·z(BM25) + c·z(coverage), Arabic only
COVERAGE_WEIGHT = 0.2  # c: BM25 rewards repeats, coverage rewards matching more question words
CANDIDATES = 50
MODES = ("hybrid", "dense", "lexical")
SENTENCE_LEXICAL = 0.3  # weight of question-word overlap when picking the highlight
#: Logistic calibration of P(answer is in the articles), on ARCD half-corpus folds: Arabic by
#: benchmarks/tune_retrieval.py; English (dense only, slope fitted) by benchmarks/english_eval.py,
#: with the bias set so that the default threshold 0.23 keeps ~95 % of answerable questions.
CONF_ARABIC = (59.86, 3.58, -53.07)  # dense, coverage, bias
CONF_OTHER = (32.39, 0.0, -25.84)  # dense only: at 0.23 the boundary is dense 0.7605


class _State:
    """A loaded generation plus the in-memory sentence matrix the scorer needs."""

    def __init__(self, gen: Generation) -> None:
        self.gen = gen
        rows: dict[int, list[int]] = {}
        keys: list[int] = []
        for chunk in gen.chunks:
            for j in range(len(gen.sentences.get(chunk.key, []))):
                rows.setdefault(chunk.key, []).append(len(keys))
                keys.append(sentence_key(chunk.id, j))
        self.sentence_rows = rows
        self.sentence_matrix = gen.sentence_vectors.get(np.array(keys, dtype=np.int64))
        self.sentence_owner = {k: c for c, rs in rows.items() for k in (keys[r] for r in rs)}


def _zscore(values: np.ndarray) -> np.ndarray:
    std = float(values.std())
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


@dataclass
class Candidates:
    """Every leg's score for each pooled candidate passage (row i = keys[i])."""

    keys: np.ndarray
    cos_p: np.ndarray
    cos_s: np.ndarray
    sentence_sims: list[np.ndarray]
    bm25: np.ndarray
    coverage: np.ndarray
    groups: list[tuple[tuple[str, ...], float]]  # the question's weighted content words

    @property
    def dense(self) -> np.ndarray:
        return PARAGRAPH_WEIGHT * self.cos_p + (1 - PARAGRAPH_WEIGHT) * self.cos_s


def fuse(found: Candidates, mode: str, arabic: bool) -> np.ndarray:
    """One score per candidate; BM25 joins only for Arabic questions, which it can match."""
    w = LEXICAL_WEIGHT
    if mode == "lexical":
        return found.bm25.astype(np.float64)
    if mode == "dense" or not arabic:
        return found.dense.astype(np.float64)
    return (
        (1 - w) * _zscore(found.dense)
        + w * _zscore(found.bm25)
        + COVERAGE_WEIGHT * _zscore(found.coverage)
    )


def confidence_of(dense: float, coverage: float, arabic: bool) -> float:
    """Calibrated P(the articles answer this), from the top passage's dense score and coverage."""
    a, b, c = CONF_ARABIC if arabic else CONF_OTHER
    return round(_sigmoid(a * dense + b * coverage + c), 4)


@lru_cache(maxsize=65536)
def _sentence_terms(sentence: str) -> frozenset[str]:
    return frozenset(terms(sentence))


def best_sentence(
    sentences: list[str], sims: np.ndarray, groups: list[tuple[tuple[str, ...], float]]
) -> str:
    """The sentence to highlight: dense similarity plus the IDF share of question words in it."""
    scores = np.asarray(sims, dtype=np.float64).copy()
    total = sum(w for _, w in groups)
    if total > 0 and len(scores) == len(sentences):
        for j, sentence in enumerate(sentences):
            keys = _sentence_terms(sentence)
            found = sum(w for group, w in groups if any(t in keys for t in group))
            scores[j] += SENTENCE_LEXICAL * found / total
    return sentences[int(scores.argmax())] if len(scores) == len(sentences) else sentences[0]


class Retriever:
    """Searches one index folder; picks up newer generations between questions."""

    def __init__(self, index_dir: Path, settings: Settings, encoder: Encoder) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self.encoder = encoder
        self._lock = threading.Lock()
        self._rejected: str | None = None
        self._state = self._load()

    @classmethod
    def load(
        cls,
        index_dir: Path | str | None = None,
        settings: Settings | None = None,
        encoder: Encoder | None = None,
    ) -> Retriever:
        settings = settings or Settings()
        if encoder is None:
            from .model import load_encoder

            encoder = load_encoder(settings)
        return cls(Path(index_dir) if index_dir else settings.index_dir, settings, encoder)

    def _load(self) -> _State:
        gen = read_generation(self.index_dir)
        model, dim = gen.manifest.get("model"), gen.manifest.get("dim")
        if model != self.encoder.model_id or dim != self.encoder.dim:
            raise IndexError_(
                f"index {self.index_dir} was built with model {model} (dimension {dim}), "
                f"but the configured model is {self.encoder.model_id} "
                f"(dimension {self.encoder.dim})",
                REBUILD_HINT,
            )
        return _State(gen)

    @property
    def generation(self) -> str:
        return self._state.gen.name

    def refresh(self) -> bool:
        """Swap to a newer generation if one was written; a failed load keeps the old one."""
        try:
            name = current_name(self.index_dir)
        except IndexError_:
            return False
        if name is None or name in (self._state.gen.name, self._rejected):
            return False
        with self._lock:
            if name in (self._state.gen.name, self._rejected):
                return False
            try:
                self._state = self._load()
            except Exception as exc:  # keep serving the old index, whatever broke the new one
                self._rejected = name  # and don't re-read it before the next build
                log.warning("keeping index %s: %s is unusable (%s)", self.generation, name, exc)
                return False
        log.info("switched to index %s", self._state.gen.name)
        return True

    def articles(self) -> list[ArticleInfo]:
        infos: dict[str, ArticleInfo] = {}
        for chunk in self._state.gen.chunks:
            info = infos.get(chunk.article)
            if info is None:
                infos[chunk.article] = ArticleInfo(
                    **chunk.metadata(), id=chunk.article, passages=1
                )
            else:
                info.passages += 1
        return list(infos.values())

    def __len__(self) -> int:
        return len(self._state.gen.chunks)

    def search(
        self, question: str, k: int = 3, mode: str = "hybrid", vector: np.ndarray | None = None
    ) -> list[Passage]:
        """The k best passages, best first, each with its answering sentence and confidence."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        question = " ".join(question.split())
        if not question:
            raise QuestionError("the question is empty")
        state = self._state  # one generation for the whole question, even if a swap happens
        if not state.gen.chunks or k <= 0:
            return []
        if vector is None and mode != "lexical":
            vector = self.encoder.encode_queries([question])[0]
        arabic = is_mostly_arabic(question)
        # BM25 over Arabic keys cannot match a question in another language: skip the leg.
        legs = "dense" if mode == "hybrid" and not arabic else mode
        found = self.candidates(state, question, vector, legs)
        if found is None:
            return []
        fused = fuse(found, mode, arabic)
        order = np.argsort(-fused, kind="stable")[:k]
        return [self._passage(state, found, int(i), float(fused[i]), arabic) for i in order]

    def candidates(
        self, state: _State, question: str, vector: np.ndarray | None, mode: str = "hybrid"
    ) -> Candidates | None:
        """Pool the top hits of every leg, then score each candidate on every leg."""
        gen = state.gen
        pool: dict[int, None] = {}
        if mode == "lexical":
            vector = None  # BM25 alone: no dense candidates, whatever the caller passed
        if vector is not None:
            for key, _ in gen.passages.search(vector, CANDIDATES):
                pool[key] = None
            for skey, _ in gen.sentence_vectors.search(vector, CANDIDATES * 2):
                if skey in state.sentence_owner:
                    pool[state.sentence_owner[skey]] = None
        lexical = gen.lexical.query(question, CANDIDATES if mode != "dense" else 0)
        for key, _ in lexical.hits:
            pool[key] = None
        if not pool:
            return None
        keys = np.array(list(pool), dtype=np.int64)
        cos_p = np.zeros(len(keys), dtype=np.float32)
        cos_s = np.zeros(len(keys), dtype=np.float32)
        sims: list[np.ndarray] = []
        if vector is not None:
            cos_p = gen.passages.get(keys) @ vector
            # Every chunk has at least one sentence: score them all in one product.
            rows = [state.sentence_rows[key] for key in keys.tolist()]
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            flat = state.sentence_matrix[np.concatenate(rows)] @ vector
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            cos_s = np.maximum.reduceat(flat, starts)
            sims = np.split(flat, starts[1:])
        bm25 = lexical.scores(keys) if mode != "dense" else np.zeros(len(keys))
        return Candidates(keys, cos_p, cos_s, sims, bm25, lexical.coverage(keys), lexical.groups)

    def _passage(
        self,
        state: _State,
        found: Candidates,
        i: int,
        score: float,
        arabic: bool,
    ) -> Passage:
        key = int(found.keys[i])
        chunk = state.gen.by_key[key]
        sentences = state.gen.sentences.get(key, [])
        sims = found.sentence_sims[i] if found.sentence_sims else np.zeros(len(sentences))
        sentence = best_sentence(sentences, sims, found.groups) if sentences else None
        confidence = confidence_of(float(found.dense[i]), float(found.coverage[i]), arabic)
        return Passage(
            **chunk.metadata(),
            id=chunk.id,
            article=chunk.article,
            paragraph=chunk.paragraph,
            section=chunk.section,
            text=chunk.text,
            score=score,
            confidence=confidence,
            sentence=sentence,
        )

    def ask(self, question: str, k: int = 3, mode: str = "hybrid") -> Answer:
        """Search, then decide honestly whether the articles answer the question at all."""
        passages = self.search(question, k=k, mode=mode)
        found = bool(passages) and passages[0].confidence >= self.settings.min_confidence
        return Answer(
            question=question,
            passages=passages,
            found=found,
            sentence=passages[0].sentence if found else None,
        )
