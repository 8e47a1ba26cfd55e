"""Pages, files and uploads → Markdown article files → the index, incrementally.

The corpus stays plain files: each source becomes ``articles/<name>.md`` with front
matter (title, source, url, published, author, lang), so an editor can read, fix or
delete it like a hand-made article. The same canonical URL or the same text is never
added twice; a page whose text changed updates its own file. Files are written whole
(temporary file, then rename), so a failure never leaves half an article behind.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock
from pydantic import BaseModel

from .articles import (
    ARTICLE_SUFFIXES,
    Article,
    ArticleError,
    ArticleMeta,
    parse_article,
    read_articles,
)
from .chunking import chunk_article
from .config import Settings
from .encoder import Encoder
from .errors import SourceError
from .extract import Extracted, from_html, from_text
from .fetch import HTML_TYPES, decode, fetch, new_client
from .fsio import write_atomic

log = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")
TEXT_SUFFIXES = (".txt", ".md")
_FIELDS = ("title", "source", "url", "published", "author", "lang")


@dataclass(frozen=True)
class Upload:
    """A file that arrived as bytes (a Telegram document), not as a path."""

    name: str
    data: bytes


Source = str | Path | Upload


class Added(BaseModel):
    """An article written (or rewritten, ``updated``) by this run."""

    id: str
    path: str
    title: str | None = None
    url: str | None = None
    published: date | None = None
    passages: int = 0
    updated: bool = False


class Skipped(BaseModel):
    source: str
    reason: str


class AddReport(BaseModel):
    """What `add_sources` or a feed poll did, and the index build that followed."""

    added: list[Added] = []
    skipped: list[Skipped] = []
    index: dict[str, Any] | None = None

    def summary(self) -> str:
        lines = [
            f"{'updated' if a.updated else 'added'} {a.id}: {a.title or '-'} "
            f"({a.passages} passages)"
            for a in self.added
        ]
        lines += [f"skipped {s.source}: {s.reason}" for s in self.skipped]
        if not self.added and not self.skipped:
            lines.append("nothing new")
        if self.index:
            lines.append(
                f"index: {self.index['articles']} articles, {self.index['passages']} passages; "
                f"{self.index['embedded']} embedded in {self.index['seconds']:.1f} s"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading sources


def label(source: Source) -> str:
    return source.name if isinstance(source, Upload) else str(source)


def is_url(source: Source) -> bool:
    return isinstance(source, str) and re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", source) is not None


def read_source(
    source: Source,
    settings: Settings,
    client: httpx.Client | None = None,
    *,
    defaults: ArticleMeta | None = None,
) -> Extracted:
    """The article a URL, a local file or an upload holds; `SourceError` says why not.

    ``defaults`` fill what a page does not say (a feed entry's title and date).
    """
    if is_url(source):
        page = fetch(str(source), settings, client=client)
        if page.content_type in HTML_TYPES or not page.content_type:
            return from_html(page.text(), page.url, defaults=defaults)
        return from_text(page.text(), url=page.url)
    if isinstance(source, Upload):
        name, data = source.name, source.data
    else:
        path = Path(source)
        if not path.is_file():
            raise SourceError("no such file")
        if path.stat().st_size > settings.fetch_max_bytes:
            raise SourceError(f"larger than {settings.fetch_max_bytes / 1_000_000:g} MB")
        name, data = path.name, path.read_bytes()
    suffix = Path(name).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return from_html(decode(data))
    if suffix in TEXT_SUFFIXES:
        if b"\x00" in data:
            raise SourceError("a binary file, not text")
        return from_text(decode(data))
    raise SourceError(f"unsupported file type {suffix or '(none)'}; use .html, .txt or .md")


# --------------------------------------------------------------------------- writing articles


def _text_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def render_article(article: Extracted) -> str:
    """The Markdown file: front matter that `articles.parse_article` reads, then the text."""
    lines = ["---"]
    for name in _FIELDS:
        value = getattr(article, name)
        if value:
            lines.append(f"{name}: {' '.join(str(value).split())}")
    lines += ["---", article.text.strip(), ""]
    return "\n".join(lines)


def _slug(article: Extracted, hint: str | None) -> str:
    if hint:
        base = re.sub(r"[^\w.-]+", "-", hint).strip("-.")[:60]
        if base:
            return base
    day = (article.published or date.today()).isoformat()
    from urllib.parse import urlsplit

    host = urlsplit(article.url).hostname if article.url else None
    digest = hashlib.sha256((article.url or article.text).encode("utf-8")).hexdigest()[:8]
    return "-".join(p for p in (day, re.sub(r"[^\w.-]+", "-", host or ""), digest) if p)


class Corpus:
    """The articles folder as ingestion sees it: which URLs and texts it already holds."""

    def __init__(self, articles_dir: Path) -> None:
        articles_dir.mkdir(parents=True, exist_ok=True)
        self.dir = articles_dir
        self.by_url: dict[str, Article] = {}
        self.by_text: dict[str, Article] = {}
        for item in read_articles(articles_dir):
            if not isinstance(item, ArticleError):
                self._remember(item)

    def _remember(self, article: Article) -> None:
        if article.url:
            self.by_url[article.url] = article
        self.by_text[_text_key(article.body)] = article

    def save(self, article: Extracted, hint: str | None = None) -> Added:
        """Write ``article`` as a new file, or over the file of the same URL if it changed."""
        old = self.by_url.get(article.url) if article.url else None
        same = self.by_text.get(_text_key(article.text))
        if same is not None and (old is None or same.path != old.path):
            raise SourceError(f"already in the articles as {same.id} (same text)")
        if same is not None and same.metadata() == article.metadata():
            raise SourceError(f"already in the articles as {same.id}, unchanged")
        draft = Article(id="draft", path=self.dir, body=article.text, **article.metadata())
        if not chunk_article(draft):
            raise SourceError("no paragraph to index (only headings or captions)")
        if old is not None:
            path = old.path
        else:
            path = self.dir / f"{_slug(article, hint)}.md"
            # The file name is the article id: no other file may have the same stem.
            if any(path.with_suffix(suffix).exists() for suffix in ARTICLE_SUFFIXES):
                path = path.with_name(f"{path.stem}-{_text_key(article.text)[:8]}.md")
        write_atomic(path, render_article(article))
        article_id = path.relative_to(self.dir).with_suffix("").as_posix()
        self._remember(parse_article(path, article_id))
        log.info("%s %s (%s)", "updated" if old else "added", path, article.url or "-")
        return Added(
            id=article_id,
            path=str(path),
            title=article.title,
            url=article.url,
            published=article.published,
            updated=old is not None,
        )


# --------------------------------------------------------------------------- the index


def _load_encoder(settings: Settings) -> Encoder:
    from .model import load_encoder  # the one place ingestion reaches the model loader

    return load_encoder(settings)


def update_index(report: AddReport, settings: Settings, encoder: Encoder | None) -> AddReport:
    """Bring the index in line with the new files and count each new article's passages."""
    if not report.added:
        return report
    from .index import build_index  # the one place ingestion reaches the index build

    encoder = encoder or _load_encoder(settings)
    build = build_index(settings, encoder=encoder)
    report.index = build.model_dump(mode="json")
    for added in report.added:
        article = parse_article(Path(added.path), added.id)
        added.passages = len(
            chunk_article(article, settings.max_chunk_tokens, encoder.count_tokens)
        )
    return report


def add_sources(
    sources: Sequence[Source],
    settings: Settings,
    *,
    encoder: Encoder | None = None,
    index: bool = True,
) -> AddReport:
    """Add each source in turn (a bad one is skipped with its reason), then index once."""
    report = AddReport()
    with ingest_lock(settings), new_client(settings) as client:
        corpus = Corpus(settings.articles_dir)
        for source in sources:
            add_one(source, corpus, settings, report, client=client)
    return update_index(report, settings, encoder) if index else report


def ingest_lock(settings: Settings) -> FileLock:
    """One ingestion at a time per index folder: the bot's /add, its feed job and the CLI
    never write the same story twice."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(settings.index_dir / ".ingest.lock"), timeout=settings.lock_timeout)


def add_one(
    source: Source,
    corpus: Corpus,
    settings: Settings,
    report: AddReport,
    *,
    client: httpx.Client | None = None,
    article: Extracted | None = None,
) -> SourceError | None:
    """Read and save one source into ``report``; the error, if any, for callers that care."""
    hint = None if is_url(source) else Path(label(source)).stem
    try:
        article = article or read_source(source, settings, client)
        report.added.append(corpus.save(article, hint))
    except SourceError as exc:
        report.skipped.append(Skipped(source=label(source), reason=exc.message))
        return exc
    except OSError as exc:
        reason = f"cannot write the article ({exc.strerror or exc})"
        report.skipped.append(Skipped(source=label(source), reason=reason))
        return SourceError(reason)
    return None
