"""Chunking never loses or duplicates article text (property-based, with hypothesis).

Articles are generated line by line with a known role for each line: paragraphs,
markdown and plain headings, photo credits, source lines, blank lines. Whatever the
mix, every paragraph comes out exactly once, whole and in order (split into several
passages when long), and nothing that is not a paragraph becomes a passage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qabot.articles import Article
from qabot.chunking import approx_tokens, chunk_article, split_long

# fmt: off
ARABIC = ["منظمة", "التعاون", "الإسلامي", "لافروف", "موسكو", "قمة", "الدول", "الأعضاء",
          "عام", "وزير", "الخارجية", "قازان", "الاقتصادية", "أكبر", "ثاني", "تأسست", "في",
          "مع", "إلى"]
# fmt: on
LATIN = ["Moscow", "OIC", "TASS", "U.S.", "e.g.", "1.6", "2022", "co-operation", "Dr."]
PUNCTUATION = ["", "", "", "،", "؛", ":", ".", "؟", "!", "…", "»", ")"]
END = [".", "؟", "!", "…", ".»", "؟)", "؛", ":"]

word = st.tuples(st.sampled_from(ARABIC + LATIN), st.sampled_from(PUNCTUATION)).map("".join)
words = st.lists(word, min_size=1, max_size=40)


@dataclass(frozen=True)
class Line:
    """One line of a generated article and what it is."""

    kind: str  # "para", "heading", "credit", "source", "blank"
    text: str


@st.composite
def paragraph(draw: st.DrawFn) -> Line:
    """Text that reads as a paragraph: it ends a sentence, or it is too long for a heading."""
    body = " ".join(draw(words))
    if draw(st.booleans()) or len(body.split()) <= 10:
        body = body.rstrip("".join(PUNCTUATION)) + draw(st.sampled_from(END))
    return Line("para", body)


@st.composite
def heading(draw: st.DrawFn) -> Line:
    """A markdown heading, or a short line with no closing punctuation."""
    text = " ".join(draw(st.lists(st.sampled_from(ARABIC), min_size=1, max_size=6)))
    return Line("heading", draw(st.sampled_from([f"# {text}", f"## {text} ##", text])))


credit = st.sampled_from(["الصورة: تاس", "تصوير: أحمد علي", "Photo: Reuters", "المصور : وكالة"])
source = st.sampled_from(["المصدر: تاس", "Source: Reuters", "المصدر : وكالة الأنباء"])
line = st.one_of(
    paragraph(),
    paragraph(),
    heading(),
    credit.map(lambda t: Line("credit", t)),
    source.map(lambda t: Line("source", t)),
    st.sampled_from(["", "   ", "\t"]).map(lambda t: Line("blank", t)),
)
indent = st.sampled_from(["", "", " ", "\t", "  "])


def squash(text: str) -> str:
    return "".join(text.split())


def expected_paragraphs(lines: list[Line]) -> list[str]:
    """The paragraphs that must become passages: all but photo captions, which are short
    paragraphs standing right above a credit line (the one documented exception)."""
    content = [item for item in lines if item.kind != "blank"]
    out = []
    for i, item in enumerate(content):
        after = content[i + 1].kind if i + 1 < len(content) else None
        if item.kind == "para" and not (after == "credit" and len(item.text.split()) <= 25):
            out.append(item.text)
    return out


slow = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(
    st.lists(st.tuples(line, indent), min_size=1, max_size=25),
    st.sampled_from([400, 40, 12]),
)
def test_every_paragraph_becomes_passages_exactly_once_in_order(
    items: list[tuple[Line, str]], max_tokens: int
) -> None:
    lines = [item for item, _ in items]
    body = "\n".join(pad + item.text + pad for item, pad in items)
    chunks = chunk_article(Article(id="a", path=Path("a.txt"), body=body), max_tokens=max_tokens)

    # Passages grouped by paragraph number, in order: each group is one source paragraph.
    groups: dict[int, list[str]] = {}
    for chunk in chunks:
        groups.setdefault(chunk.paragraph, []).append(chunk.text)
    assert list(groups) == list(range(1, len(groups) + 1))
    produced = [squash("".join(parts)) for parts in groups.values()]
    assert produced == [squash(text) for text in expected_paragraphs(lines)]

    assert all(chunk.text.strip() == chunk.text and chunk.text for chunk in chunks)
    assert all(approx_tokens(chunk.text) <= max_tokens for chunk in chunks)  # words fit in 3
    assert len({c.id for c in chunks}) == len({c.key for c in chunks}) == len(chunks)
    headings = {item.text.strip("# ").strip() for item in lines if item.kind == "heading"}
    assert all(chunk.section is None or chunk.section in headings for chunk in chunks)


sentence_text = st.lists(
    st.tuples(word, st.sampled_from([" ", " ", "  ", "\n", ". ", "؟ ", "\t"])), max_size=200
).map(lambda pairs: "".join(w + sep for w, sep in pairs).strip())


@slow
@given(sentence_text, st.integers(3, 120))
def test_split_long_keeps_every_character_and_fits_the_budget(text: str, max_tokens: int) -> None:
    parts = split_long(text, max_tokens, approx_tokens)
    assert squash("".join(parts)) == squash(text)  # equal modulo whitespace
    if squash(text):
        assert all(part.strip() for part in parts)
    # Any single word fits in 3 tokens, so every part fits once the budget allows that.
    assert all(approx_tokens(part) <= max_tokens for part in parts)
