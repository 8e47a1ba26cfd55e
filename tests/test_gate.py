"""Non-questions are refused and invisible characters vanish, for every front end.

The property tests run against the real retriever over the seed article at the configured
threshold: random Latin/digit/punctuation strings and random Arabic words the article
never uses are refused (≥ 95 %), while every seed test question is still answered.
"""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_retrieval_seed import ARABIC, ENGLISH, REFUSED

from qabot.arabic import INVISIBLE, normalize, sanitize, terms, tokenize
from qabot.articles import parse_article
from qabot.gate import is_link, is_question, sounds_like_question, strip_noise
from qabot.question import prepare_question

INVISIBLES = st.sampled_from([chr(cp) for cp in INVISIBLE])
ARABIC_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


# --------------------------------------------------------------------------- invisible characters


@given(st.text(min_size=1, max_size=40), st.lists(st.tuples(st.integers(0, 40), INVISIBLES)))
def test_invisible_characters_change_no_key(text: str, inserts: list[tuple[int, str]]) -> None:
    """Inserting invisible characters anywhere leaves terms and tokens as they were."""
    dirty = text
    for at, ch in sorted(inserts, reverse=True):
        dirty = dirty[:at] + ch + dirty[at:]
    assert normalize(dirty) == normalize(text)
    clean = sanitize(text)
    assert sanitize(dirty) == sanitize(clean)
    assert terms(sanitize(dirty)) == terms(clean)
    assert not any(chr(cp) in sanitize(dirty) for cp in INVISIBLE)


@given(st.text(alphabet=ARABIC_LETTERS, min_size=2, max_size=12), INVISIBLES)
def test_a_word_split_by_an_invisible_character_is_one_word(word: str, ch: str) -> None:
    dirty = word[:1] + ch + word[1:]
    assert tokenize(dirty) == tokenize(word)
    assert prepare_question(dirty, 100).text == word


def test_article_text_loses_invisible_characters(tmp_path: Any) -> None:
    path = tmp_path / "a.txt"
    path.write_text("---\ntitle: عنوان\n---\n\nتأ\u00adسست المنظ\u200cمة عا\u2060م 1969.\n")
    assert parse_article(path).body.strip() == "تأسست المنظمة عام 1969."


# --------------------------------------------------------------------------- the gate


@pytest.mark.parametrize(
    "text",
    ["asdfgh qwerty", "12345", "3.14 + 2", "https://example.com/news/1", "www.example.com/a",
     "<b></b>", "hello", "OIC", "!!! ???"],
)  # fmt: skip
def test_non_questions_are_not_questions(text: str) -> None:
    cleaned = prepare_question(text, 1000).text
    assert not cleaned or not is_question(cleaned)


@pytest.mark.parametrize(
    "text",
    ["متى تأسست المنظمة؟", "Who did Lavrov meet in Moscow?", "كم عدد أعضاء OIC؟", "لافروف"],
)
def test_questions_are_questions(text: str) -> None:
    assert is_question(prepare_question(text, 1000).text)


def test_latin_words_the_articles_use_count() -> None:
    assert not is_question("Kazan")
    assert is_question("Kazan", known=lambda word: word == "kazan")


def test_links_and_markup_are_stripped() -> None:
    assert strip_noise("ما هو <script>alert(1)</script> &amp; <i>قازان</i> https://t.me/x؟") == (
        "ما هو قازان ؟"
    )
    assert strip_noise("3 < 5 & 7 > 2") == "3 < 5 & 7 > 2"
    assert is_link("https://example.com/a http://b.example/c")
    assert not is_link("اقرأ https://example.com/a")


@pytest.mark.parametrize(
    ("text", "asks"),
    [("شكرًا", False), ("👍", False), ("شكرا جزيلا", False), ("ومتى تأسست؟", True),
     ("كم عدد الدول", True), ("وماذا عن قازان", True), ("thanks", False),
     ("what about Kazan", True), ("أخبرني عن قمة قازان الاقتصادية", True)],
)  # fmt: skip
def test_replies_that_ask_nothing(text: str, asks: bool) -> None:
    assert sounds_like_question(text) is asks


# --------------------------------------------------------------------------- on the seed index


def random_latin(rng: random.Random) -> str:
    """Random Latin/digit/punctuation "words": never a question (also benchmarks/refusals.py)."""
    alphabet = string.ascii_letters + string.digits + string.punctuation
    words = rng.randint(1, 6)
    return " ".join(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(words)
    )


def random_arabic(rng: random.Random, known: set[str]) -> str:
    """Random Arabic words none of whose terms are in ``known`` (the articles' terms)."""
    words: list[str] = []
    while len(words) < rng.randint(1, 6):
        word = "".join(rng.choice(ARABIC_LETTERS) for _ in range(rng.randint(3, 7)))
        if not set(terms(word)) & known:
            words.append(word)
    return " ".join(words) + rng.choice(["", "؟"])


def _refused(retriever: Any, raw: str) -> bool:
    question = prepare_question(raw, 1000)
    return not question.has_words or not retriever.ask(question.text).found


@pytest.mark.slow
def test_random_strings_are_refused_on_the_seed_index(seed_retriever: Any) -> None:
    rng = random.Random(16)
    article = seed_retriever.snapshot.chunks
    known = {t for chunk in article for t in terms(chunk.text)}
    latin = [random_latin(rng) for _ in range(200)]
    arabic = [random_arabic(rng, known) for _ in range(200)]
    refused_latin = sum(_refused(seed_retriever, q) for q in latin) / len(latin)
    refused_arabic = sum(_refused(seed_retriever, q) for q in arabic) / len(arabic)
    assert refused_latin >= 0.95, refused_latin
    assert refused_arabic >= 0.95, refused_arabic
    for question, _ in ARABIC + ENGLISH:
        if question in REFUSED:  # a known, strict-xfail refusal in test_retrieval_seed
            continue
        assert seed_retriever.ask(prepare_question(question, 1000).text).found, question


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(st.sampled_from([q for q, _ in ARABIC]), st.data())
def test_invisible_characters_keep_the_answer(
    seed_retriever: Any, question: str, data: st.DataObject
) -> None:
    """A seed question with invisible characters pasted inside words gets the same answer."""
    at = data.draw(st.lists(st.integers(1, len(question) - 1), min_size=1, max_size=4))
    dirty = question
    for i in sorted(at, reverse=True):
        dirty = dirty[:i] + data.draw(INVISIBLES) + dirty[i:]
    clean = seed_retriever.ask(prepare_question(question, 1000).text)
    pasted = seed_retriever.ask(prepare_question(dirty, 1000).text)
    assert pasted.found and pasted.passages[0].id == clean.passages[0].id
    assert pasted.passages[0].confidence == pytest.approx(clean.passages[0].confidence, abs=1e-3)
