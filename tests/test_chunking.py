"""Articles → passages on the seed article and on awkward files."""

import os
from pathlib import Path

import pytest

from qabot.articles import parse_article
from qabot.chunking import approx_tokens, chunk_article, split_long
from qabot.errors import ArticleError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
RAW_SEED = ROOT.parent / "shared" / "seeds" / "000_b3e058f4b2c0909a.txt"


def test_seed_front_matter() -> None:
    article = parse_article(SEED)
    assert article.source == "تاس"
    assert str(article.published) == "2022-10-24"
    assert article.title and "لافروف" in article.title


def test_seed_passages_heading_and_metadata() -> None:
    chunks = chunk_article(parse_article(SEED))
    assert len(chunks) == 16
    assert [c.paragraph for c in chunks] == list(range(1, 17))
    assert all(c.section is None for c in chunks[:9])
    assert all(c.section == "التعاون آخذ بالازدياد" for c in chunks[9:])
    texts = [c.text for c in chunks]
    assert "التعاون آخذ بالازدياد" not in texts  # the heading is not a passage
    assert not any(t.startswith(("الصورة:", "المصدر:")) for t in texts)  # credit, source line
    assert not any(t.startswith("مجموعة الرؤية الاستراتيجية") for t in texts)  # the caption
    assert chunks[-1].text.startswith("يُشار إلى أن منظمة التعاون الإسلامي")
    assert len({c.id for c in chunks}) == len({c.key for c in chunks}) == 16


def test_source_line_fills_source_without_front_matter() -> None:
    if not RAW_SEED.exists():  # a checkout without ../shared; CI always has it: fail there
        if os.environ.get("CI"):
            pytest.fail(f"{RAW_SEED} is missing, and CI always provides ../shared")
        pytest.skip(f"{RAW_SEED} not present (fails instead when CI is set)")
    chunks = chunk_article(parse_article(RAW_SEED))
    assert len(chunks) == 16
    assert {c.source for c in chunks} == {"تاس"}


def test_ids_and_hashes_are_stable() -> None:
    a = chunk_article(parse_article(SEED))
    b = chunk_article(parse_article(SEED))
    assert [(c.id, c.key, c.hash) for c in a] == [(c.id, c.key, c.hash) for c in b]


def test_blank_line_paragraphs_and_markdown_heading(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text(
        "---\ntitle: عنوان: مع نقطتين\nurl: https://example.com/x\n---\n\n# قسم أول\n\n"
        "الفقرة الأولى طويلة بما يكفي لتكون فقرة كاملة من النص.\n\n"
        "الفقرة الثانية طويلة أيضا بما يكفي لتكون فقرة كاملة.\n",
        encoding="utf-8",
    )
    article = parse_article(path)
    assert article.title == "عنوان: مع نقطتين"
    chunks = chunk_article(article)
    assert [c.section for c in chunks] == ["قسم أول", "قسم أول"]
    assert chunks[0].url == "https://example.com/x"


def test_long_paragraph_is_split_at_sentences() -> None:
    sentence = "هذه جملة عربية طويلة نسبيا تتكرر كثيرا في هذا الاختبار. "
    text = sentence * 80
    parts = split_long(text.strip(), 100, approx_tokens)
    assert len(parts) > 1
    assert all(approx_tokens(p) <= 100 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00bad", "binary"),
        (b"\xc3\x28 bad", "UTF-8"),
        (b"---\n---\n", "empty"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ArticleError, match=message):
        parse_article(path)
