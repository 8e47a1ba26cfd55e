"""Mostly Arabic questions with Latin words inside (issue 16): «كم عدد أعضاء OIC؟».

They keep the Arabic legs whatever Latin tokens they contain; Latin words the articles
contain count like any other word; Latin words the articles never use (an acronym, a
name) are carried by the cross-lingual dense leg alone, so the question is judged by the
better of the Arabic and the English calibration (qabot.fusion.passage_confidence).
"""

from __future__ import annotations

import numpy as np

from qabot.arabic import is_mostly_arabic
from qabot.fusion import Candidates, foreign_words, passage_confidence
from qabot.index.lexical import LexicalIndex
from qabot.retriever import Retriever

TEXTS = ["تأسست منظمة NATO عام 1949 في واشنطن", "مدينة قازان عاصمة تتارستان"]


def test_only_latin_words_the_articles_lack_are_foreign() -> None:
    index = LexicalIndex.build([1, 2], TEXTS)
    question = "متى تأسست NATO و OIC؟"
    assert is_mostly_arabic(question)
    assert foreign_words(question, index.knows) == 1  # OIC; NATO is in the articles
    groups = [g for g, _ in index.weighted_groups(question)]
    assert ("nato",) in groups  # a known Latin word counts in coverage
    assert ("oic",) not in groups  # an unknown one says nothing against the articles
    assert foreign_words("متى تأسست منظمة؟", index.knows) == 0


def _found(dense: float, coverage: float, foreign: int) -> Candidates:
    d = np.array([dense], dtype=np.float32)
    return Candidates(np.arange(1), d, d, d, [d], np.zeros(1), np.array([coverage]), [],
                      None, foreign)  # fmt: skip


def test_a_foreign_word_makes_the_better_calibration_count() -> None:
    arabic_only = passage_confidence(_found(0.80, 0.5, 0), 0, True)
    mixed = passage_confidence(_found(0.80, 0.5, 1), 0, True)
    english = passage_confidence(_found(0.80, 0.5, 0), 0, False)
    assert arabic_only < 0.23 < english
    assert mixed == max(arabic_only, english)
    # A question that is not mostly Arabic is judged as before, foreign words or not.
    assert passage_confidence(_found(0.80, 0.5, 2), 0, False) == english


def test_mixed_question_with_an_acronym_is_answered(seed_retriever: Retriever) -> None:
    """«كم عدد أعضاء OIC؟»: the seed article never writes OIC; it was refused (0.03)."""
    answer = seed_retriever.ask("كم عدد أعضاء OIC؟")
    assert answer.found and answer.passages[0].paragraph == 16
    assert answer.sentence and "57" in answer.sentence
    found = seed_retriever.candidates("كم عدد أعضاء OIC؟", None)
    assert found is not None and found.bm25.max() > 0  # the Arabic legs still take part
    assert found.foreign == 1
