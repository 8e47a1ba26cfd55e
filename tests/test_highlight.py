"""The highlighted sentence: answer-type cues (qabot.highlight), and on the seed article."""

from __future__ import annotations

import numpy as np
import pytest

from qabot.highlight import answer_cue, best_sentence
from qabot.retriever import Retriever


@pytest.mark.parametrize(
    ("question", "cue"),
    [
        ("كم دولة في المنظمة؟", "number"),
        ("وكم عدد سكانها؟", "number"),
        ("How many members does it have?", "number"),
        ("how much did it cost?", "number"),
        ("متى تأسست المنظمة؟", "time"),
        ("When was it founded?", "time"),
        ("In which year was it founded?", "time"),
        ("في أي عام تأسست؟", "time"),
        ("من يرأس المجموعة؟", None),
        ("What is the capital?", None),
        ("ما هي المنظمة التي تضم كم دولة؟", None),  # only the opening words say what is asked
    ],
)
def test_answer_cue(question: str, cue: str | None) -> None:
    assert answer_cue(question) == cue


SENTENCES = [
    "المنظمة هي ثاني أكبر منظمة دولية بعد الأمم المتحدة.",
    "وهي تضم في عضويتها حالياً 57 دولة.",
]
GROUPS = [(("منظم",), 1.0), (("عضويت",), 1.0)]


def test_a_number_question_prefers_the_sentence_with_a_number() -> None:
    sims = np.array([0.92, 0.84])  # the first repeats the question best
    assert best_sentence(SENTENCES, sims, GROUPS, 0.3) == SENTENCES[0]  # no cue: similarity
    assert best_sentence(SENTENCES, sims, GROUPS, 0.3, "number", 0.1) == SENTENCES[1]
    # A time question asks for a date: 57 is a digit too, so it wins here as well.
    assert best_sentence(SENTENCES, sims, GROUPS, 0.3, "time", 0.1) == SENTENCES[1]


def test_number_words_count_as_numbers_and_the_cue_does_not_overrule_a_clear_winner() -> None:
    words = ["فاز الفريق بالكأس خمس مرات.", "الفريق من أشهر الأندية."]
    assert best_sentence(words, np.array([0.80, 0.85]), [], 0.3, "number", 0.1) == words[0]
    assert best_sentence(SENTENCES, np.array([0.95, 0.80]), [], 0.3, "number", 0.1) == (
        SENTENCES[0]
    )


def test_how_many_member_states_bolds_the_sentence_with_57(seed_retriever: Retriever) -> None:
    """Issue 16: «ثاني أكبر منظمة…» was bolded instead of the sentence with «57 دولة»."""
    answer = seed_retriever.ask("كم دولة في منظمة التعاون الإسلامي؟")
    assert answer.found and answer.passages[0].paragraph == 16
    assert answer.sentence and "57 دولة" in answer.sentence
    answer = seed_retriever.ask("متى تأسست منظمة التعاون الإسلامي؟")
    assert answer.sentence and "1969" in answer.sentence
