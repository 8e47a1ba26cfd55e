"""Rendering: Telegram limits and HTML rules hold for any text; terminal output is readable."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from botapi import parse_html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qabot import render
from qabot.render import MAX_MESSAGE, RLM, answer_html, telegram_length, terminal_answer
from qabot.results import Answer, ArticleInfo, Passage

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإىة" + "abcXYZ" + "0123456789٠١٢"
SPECIAL = "<>&\"'؟،.!…😀\u202e\u200f"
words = st.text(alphabet=LETTERS + SPECIAL, min_size=1, max_size=25)
separators = st.sampled_from([" ", " ", " ", ". ", "؟ ", "، ", "\n", "  "])


@st.composite
def paragraphs(draw: st.DrawFn, max_words: int = 60) -> str:
    """Text from a few characters to tens of thousands, sometimes with a giant unbroken word."""
    parts = draw(st.lists(st.tuples(words, separators), min_size=1, max_size=max_words))
    text = "".join(w + s for w, s in parts).strip() or "نص"
    text = " ".join([text] * draw(st.sampled_from([1, 1, 20, 200])))
    if draw(st.integers(0, 3)) == 0:
        text += " " + draw(st.sampled_from("&<ب😀a")) * draw(st.integers(1000, 6000))
    return text


@st.composite
def passages(draw: st.DrawFn) -> Passage:
    text = draw(paragraphs())
    start = draw(st.integers(0, len(text) - 1))
    end = draw(st.integers(start + 1, len(text)))
    return Passage(
        id="a#1",
        article="a",
        title=draw(st.none() | words),
        source=draw(st.none() | words),
        url=draw(st.none() | st.just("https://example.com/a?x=1&y=<2>") | words),
        published=draw(st.none() | st.dates()),
        paragraph=draw(st.integers(1, 500)),
        text=text,
        sentence=draw(st.none() | st.just(text[start:end])),
    )


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def check_message(message: str) -> str:
    """Assert Telegram would take ``message``; return its visible text."""
    assert message.strip() and telegram_length(message) <= MAX_MESSAGE
    collector = TagCollector()
    collector.feed(message)
    assert collector.tags <= {"b", "a", "i"}
    return parse_html(message)  # raises on unbalanced tags or unescaped text


def squash(text: str) -> str:
    return "".join(text.replace(RLM, "").split())


slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(st.lists(passages(), min_size=1, max_size=4), st.none() | words)
def test_answers_fit_parse_and_keep_every_word(items: list[Passage], note: str | None) -> None:
    answer = Answer(question="س", passages=items, found=True)
    messages = answer_html(answer, count=len(items), note=note)
    shown = squash("".join(check_message(m) for m in messages))
    position = 0
    for passage in items:  # every passage, whole and in order
        position = shown.index(squash(passage.text), position) + len(squash(passage.text))


@slow
@given(paragraphs())
def test_long_paragraph_split_at_word_boundaries(text: str) -> None:
    messages = answer_html(Answer(question="س", passages=[_passage(text)], found=True))
    pieces = [check_message(m) for m in messages]
    assert squash(text) in squash("".join(pieces))
    if len(messages) > 1 and " " in text and max(map(len, text.split())) < 1000:
        # Nothing is cut inside a word when words are short: the words of the messages, in
        # order, are exactly the paragraph's words (the last message ends with the 📰 line,
        # or is that line alone when the paragraph filled the message before it).
        last = "" if pieces[-1].startswith("📰") else pieces[-1].rsplit("\n📰", 1)[0]
        passage_part = [*pieces[:-1], last]
        shown = [w.replace(RLM, "") for piece in passage_part for w in piece.split()]
        assert [w for w in shown if w] == [w for w in text.replace(RLM, "").split() if w]


@given(st.text(max_size=300))
def test_not_found_escapes_any_question(question: str) -> None:
    text = check_message(render.not_found_html(question))
    assert render.NOT_FOUND in text
    assert " ".join(question.split())[:100] in text


def test_answer_bolds_the_sentence_and_attributes_it() -> None:
    sentence = "وقد تأسست عام 1969 <هنا> & هناك."
    passage = _passage(f"قبل. {sentence} بعد.", sentence=sentence)
    [message] = answer_html(Answer(question="س", passages=[passage], found=True))
    assert "<b>وقد تأسست عام 1969 &lt;هنا&gt; &amp; هناك.</b>" in message
    assert '<a href="https://example.com/x?a=1&amp;b=2">' in message
    assert "تاس، 24 أكتوبر 2022، الفقرة 17" in message
    check_message(message)


def test_lines_starting_left_to_right_get_an_rlm() -> None:
    passage = _passage("Reuters: 57 دولة.", title="TASS report")
    [message] = answer_html(Answer(question="س", passages=[passage], found=True))
    text_line, attribution = message.split("\n")
    assert text_line.startswith(RLM + "Reuters")
    assert attribution.startswith(RLM + "📰")
    [arabic] = answer_html(Answer(question="س", passages=[_passage("نص عربي.")], found=True))
    assert RLM not in arabic


def test_not_found_answer_shows_no_passage() -> None:
    answer = Answer(question="كيف أطبخ؟", passages=[_passage("نص لا علاقة له.")], found=False)
    [message] = answer_html(answer)
    assert render.NOT_FOUND in message and "نص لا علاقة له" not in message


def test_more_results_start_after_the_first_passage() -> None:
    items = [_passage(f"الفقرة رقم {i}.") for i in range(3)]
    [message] = answer_html(Answer(question="س", passages=items, found=True), start=1, count=3)
    assert "رقم 0" not in message and "رقم 1" in message and "رقم 2" in message


def test_sources_and_welcome_list_articles() -> None:
    article = ArticleInfo(
        id="000", title="لافروف & طه", source="تاس", url="https://t.example/a",
        published=date(2022, 10, 24), passages=19,
    )  # fmt: skip
    [sources] = render.sources_html([article])
    assert "لافروف &amp; طه" in sources and "تاس، 24 أكتوبر 2022" in sources
    assert '<a href="https://t.example/a">' in sources
    welcome = render.welcome_html([article], ["متى؟"])
    assert all(check_message(m) for m in welcome)
    assert "• \u2068متى؟\u2069" in welcome[0]  # isolated: English examples keep their order


def test_bad_urls_are_not_linked() -> None:
    for url in ("javascript:alert(1)", "https://x.org/" + "&" * 3000, "not a url"):
        answer = Answer(question="س", passages=[_passage("نص.", url=url)], found=True)
        [message] = answer_html(answer)
        assert "<a " not in message
        check_message(message)


def test_terminal_marks_the_sentence_with_guillemets_or_bold() -> None:
    passage = _passage("قبل. الجملة المهمة. بعد.", sentence="الجملة المهمة.")
    answer = Answer(question="س", passages=[passage], found=True)
    plain = terminal_answer(answer, color=False)
    assert "«الجملة المهمة.»" in plain and "\x1b" not in plain
    assert "تاس، 24 أكتوبر 2022، الفقرة 17" in plain
    assert "https://example.com/x?a=1&b=2" in plain
    assert "\x1b[1mالجملة المهمة.\x1b[0m" in terminal_answer(answer, color=True)


def test_terminal_strips_control_characters_and_marks_ltr_lines() -> None:
    passage = _passage("Evil\x1b[31m text\u202e مقلوب.", sentence=None)
    out = terminal_answer(Answer(question="q", passages=[passage], found=True), color=False)
    assert "\x1b" not in out and "\u202e" not in out
    assert out.startswith(RLM + "Evil[31m text")
    assert re.search(r"^\u200f\s+https://", out, re.M)


def test_terminal_not_found_is_honest() -> None:
    out = terminal_answer(Answer(question="q", passages=[], found=False))
    assert out == render.NOT_FOUND


def _passage(
    text: str,
    *,
    sentence: str | None = None,
    title: str = "لافروف يبحث مع طه",
    url: str = "https://example.com/x?a=1&b=2",
) -> Passage:
    return Passage(
        id="000#17", article="000", title=title, source="تاس", url=url,
        published=date(2022, 10, 24), paragraph=17, text=text, sentence=sentence,
    )  # fmt: skip


def test_long_paragraph_splits_at_sentence_ends() -> None:
    text = " ".join(f"هذه جملة قصيرة رقم {i}." for i in range(600))
    messages = answer_html(Answer(question="س", passages=[_passage(text)], found=True))
    assert len(messages) >= 3
    for message in messages[:-1]:
        assert check_message(message).endswith(".")
    assert squash(text) in squash("".join(map(check_message, messages)))


class HrefCollector(HTMLParser):
    """Every link's target, unescaped as Telegram reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href"]


URLS_TO_ESCAPE = (
    'https://x.org/a?q="quoted"',
    "https://x.org/a?x=1&y=2&amp=3",
    "https://x.org/<script>?a='b'",
    'https://x.org/"><b>bold</b><i>',
)


def test_urls_with_quotes_ampersands_and_angle_brackets_stay_one_valid_link() -> None:
    """An unescaped ``"`` in an href ends the attribute early and Telegram rejects the whole
    answer: every URL must arrive as exactly one link with exactly that target."""
    for url in URLS_TO_ESCAPE:
        answer = Answer(question="س", passages=[_passage("نص.", url=url)], found=True)
        article = ArticleInfo(
            id="000", title="ع", source="تاس", url=url, published=None, passages=1
        )
        for message in [*answer_html(answer), *render.sources_html([article])]:
            check_message(message)
            collector = HrefCollector()
            collector.feed(message)
            assert collector.hrefs == [url], message
            assert '"' not in message.split('href="', 1)[1].split('">', 1)[0]
