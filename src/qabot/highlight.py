"""Which sentence of a passage to show in bold as the answer.

A sentence wins on its dense similarity to the question plus the IDF share of the
question's words it contains. That alone bolds the sentence that *repeats* the question
best, which for "how many …?" or "when …?" is often the one that names the subject, not
the one that holds the number or the date («كم دولة في منظمة التعاون الإسلامي؟» bolded
«… ثاني أكبر منظمة …» instead of «… 57 دولة …»). So the question's answer type counts
too: a question asking for a number or a time gives a bonus to sentences that contain one
(benchmarks/highlight_eval.py measures it on ARCD and on a seed set).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import numpy as np

from .arabic import normalize, terms, tokenize

#: What a question asks for, when its first words say so.
Cue = Literal["number", "time"]

_NUMBER_WORDS = "كم بكم وكم فكم لكم"
_TIME_WORDS = "متى ومتى فمتى when"
#: Two-word openings that ask for a number or a time (normalised, as tokenize gives them).
_TIME_PAIRS = {("what", "year"), ("which", "year"), ("what", "date"), ("اي", "عام"), ("اي", "سنه")}
_NUMBER = frozenset(normalize(w) for w in _NUMBER_WORDS.split())
_TIME = frozenset(normalize(w) for w in _TIME_WORDS.split())

#: Number words a count may be written with instead of digits.
_NUMERAL_WORDS = """
واحد واحدة اثنان اثنين اثنتان ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثمانية
تسع تسعة عشر عشرة عشرون عشرين مئة مائة مئات ألف آلاف الف مليون ملايين مليار مرتين مرة
one two three four five six seven eight nine ten hundred thousand million billion twice
"""
_TIME_WORDS_IN_TEXT = """
يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر
كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين محرم صفر رجب شعبان رمضان شوال
القرن عام سنة
"""
_NUMERALS = frozenset(normalize(w) for w in _NUMERAL_WORDS.split())
_MONTHS = frozenset(normalize(w) for w in _TIME_WORDS_IN_TEXT.split())
_DIGIT_RE = re.compile(r"\d")


def answer_cue(question: str) -> Cue | None:
    """"number" for how-many/how-much questions, "time" for when-questions, else None.

    Only the first three words are read: «كم» or «متى» later in a sentence is rarely what
    it asks.
    """
    tokens = tokenize(question)[:3]
    pairs = set(zip(tokens, tokens[1:], strict=False))
    if any(t in _NUMBER for t in tokens) or ("how" in tokens and {"many", "much"} & set(tokens)):
        return "number"
    if any(t in _TIME for t in tokens) or pairs & _TIME_PAIRS:
        return "time"
    return None


@lru_cache(maxsize=65536)
def _sentence_terms(sentence: str) -> frozenset[str]:
    return frozenset(terms(sentence))


@lru_cache(maxsize=65536)
def _holds(sentence: str, cue: Cue) -> bool:
    """Whether ``sentence`` can answer a question of kind ``cue``: a digit, or a number
    word (for a count) or a month or era word (for a time)."""
    if _DIGIT_RE.search(normalize(sentence)):
        return True
    words = set(tokenize(sentence))
    words |= {w[1:] for w in words if w[:1] in "وبل"}  # «وخمس», «بثلاث»
    return bool(words & (_NUMERALS if cue == "number" else _MONTHS))


def best_sentence(
    sentences: list[str],
    sims: np.ndarray,
    groups: list[tuple[tuple[str, ...], float]],
    lexical: float,
    cue: Cue | None = None,
    cue_weight: float = 0.0,
) -> str:
    """The sentence to highlight: dense similarity, plus ``lexical`` times the IDF share of
    question words in it, plus ``cue_weight`` if it holds what a ``cue`` question asks for."""
    scores = np.asarray(sims, dtype=np.float64).copy()
    if len(scores) != len(sentences):
        return sentences[0]
    total = sum(w for _, w in groups)
    for j, sentence in enumerate(sentences):
        if total > 0:
            keys = _sentence_terms(sentence)
            found = sum(w for group, w in groups if any(t in keys for t in group))
            scores[j] += lexical * found / total
        if cue is not None and _holds(sentence, cue):
            scores[j] += cue_weight
    return sentences[int(scores.argmax())]
