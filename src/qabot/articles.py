"""Reading article files: optional front matter, then one paragraph per line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .arabic import sanitize
from .errors import ArticleError

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = (".txt", ".md")


class ArticleMeta(BaseModel):
    """Where a text comes from, as its front matter says.

    The one definition of an article's attribution: articles, passages, search results
    and the `/sources` list all carry these fields, and each stage hands them on with
    :meth:`metadata` rather than copying them one by one.
    """

    title: str | None = None
    source: str | None = None
    url: str | None = None
    published: date | None = None
    lang: str | None = None

    def metadata(self) -> dict[str, Any]:
        """Just the attribution fields, to build the next stage's object from."""
        return {name: getattr(self, name) for name in ArticleMeta.model_fields}


class Article(ArticleMeta):
    """An article as written on disk: metadata plus the raw body lines."""

    id: str
    path: Path
    body: str


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _parse_date(value: str, path: Path) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        log.warning("%s: ignoring unreadable published date %r (want YYYY-MM-DD)", path, value)
        return None


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split ``---``-delimited ``key: value`` front matter from the body.

    Deliberately not full YAML: articles only carry flat string fields, and a
    stray colon in a title must never make a file unreadable.
    """
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, text
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = _unquote(value)
    return meta, "\n".join(lines[end + 1 :])


def parse_article(path: Path, article_id: str | None = None) -> Article:
    """Read one article file; raise `ArticleError` when it is not usable text."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{path}: cannot read ({exc.strerror})") from exc
    if b"\x00" in raw:
        raise ArticleError(f"{path}: looks like a binary file, not UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    # Invisible characters inside words (soft hyphens, zero-width joiners from web pages)
    # go, as they go from questions: the dense leg then sees the same words in both.
    text = sanitize(text.replace("\r\n", "\n").replace("\r", "\n"))
    meta, body = split_front_matter(text)
    if not body.strip():
        raise ArticleError(f"{path}: empty article")
    return Article(
        id=article_id or path.stem,
        path=path,
        title=meta.get("title") or None,
        source=meta.get("source") or None,
        url=meta.get("url") or None,
        published=_parse_date(meta.get("published", ""), path),
        lang=meta.get("lang") or None,
        body=body,
    )


def article_files(directory: Path) -> list[Path]:
    """The corpus files, sorted so that builds are deterministic."""
    if not directory.is_dir():
        raise ArticleError(
            f"articles folder {directory} does not exist", "create it or set QABOT_ARTICLES_DIR"
        )
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES and not p.name.startswith(".")
    )


def read_articles(directory: Path) -> Iterator[Article | ArticleError]:
    """Every article in the folder; unreadable ones are yielded as errors, never raised."""
    for path in article_files(directory):
        rel = path.relative_to(directory).with_suffix("").as_posix()
        try:
            yield parse_article(path, article_id=rel)
        except ArticleError as exc:
            yield exc
