"""`qabot add`: web pages and files become article files and passages, carefully.

Pages come from the local news site in `newsroom.py` (127.0.0.1 only). Pure-logic tests
use the fake encoder; the end-to-end test at the bottom asks the real model.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes import HashEncoder
from newsroom import DESALINATION, LIBRARY, OLIVES, Site, article_page, serve, site_settings

from qabot.articles import parse_article, split_front_matter
from qabot.cli import main
from qabot.config import Settings
from qabot.errors import SourceError
from qabot.extract import from_html
from qabot.fetch import check_url, decode, fetch
from qabot.ingest import Upload, add_sources
from qabot.retriever import Retriever


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(slow_seconds=3.0, huge_bytes=3_000_000) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return site_settings(tmp_path, fetch_max_bytes=1_000_000)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_batch_adds_the_articles_and_skips_the_rest_with_reasons(
    site: Site, settings: Settings, tmp_path: Path
) -> None:
    bad = {
        "/missing": "HTTP 404",
        "/slow": "timed out after 1 s",
        "/huge": "larger than 1 MB",
        "/loop": "too many redirects",
        "/report.pdf": "not a web page or text (application/pdf)",
        "/section/economy": "no article text",
        "/login": "no article text",
    }
    sources = [site.url("/news/desalination.html"), *(site.url(p) for p in bad)]
    sources += [site.url("/news/olives.html"), site.url("/news/library.html")]
    sources += ["ftp://127.0.0.1/file.txt", str(tmp_path / "absent.html")]
    report = add_sources(sources, settings, encoder=HashEncoder())

    assert [a.title for a in report.added] == [
        DESALINATION["title"],
        OLIVES["title"],
        LIBRARY["title"],
    ]
    reasons = {s.source: s.reason for s in report.skipped}
    for path, reason in bad.items():
        assert reason in reasons[site.url(path)], (path, reasons[site.url(path)])
    assert "only http and https" in reasons["ftp://127.0.0.1/file.txt"]
    assert reasons[str(tmp_path / "absent.html")] == "no such file"

    # Nothing else was written: one file per article, no temporary leftovers.
    assert len(_files(settings.articles_dir)) == 3
    first = report.added[0]
    meta, body = split_front_matter(Path(first.path).read_text(encoding="utf-8"))
    assert meta == {
        "title": DESALINATION["title"],
        "source": "أخبار الواحة",
        "url": site.url("/news/desalination.html"),
        "published": "2026-11-20",
        "author": "سارة الخطيب",
        "lang": "ar",
    }
    # The article only: one paragraph per line, no navigation, sidebar or footer.
    assert body.strip().split("\n") == DESALINATION["paragraphs"]

    # windows-1256 (declared in <meta>) and ISO-8859-6 (declared in the header) read right.
    for added, story in zip(report.added[1:], (OLIVES, LIBRARY), strict=True):
        article = parse_article(Path(added.path))
        assert article.body.strip().split("\n") == story["paragraphs"]
    assert parse_article(Path(report.added[2].path)).published.isoformat() == "2026-10-15"
    assert "author: ليلى حداد" in Path(report.added[2].path).read_text(encoding="utf-8")

    # The index holds the new passages, and the report says how many each article has.
    assert [a.passages for a in report.added] == [5, 3, 3]
    assert report.index is not None and report.index["passages"] == 11
    retriever = Retriever.load(settings=settings, encoder=HashEncoder())
    assert {a.title for a in retriever.articles()} == {a.title for a in report.added}


def test_the_same_page_twice_is_not_duplicated(site: Site, settings: Settings) -> None:
    first = add_sources([site.url("/news/desalination.html")], settings, encoder=HashEncoder())
    assert len(first.added) == 1
    again = add_sources(
        [site.url("/moved"), site.url("/story.txt")], settings, encoder=HashEncoder()
    )
    # /moved redirects to the page with a tracking parameter: same canonical URL, unchanged.
    # /story.txt is the same text under another address.
    assert again.added == []
    assert [s.reason for s in again.skipped] == [
        f"already in the articles as {first.added[0].id}, unchanged",
        f"already in the articles as {first.added[0].id} (same text)",
    ]
    assert again.index is None
    assert len(_files(settings.articles_dir)) == 1
    # What `qabot add` prints without --json.
    lines = first.summary().split("\n")
    assert lines[0] == f"added {first.added[0].id}: {DESALINATION['title']} (5 passages)"
    assert lines[1].startswith("index: 1 articles, 5 passages; 5 embedded in ")
    assert again.summary() == "\n".join(f"skipped {s.source}: {s.reason}" for s in again.skipped)


def test_a_changed_page_updates_its_file(settings: Settings, tmp_path: Path) -> None:
    page = tmp_path / "aqaba.html"
    page.write_text(article_page(DESALINATION, "https://news.example/aqaba"), encoding="utf-8")
    first = add_sources([page], settings, encoder=HashEncoder()).added[0]

    changed = dict(DESALINATION, paragraphs=[*DESALINATION["paragraphs"][:-1]])
    changed["paragraphs"].append("وأعلنت الوزارة أن المحطة الثانية ستقام في ميناء جديد.")
    page.write_text(article_page(changed, "https://news.example/aqaba"), encoding="utf-8")
    report = add_sources([page], settings, encoder=HashEncoder())

    (updated,) = report.added
    assert updated.updated and updated.path == first.path and updated.id == first.id
    assert "ميناء جديد" in Path(updated.path).read_text(encoding="utf-8")
    assert len(_files(settings.articles_dir)) == 1
    assert report.index is not None and report.index["updated"] == 1


def test_uploads_and_local_files(settings: Settings) -> None:
    note = "---\ntitle: مذكرة\nsource: المحرر\n---\n" + "\n".join(LIBRARY["paragraphs"])
    page = article_page(OLIVES, "https://news.example/olives").encode("cp1256", "xmlcharrefreplace")
    report = add_sources(
        [
            Upload("note.md", note.encode()),
            Upload("olives.html", page),
            Upload("scan.pdf", b"%PDF-1.7"),
            Upload("blank.txt", b"  \n\n"),
        ],
        settings,
        encoder=HashEncoder(),
    )
    assert [(a.id, a.title) for a in report.added] == [
        ("note", "مذكرة"),
        ("olives", OLIVES["title"]),
    ]
    assert [s.reason for s in report.skipped] == [
        "unsupported file type .pdf; use .html, .txt or .md",
        "empty text",
    ]
    assert parse_article(settings.articles_dir / "note.md").source == "المحرر"

    # Uploads called "note" and "story" with other text get new ids, not clashes with
    # note.md and story.txt; a text with nothing but a heading-like line is refused.
    (settings.articles_dir / "story.txt").write_text(OLIVES["paragraphs"][0], encoding="utf-8")
    again = add_sources(
        [Upload("note.txt", "هذا نص آخر تماما عن موضوع مختلف كليا، كتبه المحرر.".encode()),
         Upload("story.md", OLIVES["paragraphs"][1].encode()),
         Upload("title.txt", "عنوان بلا نص".encode())],
        settings,
        encoder=HashEncoder(),
    )  # fmt: skip
    assert [a.id[:5] for a in again.added] == ["note-", "story"]
    assert [a.id for a in again.added if a.id in ("note", "story")] == []
    assert [s.reason for s in again.skipped] == [
        "no paragraph to index (only headings or captions)"
    ]
    assert again.index is not None and again.index["skipped"] == []
    assert again.index["articles"] == 5


def test_private_addresses_are_refused_unless_allowed(site: Site, tmp_path: Path) -> None:
    strict = Settings(articles_dir=tmp_path / "a", index_dir=tmp_path / "i")
    before = len(site.requests)
    report = add_sources([site.url("/news/olives.html")], strict, encoder=HashEncoder())
    (skipped,) = report.skipped
    assert "private or local address (127.0.0.1); refused" in skipped.reason
    assert len(site.requests) == before  # refused before any connection
    assert report.added == [] and report.index is None and not any((tmp_path / "a").iterdir())
    for url in ("http://10.1.2.3/", "http://[::1]:8080/", "http://169.254.169.254/latest"):
        with pytest.raises(SourceError, match="private or local"):
            check_url(url, allow_private=False)
    check_url("https://8.8.8.8/news", allow_private=False)  # a public address passes


def test_a_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    """Every hop is checked: a public page may not bounce the fetch into the local network."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/admin"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError, match="private or local"):
        fetch("http://93.184.216.34/story", Settings(), client=client)
    assert asked == ["http://93.184.216.34/story"]


def test_a_failed_write_leaves_nothing_and_the_batch_goes_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    calls = []

    def disk_full_once(src: Path, dst: Path) -> None:
        calls.append(dst)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full_once)
    report = add_sources(
        [Upload("one.txt", "\n".join(OLIVES["paragraphs"]).encode()),
         Upload("two.txt", "\n".join(LIBRARY["paragraphs"]).encode())],
        settings,
        encoder=HashEncoder(),
    )  # fmt: skip
    assert [s.reason for s in report.skipped] == [
        "cannot write the article (No space left on device)"
    ]
    assert [a.id for a in report.added] == ["two"]
    assert _files(settings.articles_dir) == ["two.md"]


def test_charset_from_header_then_meta_then_detection() -> None:
    text = "\n".join(OLIVES["paragraphs"])
    for codec in ("cp1256", "iso-8859-6"):
        assert decode(text.encode(codec)) == text  # nothing declared: detected
    # Two short words are too little to detect: the declarations are what make them right.
    word = "سلام"
    assert decode(word.encode("iso-8859-6")) != word
    assert decode(word.encode("iso-8859-6"), "ISO-8859-6") == word
    assert decode(b'<meta charset="windows-1256">' + word.encode("cp1256")).endswith(word)
    http_equiv = b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-6">'
    assert decode(http_equiv + word.encode("iso-8859-6")).endswith(word)
    assert decode(text.encode("utf-8"), "no-such-charset") == text


def test_extraction_keeps_headings_and_drops_the_byline_prefix() -> None:
    story = dict(LIBRARY, paragraphs=[*LIBRARY["paragraphs"]])
    page = article_page(story, "https://news.example/library?utm_source=x", og=False)
    page = page.replace("<p>وتضم", "<h2>كنوز المكتبة</h2>\n<p>وتضم")
    article = from_html(page)
    assert article.text.split("\n")[1] == "## كنوز المكتبة"
    assert article.author == "ليلى حداد"
    assert article.url == "https://news.example/library"
    assert article.source == "news.example"


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_add_then_ask_answers_with_title_url_and_date(
    site: Site, tmp_path: Path, encoder, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("QABOT_FETCH_ALLOW_PRIVATE", "1")
    folders = ["--articles", str(tmp_path / "articles"), "--index", str(tmp_path / "index")]
    url = site.url("/news/desalination.html")
    assert main(["add", url, site.url("/missing"), *folders, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == [
        {
            "id": out["added"][0]["id"],
            "path": str(tmp_path / "articles" / (out["added"][0]["id"] + ".md")),
            "title": DESALINATION["title"],
            "url": url,
            "published": "2026-11-20",
            "passages": 5,
            "updated": False,
        }
    ]
    assert out["skipped"] == [{"source": site.url("/missing"), "reason": "HTTP 404 Not Found"}]
    assert out["index"]["passages"] == 5 and out["index"]["embedded"] == 5

    index = ["--index", str(tmp_path / "index")]
    assert main(["ask", "كم تبلغ الطاقة الإنتاجية لمحطة التحلية في العقبة؟", *index]) == 0
    answer = capsys.readouterr().out
    assert "مئة وخمسين ألف متر مكعب" in answer.split("\n")[0]
    assert DESALINATION["title"] in answer
    assert "20 نوفمبر 2026" in answer
    assert url in answer

    assert main(["ask", "من فاز بكأس العالم لكرة القدم عام 1966؟", *index]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("ما كلفة مشروع محطة التحلية؟\n/exit\n"))
    assert main(["chat", *index]) == 0
    assert "أربعمئة مليون دولار" in capsys.readouterr().out
    assert main(["stats", "--json", *index]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["questions"], stats["answered"]) == (3, 2)
    unanswered = [u["question"] for u in stats["unanswered"]]
    assert unanswered == ["من فاز بكأس العالم لكرة القدم عام 1966؟"]
