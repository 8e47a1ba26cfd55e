"""News HTML (or plain text) → an article: its text and where it comes from.

trafilatura finds the article among navigation, sidebars and footers, and reads the
title, date, author, site name and canonical URL from the page's metadata. The text comes
out as the chunker reads it: one paragraph per line, ``#`` headings, no captions.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from .arabic import is_mostly_arabic
from .articles import ArticleMeta, split_front_matter
from .errors import SourceError

#: A page is an article only if it has this many words in sentence-like paragraphs;
#: section fronts and login pages are lists of short lines.
MIN_ARTICLE_WORDS = 30
_MIN_PARAGRAPH_WORDS = 8
_HTML_LANG = re.compile(r"<html[^>]*\slang\s*=\s*[\"']?([A-Za-z]{2,3})", re.I)
_BYLINE = re.compile(r"^\s*(بقلم|كتب|كتبت|إعداد|by)\s*[:：]?\s+", re.I)
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*$")


class Extracted(ArticleMeta):
    """An article ready to be written: attribution, author, and its text."""

    author: str | None = None
    text: str


def canonical_url(url: str) -> str:
    """The URL without tracking parameters or fragment, so one story has one address."""
    from courlan import normalize_url

    try:
        return str(normalize_url(url, strict=True))
    except ValueError:
        return url


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _lang(declared: str | None, text: str) -> str | None:
    if declared:
        return declared.lower()[:2]
    return "ar" if is_mostly_arabic(text) else None


def has_article_text(text: str) -> bool:
    """Whether ``text`` reads like an article rather than a list of links or form labels."""
    words = 0
    for line in text.split("\n"):
        n = len(line.split())
        if n >= _MIN_PARAGRAPH_WORDS and not _HEADING.match(line.strip()):
            words += n
    return words >= MIN_ARTICLE_WORDS


def _tidy(markdown: str, title: str | None) -> str:
    """One paragraph per line; the title heading trafilatura repeats at the top dropped."""
    lines = [" ".join(line.split()) for line in markdown.split("\n")]
    lines = [line for line in lines if line]
    if lines and title and (m := _HEADING.match(lines[0])) and m["text"] == title:
        lines = lines[1:]
    return "\n".join(lines)


def from_html(
    page: str, url: str | None = None, *, defaults: ArticleMeta | None = None
) -> Extracted:
    """The article in ``page``; raise `SourceError` when the page holds none.

    ``url`` is where the page was fetched (the canonical link wins when the page has one);
    ``defaults`` fill what the page does not say, e.g. a feed entry's title and date.
    """
    import trafilatura
    from trafilatura.settings import Document
    from trafilatura.xml import xmltotxt

    doc = trafilatura.bare_extraction(
        page,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_formatting=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if not isinstance(doc, Document) or doc.body is None:
        raise SourceError("no article text on the page (a section front, a login page?)")
    text = _tidy(xmltotxt(doc.body, True) or "", doc.title)
    if not has_article_text(text):
        raise SourceError("no article text on the page (a section front, a login page?)")
    fallback = defaults or ArticleMeta()
    page_url = doc.url if doc.url and doc.url.startswith(("http://", "https://")) else None
    link = page_url or url or fallback.url
    author = _BYLINE.sub("", doc.author).strip() if doc.author else None
    declared = _HTML_LANG.search(page[:4096])
    return Extracted(
        title=doc.title or fallback.title,
        source=doc.sitename or fallback.source or (urlsplit(link).hostname if link else None),
        url=canonical_url(link) if link else None,
        published=_date(doc.date) or fallback.published,
        lang=_lang(declared.group(1) if declared else None, text),
        author=author or None,
        text=text,
    )


def from_text(text: str, *, url: str | None = None) -> Extracted:
    """A ``.txt``/``.md`` article: front matter kept when present, first heading as title."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body = split_front_matter(text)
    lines = [" ".join(line.split()) for line in body.split("\n")]
    lines = [line for line in lines if line]
    title = meta.get("title") or None
    if not title and lines and (m := _HEADING.match(lines[0])):
        title, lines = m["text"], lines[1:]
    body = "\n".join(lines)
    if not body:
        raise SourceError("empty text")
    link = meta.get("url") or url
    return Extracted(
        title=title,
        source=meta.get("source") or None,
        url=canonical_url(link) if link else None,
        published=_date(meta.get("published")),
        lang=meta.get("lang") or _lang(None, body),
        author=meta.get("author") or None,
        text=body,
    )
