"""`qabot feed`: RSS and Atom entries become articles once, and unchanged feeds cost little."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import HashEncoder
from newsroom import DESALINATION, FEED_STORY, LIBRARY, OLIVES, Site, serve, site_settings

from qabot.articles import parse_article
from qabot.cli import main
from qabot.config import Settings
from qabot.feeds import load_state, poll, state_path
from qabot.ingest import add_sources


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(slow_seconds=2.0) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return site_settings(tmp_path)


def test_feeds_add_new_entries_once(site: Site, settings: Settings) -> None:
    rss, atom = site.url("/feed.rss"), site.url("/feed.atom")
    # The desalination story was added by hand before it showed up in the feed.
    add_sources([site.url("/news/desalination.html")], settings, encoder=HashEncoder())

    report = poll(settings, [rss, atom], encoder=HashEncoder())
    assert [a.title for a in report.added] == [
        FEED_STORY["title"],
        OLIVES["title"],
        LIBRARY["title"],
    ]
    desalination = report.skipped[0]
    assert desalination.source == site.url("/news/desalination.html")
    assert desalination.reason.startswith("already in the articles as")
    assert [(s.source, s.reason) for s in report.skipped[1:]] == [
        (site.url("/missing"), "HTTP 404 Not Found")
    ]
    # The library entry links to a page that is gone: the text the feed carries is used,
    # with the entry's title, date and author.
    library = parse_article(Path(report.added[2].path))
    assert library.body.strip().split("\n") == LIBRARY["paragraphs"]
    assert library.published is not None and library.published.isoformat() == "2026-10-15"
    assert "author: ليلى حداد" in Path(report.added[2].path).read_text(encoding="utf-8")
    assert report.index is not None and report.index["articles"] == 4

    pages_before = len(site.seen("/news/buses.html"))
    again = poll(settings, [rss, atom], encoder=HashEncoder())
    assert again.added == [] and again.skipped == [] and again.index is None
    # The second poll was conditional, and the feeds answered 304.
    assert site.seen("/feed.rss")[-1].get("If-None-Match") == '"rss-v1"'
    assert site.seen("/feed.atom")[-1].get("If-Modified-Since") == "Thu, 26 Nov 2026 10:00:00 GMT"
    assert len(site.seen("/news/buses.html")) == pages_before

    # Without the validators, the remembered entries still keep the articles out.
    state = load_state(state_path(settings))
    assert len(state[rss].seen) == 3 and len(state[atom].seen) == 2
    state_path(settings).write_text(
        json.dumps({url: {"seen": feed.seen} for url, feed in state.items()}), encoding="utf-8"
    )
    third = poll(settings, [rss, atom], encoder=HashEncoder())
    assert third.added == [] and third.skipped == []
    assert len(site.seen("/news/buses.html")) == pages_before
    assert len(list(settings.articles_dir.iterdir())) == 4


def test_an_entry_that_timed_out_is_tried_again(site: Site, settings: Settings) -> None:
    feed = site.url("/slow-feed.rss")
    first = poll(settings, [feed], encoder=HashEncoder())
    assert [s.reason for s in first.skipped] == ["timed out after 1 s"]
    assert load_state(state_path(settings))[feed].seen == []
    tries = len(site.seen("/slow"))
    poll(settings, [feed], encoder=HashEncoder())
    assert len(site.seen("/slow")) == tries + 1


def test_a_bad_feed_is_skipped_and_the_others_still_read(site: Site, settings: Settings) -> None:
    report = poll(
        settings,
        [site.url("/news/olives.html"), site.url("/missing"), site.url("/feed.atom")],
        encoder=HashEncoder(),
    )
    assert [(s.source, s.reason) for s in report.skipped] == [
        (site.url("/news/olives.html"), "not an RSS or Atom feed"),
        (site.url("/missing"), "HTTP 404 Not Found"),
    ]
    assert [a.title for a in report.added] == [OLIVES["title"], LIBRARY["title"]]


@pytest.mark.slow
def test_qabot_feed_twice_adds_nothing_the_second_time(
    site: Site, tmp_path: Path, encoder, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("QABOT_FETCH_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("QABOT_FEEDS", site.url("/feed.rss"))
    folders = ["--articles", str(tmp_path / "articles"), "--index", str(tmp_path / "index")]
    assert main(["feed", *folders, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    titles = [a["title"] for a in first["added"]]
    assert titles == [DESALINATION["title"], FEED_STORY["title"]]
    assert first["index"]["passages"] == 8
    assert main(["feed", *folders, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["added"], second["skipped"], second["index"]) == ([], [], None)

    assert main(["ask", "كم تبلغ أجرة الحافلة الكهربائية إلى المطار؟", *folders[2:]]) == 0
    answer = capsys.readouterr().out
    assert "دينارا واحدا" in answer.split("\n")[0] and FEED_STORY["title"] in answer
