"""Arabic matching keys: normalisation, tokens, stems, stopwords, sentences, sanitising."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qabot.arabic import (
    STOPWORDS,
    is_arabic_token,
    is_mostly_arabic,
    normalize,
    sanitize,
    split_sentences,
    stem,
    term_groups,
    terms,
    token_keys,
    tokenize,
    tokens_keys,
)
from qabot.articles import parse_article

#: The bundled seed article (front matter + the shared seed text, byte for byte).
SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"

# Text biased towards what matters: Arabic letters, marks, digits, punctuation, spaces.
_ALPHABET = st.one_of(
    st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
    st.sampled_from(list(" \n\t.?!؟؛،«»\"'-:1234567890.٫abcZ\u200f\u202b\u2066\u200b\ufeff")),
    st.characters(),
)
arabicish_text = st.text(alphabet=_ALPHABET, max_size=200)


# ------------------------------------------------------------------ normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمن", "امن"),
        ("ٱلله", "الله"),
        ("مسؤول", "مسوول"),
        ("سائل", "سايل"),
        ("مدرسة", "مدرسه"),
        ("مستشفى", "مستشفي"),
        ("مَدْرَسَةٌ", "مدرسه"),  # harakat
        ("رحمٰن", "رحمن"),  # superscript alef
        ("كـــتـــاب", "كتاب"),  # tatweel
        ("٢٠٢٢", "2022"),  # Arabic-Indic digits
        ("۱۴۰۰", "1400"),  # Persian digits
        ("١٫٦", "1.6"),  # Arabic decimal separator
        ("\u202bمرحبا\u202c\u200f", "مرحبا"),  # bidi embedding + RLM
        ("كت\u200bاب\ufeff", "كتاب"),  # zero-width space, BOM
        ("COVID Tass", "covid tass"),
        ("ﻻ", "لا"),  # presentation form, via NFKC
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_does_not_touch_display_text() -> None:
    text = "قالت «الهيئة» إنّ ٢٠٢٢ عامٌ مهمّ."
    copy = str(text)
    normalize(text)
    tokenize(text)
    terms(text)
    split_sentences(text)
    assert text == copy
    # Sentences are display text: marks, hamza and digits kept.
    assert split_sentences(text) == [text]


@given(arabicish_text)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


# ------------------------------------------------------------------ tokenize


def test_tokenize_strips_punctuation_of_both_scripts() -> None:
    text = 'قال: «مرحباً، يا عالم!» هل تعرف "تاس"؟ (نعم) – ١٫٦ مليار؛ COVID-19'
    assert tokenize(text) == [
        "قال",
        "مرحبا",
        "يا",
        "عالم",
        "هل",
        "تعرف",
        "تاس",
        "نعم",
        "1.6",
        "مليار",
        "covid",
        "19",
    ]


def test_tokenize_keeps_decimals_whole() -> None:
    assert tokenize("حوالي 1.6 مليار نسمة.") == ["حوالي", "1.6", "مليار", "نسمه"]


@given(arabicish_text)
def test_tokenize_never_returns_empty_or_spaced_tokens(text: str) -> None:
    for token in tokenize(text):
        assert token
        assert not any(ch.isspace() for ch in token)
        assert token == normalize(token)


# ------------------------------------------------------------------ stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("والكتاب", "كتاب"),
        ("المعلمون", "معلم"),
        ("بالقلم", "قلم"),
        ("للطلاب", "طلاب"),
        ("فالبيت", "بيت"),
        ("كالأسد", "اسد"),
        ("معلماتها", "معلم"),
        ("المدرسة", "مدرس"),
        ("مسلمين", "مسلم"),
        ("وقال", "قال"),
        ("ولد", "ولد"),  # waw prefix only stripped from words of 4+ letters
        ("الم", "الم"),  # article only stripped when 2+ letters remain
        ("بيت", "بيت"),
    ],
)
def test_light_stem_examples(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_stem_keeps_at_least_two_letters() -> None:
    for word in ["ان", "ها", "هاه", "يين", "والي", "اله"]:
        assert len(stem(word)) >= 2


# ------------------------------------------------------------------ stopwords, terms


def test_stopwords_are_normalised_and_cover_questions() -> None:
    for word in ["ما", "ماذا", "من", "متى", "أين", "كيف", "لماذا", "كم", "هل", "أي", "في",
                 "إلى", "عن", "أن", "الذي", "التي", "what", "when", "where", "who", "how",
                 "which", "is", "the", "of"]:  # fmt: skip
        assert normalize(word) in STOPWORDS, word
    assert all(normalize(w) == w for w in STOPWORDS)
    # Folding makes these collide with names/content words, so they must stay searchable.
    assert "علي" not in STOPWORDS  # على / Ali
    assert "ام" not in STOPWORDS  # أم / mother (أم كلثوم)


def test_terms_drop_stopwords_and_keep_both_stems() -> None:
    keys = terms("- في أي المدينة ولد جمال أحمد حمزة خاشقجي؟ ال")
    assert keys[:2] == ["مدين", "مدينه"]  # light stem, then Snowball stem
    assert {"ولد", "جمال", "احمد"} <= set(keys)
    assert not set(keys) & {"في", "اي", "ال"}
    assert terms("ما هو؟ what is the") == []


def test_terms_group_per_token_without_duplicates() -> None:
    for group in term_groups("المعلمون في المدارس الإسلامية يكتبون الكتب"):
        assert 1 <= len(group) <= 2
        assert len(set(group)) == len(group)
    assert terms("المعلمون") == ["معلم"]  # both stemmers agree: one key


def test_many_tokens_keys_are_each_tokens_keys() -> None:
    tokens = tokenize("المدينة في المدينة والكتاب ال مستشفي 1.6 x") + [""]
    keys = tokens_keys(tokens)
    trigrams = ("#_ال", "#الم", "#لمد", "#مدي", "#دين", "#ينه", "#نه_")  # of the token
    assert keys[0] == ("مدين", "مدينه", *trigrams)
    assert keys[1] == () and keys[2] == keys[0]  # a stopword has none; a repeat the same
    assert keys == [token_keys(t) for t in tokens]
    assert keys[-1] == ("", "#__")  # (an empty token, were there one)


def test_terms_match_across_spelling_variants() -> None:
    assert set(terms("المدرسة الإسلامية")) == set(terms("المدرسه الاسلاميه"))
    assert set(terms("مستشفى")) == set(terms("مستشفي"))


# ------------------------------------------------------------------ sentences


def _seed_lines() -> list[str]:
    return [line for line in parse_article(SEED).body.splitlines() if line.strip()]


def test_split_sentences_on_seed_article() -> None:
    text = parse_article(SEED).body
    sentences = split_sentences(text)
    for s in sentences:
        assert s and s == s.strip()
        assert s in text
    # Every line is at least one sentence; lines with two full stops are two sentences.
    assert len(sentences) >= len(_seed_lines())
    sixth = _seed_lines()[5]
    assert split_sentences(sixth) == [
        'وأوضح الدبلوماسي أن الدول الإسلامية لديها خبرة غنية في شكل "العدوان في ليبيا '
        'والعراق" كي لا ترد على مثل هذه الحيل.',
        "ووفقا لعبد اللطيبوف، في ظل الظروف الصعبة، عندما يوجه الغرب عمله ضد روسيا، تبيّن أن "
        "الدول الإسلامية أصبحت شركاء أكثر موثوقية بالنسبة لروسيا.",
    ]
    # A heading line without a terminator is one sentence.
    assert "التعاون آخذ بالازدياد" in sentences


def test_split_sentences_keeps_decimal_together() -> None:
    text = parse_article(SEED).body
    (line,) = [s for s in split_sentences(text) if "1.6" in s]
    assert line.endswith("حوالي 1.6 مليار نسمة.")
    assert line.startswith("وقد تأسست عام 1969")


def test_split_sentences_punctuation_and_abbreviations() -> None:
    assert split_sentences("ما اسمك؟ أنا علي! وأنت؛ من أين أتيت?") == [
        "ما اسمك؟",
        "أنا علي!",
        "وأنت؛",
        "من أين أتيت?",
    ]
    assert split_sentences("قال «هذا صحيح.» ثم ذهب.") == ["قال «هذا صحيح.»", "ثم ذهب."]
    assert split_sentences("Visit the U.S. today. J. K. Rowling wrote it.") == [
        "Visit the U.S. today.",
        "J. K. Rowling wrote it.",
    ]
    assert split_sentences("see qabot.cli or 3.14 now") == ["see qabot.cli or 3.14 now"]
    assert split_sentences("انتهى...ثم بدأ") == ["انتهى...", "ثم بدأ"]
    assert split_sentences("   \n  ") == []
    assert split_sentences("بلا نهاية") == ["بلا نهاية"]


@given(arabicish_text)
def test_split_sentences_never_loses_text(text: str) -> None:
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert re.sub(r"\s", "", "".join(sentences)) == re.sub(r"\s", "", text)
    # Each sentence is found in order in the original.
    pos = 0
    for s in sentences:
        found = text.find(s, pos)
        assert found >= 0
        pos = found + len(s)


# ------------------------------------------------------------------ script, sanitize


def test_is_mostly_arabic() -> None:
    assert is_mostly_arabic("متى تأسست منظمة التعاون الإسلامي؟")
    assert is_mostly_arabic("ما هو فيروس COVID؟")
    assert not is_mostly_arabic("ما هو COVID؟")  # 4 Arabic letters, 5 Latin
    assert not is_mostly_arabic("When was the OIC founded?")
    assert not is_mostly_arabic("Who is لافروف and what did he say?")
    assert not is_mostly_arabic("2022?")


def test_is_arabic_token_is_any_letter_of_the_arabic_blocks() -> None:
    """Every code point, against the definition (a letter in an Arabic Unicode block)."""
    blocks = [(0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF)]
    blocks += [(0xFB50, 0xFDFF), (0xFE70, 0xFEFF)]
    arabic_letters = {
        chr(cp) for first, last in blocks for cp in range(first, last + 1) if chr(cp).isalpha()
    }
    wrong = [
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and is_arabic_token(chr(cp)) != (chr(cp) in arabic_letters)
    ]
    assert wrong == []
    assert is_arabic_token("COVID-١٩ كورونا") and not is_arabic_token("COVID-١٩ ،؟")


def test_sanitize_removes_controls_and_bidi_overrides() -> None:
    evil = "abc\u202edcba\u2066x\u2069\x00\x1b[31m\x7f\u0085 سطر\nثان\tعمود\r"
    assert sanitize(evil) == "abcdcbax[31m سطر\nثان\tعمود"
    assert sanitize("مرحباً بالعالم") == "مرحباً بالعالم"  # marks are display text


@given(st.text())
def test_sanitize_output_has_no_controls(text: str) -> None:
    out = sanitize(text)
    assert all(ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) for ch in out)
    assert not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in out)
    assert sanitize(out) == out
