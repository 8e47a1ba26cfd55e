"""Articles → passages: one per paragraph, headings as sections, metadata lines dropped."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from .articles import Article, ArticleMeta
from .sentences import split_sentences
from .tokencount import fits_within

#: Lines that credit a photo or name the source: metadata, never passages.
_CREDIT = re.compile(r"^\s*(الصورة|صورة|تصوير|المصور|الصور|photo|image|credit)\s*[:：]", re.I)
_SOURCE = re.compile(r"^\s*(المصدر|source)\s*[:：]\s*(?P<source>.+?)\s*$", re.I)
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_SENTENCE_END = tuple(".!?؟…؛:،")
_CLOSERS = "\"'»”’)]} "
_MAX_CAPTION_WORDS = 25
_MAX_HEADING_WORDS = 10
_MAX_HEADING_CHARS = 90


class Chunk(ArticleMeta):
    """One passage ready to embed: display text, attribution and its content hash."""

    id: str
    key: int
    article: str
    paragraph: int
    section: str | None = None
    text: str
    hash: str

    @property
    def match_text(self) -> str:
        """What the model and BM25 see: the title takes part in matching."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def stable_key(passage_id: str) -> int:
    """A 63-bit id for FAISS that depends only on the passage id, never on build order."""
    digest = hashlib.blake2b(passage_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_heading_like(line: str) -> bool:
    return (
        len(line) <= _MAX_HEADING_CHARS
        and len(line.split()) <= _MAX_HEADING_WORDS
        and not line.rstrip(_CLOSERS).endswith(_SENTENCE_END)
    )


def _classify(lines: list[str]) -> list[tuple[str, str]]:
    """Label each line 'para', 'heading', 'source' or 'drop' (caption, credit)."""
    kinds: list[tuple[str, str]] = []
    for line in lines:
        if match := _SOURCE.match(line):
            kinds.append(("source", match["source"]))
        elif _CREDIT.match(line):
            kinds.append(("drop", line))
        elif match := _MD_HEADING.match(line):
            kinds.append(("heading", match["text"]))
        elif _is_heading_like(line):
            kinds.append(("heading?", line))
        else:
            kinds.append(("para", line))
    # A heading-like line only heads something if a paragraph follows it; one that
    # stands before a photo credit or at the end with no text under it is a caption.
    resolved: list[tuple[str, str]] = []
    for i, (kind, text) in enumerate(kinds):
        next_kind = kinds[i + 1][0] if i + 1 < len(kinds) else None
        if kind == "para" and next_kind == "drop" and len(text.split()) <= _MAX_CAPTION_WORDS:
            kind = "drop"  # the caption of the photo credited on the next line
        if kind == "heading?":
            after = [k for k, _ in kinds[i + 1 :] if k in ("para", "heading?", "heading", "drop")]
            kind = "heading" if after and after[0] != "drop" and "para" in after else "drop"
        resolved.append((kind, text))
    return resolved


def split_long(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Split an over-long paragraph at sentence boundaries (words as a last resort)."""
    fits = fits_within(count_tokens, max_tokens)
    if fits(text):
        return [text]
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if fits(sentence):
            pieces.append(sentence)
            continue
        words: list[str] = []
        for word in sentence.split():
            if words and not fits(" ".join([*words, word])):
                pieces.append(" ".join(words))
                words = []
            words.append(word)
        if words:
            pieces.append(" ".join(words))
    parts: list[str] = []
    for piece in pieces:
        if parts and fits(f"{parts[-1]} {piece}"):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def approx_tokens(text: str) -> int:
    """A tokenizer-free upper estimate (XLM-R gives ~1.5 pieces per Arabic word)."""
    return int(len(text.split()) * 1.8) + 2


def paragraph_chunks(
    base_id: str,
    text: str,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    **fields: object,
) -> list[Chunk]:
    """One paragraph's passages: itself, or its parts (ids `base.1`, `base.2`…) if too long."""
    parts = split_long(text, max_tokens, count_tokens)
    chunks = []
    for number, part in enumerate(parts, start=1):
        pid = base_id if len(parts) == 1 else f"{base_id}.{number}"
        chunk = Chunk(id=pid, key=stable_key(pid), text=part, hash="", **fields)  # type: ignore[arg-type]
        chunk.hash = content_hash(chunk.match_text)
        chunks.append(chunk)
    return chunks


def chunk_article(
    article: Article,
    max_tokens: int = 400,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> list[Chunk]:
    """The passages of one article, numbered 1.. in reading order."""
    lines = [line.strip() for line in article.body.split("\n")]
    classified = _classify([line for line in lines if line])
    # The "المصدر:" line closes the article but names the source of every paragraph.
    source = article.source or next((t for k, t in classified if k == "source"), None)
    meta: dict[str, Any] = article.metadata() | {"source": source}
    section: str | None = None
    chunks: list[Chunk] = []
    paragraph = 0
    for kind, text in classified:
        if kind == "heading":
            section = text
        elif kind == "para":
            paragraph += 1
            chunks += paragraph_chunks(
                f"{article.id}#{paragraph}",
                text,
                max_tokens,
                count_tokens,
                article=article.id,
                paragraph=paragraph,
                section=section,
                **meta,
            )
    return chunks
