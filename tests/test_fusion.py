"""Fusion of the legs: pure arithmetic on given scores, no model."""

from __future__ import annotations

import numpy as np

from qabot.fusion import Candidates, fuse


def candidates(dense: list[float], bm25: list[float], coverage: list[float]) -> Candidates:
    n = len(dense)
    d = np.array(dense, dtype=np.float32)
    return Candidates(
        keys=np.arange(n, dtype=np.int64),
        cos_p=d,
        cos_s=d,
        dense=d,
        sentence_sims=[d[i : i + 1] for i in range(n)],
        bm25=np.array(bm25),
        coverage=np.array(coverage),
        groups=[],
    )


def test_coverage_breaks_a_tie_between_siblings() -> None:
    """Same dense and BM25 scores: the passage with more of the question's words wins."""
    found = candidates([0.8, 0.8, 0.7], [20.0, 20.0, 5.0], [0.5, 0.9, 0.2])
    assert np.argmax(fuse(found, "hybrid", arabic=True)) == 1


def test_coverage_does_not_outvote_both_legs() -> None:
    """Coverage weighs less than either leg: it cannot lift a passage both legs rank lower."""
    found = candidates([0.85, 0.80, 0.6, 0.6], [30.0, 20.0, 2.0, 1.0], [0.6, 1.0, 0.1, 0.1])
    assert np.argmax(fuse(found, "hybrid", arabic=True)) == 0


def test_non_arabic_questions_and_single_legs_ignore_lexical_features() -> None:
    found = candidates([0.8, 0.79, 0.5], [1.0, 30.0, 0.0], [0.1, 1.0, 0.0])
    assert np.argmax(fuse(found, "hybrid", arabic=False)) == 0  # dense alone
    assert np.argmax(fuse(found, "dense", arabic=True)) == 0
    assert fuse(found, "lexical", arabic=True).tolist() == [1.0, 30.0, 0.0]
