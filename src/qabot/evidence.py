"""How much of a question a passage's words answer, on scales that do not move with the corpus.

Abstention needs to tell "the best passage matches the question" from "the best passage is
merely the least bad". A BM25 z-score over the candidates tells them apart on a large corpus
but not on a small one: over one article every candidate is on topic, so a good match stands
only a deviation or two above the others, and the seed article's answerable questions were
refused (benchmarks/README.md, issue 15 round three). These two features are shares, read
the same over one article or thousands (benchmarks/abstention_invariant.py):

- :func:`bm25_share`: the passage's BM25 over the BM25 of an ideal passage (every key of the
  question once, at average length);
- :func:`sentence_share`: the IDF share of the question's words inside its best *sentence*:
  an answer's words meet in one sentence, a near-topic passage's are spread over several.

And one ranking signal, :func:`answer_shares`: for a question that asks for a number or a
time (:func:`qabot.highlight.answer_cue`), the share of its words in a sentence that holds
one. Most of ARCD's misses put another paragraph of the right article first; the one whose
sentence both matches the question and holds what it asks for should win
(benchmarks/passage_signals.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .highlight import Cue, holds, sentence_terms

#: A question's content words, each as its keys, with their IDF (``LexicalQuery.groups``).
Groups = list[tuple[tuple[str, ...], float]]


@runtime_checkable
class _Ceiling(Protocol):
    def ceiling(self) -> float: ...


def ceiling_of(hits: object) -> float:
    """The BM25 an ideal passage would get for a question's BM25 ``hits``; 0 for a leg that
    cannot say (the PostgreSQL store, for now: it keeps the plain calibration)."""
    return hits.ceiling() if isinstance(hits, _Ceiling) else 0.0


def bm25_share(score: float, ceiling: float) -> float:
    """``score`` as a share of the question's BM25 ``ceiling``; 0 when there is none."""
    return score / ceiling if ceiling > 0 else 0.0


def sentence_share(groups: Groups, sentences: Sequence[str]) -> float:
    """The largest IDF share of the question's words that one of ``sentences`` contains."""
    total = sum(w for _, w in groups)
    if total <= 0:
        return 0.0
    best = 0.0
    for sentence in sentences:
        keys = sentence_terms(sentence)
        best = max(best, sum(w for group, w in groups if any(t in keys for t in group)))
    return best / total


def answer_shares(
    groups: Groups, cue: Cue | None, sentences: Sequence[Sequence[str]]
) -> np.ndarray | None:
    """Per passage (its ``sentences``), the largest IDF share of the question's words in one
    sentence that holds what the ``cue`` asks for; None for a question without a cue."""
    if cue is None:
        return None
    return np.array([sentence_share(groups, [s for s in ss if holds(s, cue)]) for ss in sentences])
