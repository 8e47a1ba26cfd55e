"""The eval's highlight judgement: does the bold sentence cover the answer's span?"""

from __future__ import annotations

from qabot.evaluate import highlight_hits

TEXT = "تأسست المنظمة عام 1969. وتضم 57 دولة. مقرها في جدة."


def test_sentence_holding_the_answer_is_a_hit() -> None:
    assert highlight_hits(TEXT, "وتضم 57 دولة.", "57 دولة") is True


def test_other_sentence_is_a_miss() -> None:
    assert highlight_hits(TEXT, "مقرها في جدة.", "57 دولة") is False


def test_answer_across_sentences_counts_any_overlap() -> None:
    assert highlight_hits(TEXT, "مقرها في جدة.", "57 دولة. مقرها") is True


def test_any_occurrence_of_a_repeated_answer_counts() -> None:
    text = "زار الوزير جدة. ثم عاد الوزير إلى جدة مساء."
    assert highlight_hits(text, "ثم عاد الوزير إلى جدة مساء.", "جدة") is True


def test_nothing_to_judge_without_answer_in_passage() -> None:
    assert highlight_hits(TEXT, "وتضم 57 دولة.", "الرياض") is None
    assert highlight_hits(TEXT, "وتضم 57 دولة.", None) is None
    assert highlight_hits(TEXT, None, "57 دولة") is None
