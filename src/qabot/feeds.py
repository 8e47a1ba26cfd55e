"""RSS and Atom feeds → new articles, remembering what was already seen.

Each poll asks the feed server with ``If-None-Match``/``If-Modified-Since`` so an
unchanged feed costs one short request; each entry's page is fetched and extracted like
``qabot add`` does, and an entry whose page cannot be read falls back to the text the
feed itself carries. What was seen is kept in ``feeds.json`` beside the index; an entry
that failed for a passing reason (a timeout) is tried again next time.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from .articles import ArticleMeta
from .config import Settings
from .encoder import Encoder
from .errors import SourceError
from .extract import Extracted, from_html
from .fetch import FEED_TYPES, HTML_TYPES, TEXT_TYPES, fetch, new_client
from .fsio import write_atomic
from .ingest import (
    AddReport,
    Corpus,
    Skipped,
    add_one,
    ingest_lock,
    read_source,
    update_index,
)

log = logging.getLogger(__name__)

STATE_FILE = "feeds.json"
#: Entry ids remembered per feed; a feed lists far fewer, so nothing seen comes back.
MAX_SEEN = 2000


class FeedState(BaseModel):
    """What the last poll of one feed learned: its validators and the entries seen."""

    etag: str | None = None
    modified: str | None = None
    seen: list[str] = []


def state_path(settings: Settings) -> Path:
    return settings.index_dir / STATE_FILE


def load_state(path: Path) -> dict[str, FeedState]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s); feeds start afresh", path, exc)
        return {}
    return {url: FeedState.model_validate(value) for url, value in raw.items()}


def save_state(path: Path, state: dict[str, FeedState]) -> None:
    data = {url: feed.model_dump() for url, feed in state.items()}
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1))


def _entry_date(entry: Any) -> date | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return date(*parsed[:3]) if parsed else None


def _from_entry(entry: Any, defaults: ArticleMeta) -> Extracted | None:
    """The article text the feed carries itself (``content:encoded``, Atom content)."""
    parts = [c.get("value", "") for c in entry.get("content", [])] or [entry.get("summary", "")]
    content = "\n".join(part for part in parts if part)
    if not content:
        return None
    title = html.escape(defaults.title or "")
    page = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    try:
        return from_html(f"{page}{content}</article></body></html>", defaults=defaults)
    except SourceError:
        return None


def _add_entry(
    entry: Any,
    feed_title: str | None,
    corpus: Corpus,
    settings: Settings,
    report: AddReport,
    client: httpx.Client,
) -> SourceError | None:
    link = entry.get("link")
    defaults = ArticleMeta(
        title=entry.get("title") or None,
        source=feed_title,
        url=link,
        published=_entry_date(entry),
    )
    name = link or entry.get("id") or defaults.title or "?"
    try:
        if not link:
            raise SourceError("the entry has no link")
        article = read_source(link, settings, client, defaults=defaults)
    except SourceError as exc:
        fallback = _from_entry(entry, defaults)
        if fallback is None:
            report.skipped.append(Skipped(source=name, reason=exc.message))
            return exc
        article = fallback
    if not article.author and entry.get("author"):
        article = article.model_copy(update={"author": entry.get("author")})
    return add_one(name, corpus, settings, report, article=article)


def _poll_feed(
    url: str,
    feed: FeedState,
    corpus: Corpus,
    settings: Settings,
    report: AddReport,
    client: httpx.Client,
) -> None:
    import feedparser

    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.modified:
        headers["If-Modified-Since"] = feed.modified
    try:
        page = fetch(
            url,
            settings,
            accept=FEED_TYPES | HTML_TYPES | TEXT_TYPES,
            headers=headers,
            client=client,
        )
    except SourceError as exc:
        report.skipped.append(Skipped(source=url, reason=exc.message))
        return
    if page.not_modified:
        log.info("%s: not modified", url)
        return
    parsed = feedparser.parse(page.body, response_headers={"content-type": page.content_type})
    if not parsed.entries and (parsed.bozo or not parsed.version):
        report.skipped.append(Skipped(source=url, reason="not an RSS or Atom feed"))
        return
    seen = set(feed.seen)
    feed_title = parsed.feed.get("title") or None
    for entry in parsed.entries:
        key = entry.get("id") or entry.get("link") or entry.get("title")
        if not key or key in seen:
            continue
        error = _add_entry(entry, feed_title, corpus, settings, report, client)
        if error is None or not error.transient:
            seen.add(key)
            feed.seen.append(key)
    feed.seen = feed.seen[-MAX_SEEN:]
    feed.etag, feed.modified = page.etag, page.last_modified


def poll(
    settings: Settings,
    urls: Sequence[str] | None = None,
    *,
    encoder: Encoder | None = None,
    index: bool = True,
) -> AddReport:
    """Add the entries of ``urls`` (default ``QABOT_FEEDS``) not seen before, then index once.

    Holds the ingestion lock, so the bot's job, its /add and ``qabot feed`` never add the
    same story twice.
    """
    urls = list(urls if urls is not None else settings.feeds)
    report = AddReport()
    path = state_path(settings)
    with ingest_lock(settings):
        state = load_state(path)
        corpus = Corpus(settings.articles_dir)
        with new_client(settings) as client:
            for url in urls:
                _poll_feed(
                    url, state.setdefault(url, FeedState()), corpus, settings, report, client
                )
        save_state(path, state)
    return update_index(report, settings, encoder) if index else report
