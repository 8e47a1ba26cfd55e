"""Display text → sentences, for the highlight, the sentence vectors and long paragraphs.

Unlike :mod:`qabot.arabic` (which re-exports :func:`split_sentences`), nothing here derives
matching keys: sentences are exact substrings of the display text.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

_CLOSERS = "\"'»”’)]}›"
_BOUNDARY_RE = re.compile(r"[.!?؟؛]+[" + re.escape(_CLOSERS) + r"]*|\n")
_ARABIC_LETTER_RE = re.compile(r"[\u0620-\u064A\u066E-\u06D3\u06FA-\u06FF]")


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and ch.isascii()


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the terminator run ``text[start:end]`` ends a sentence."""
    run = text[start:end]
    if run == "\n" or not run.startswith("."):
        return True
    if run.rstrip(_CLOSERS) != ".":
        return True  # "..." or ".!" is a real stop
    prev = text[start - 1] if start > 0 else ""
    nxt = text[end] if end < len(text) else ""
    # "U.S." / "J. K." : a single Latin letter before the dot is an initial.
    if _is_latin_letter(prev) and (start < 2 or not text[start - 2].isalnum()):
        return False
    if nxt and nxt.isalnum() and end == start + 1:
        # "1.6", "qabot.cli", "e.g": no space after the dot, so not a sentence end,
        # unless the dot sits between Arabic letters (a missing space, not a token).
        return bool(_ARABIC_LETTER_RE.match(prev)) and bool(_ARABIC_LETTER_RE.match(nxt))
    return True


def split_sentences(text: str) -> list[str]:
    """Split display text into sentences, each an exact stripped substring of ``text``.

    Terminators (. ! ? ؟ ؛ and closing quotes after them) stay with their sentence;
    newlines end a sentence too. Decimals, dotted names and Latin initials are not
    split. Returns no empty strings; text without terminators is one sentence.
    """
    sentences: list[str] = []
    begin = 0
    for match in _BOUNDARY_RE.finditer(text):
        if not _is_boundary(text, match.start(), match.end()):
            continue
        piece = text[begin : match.end()].strip()
        if piece:
            sentences.append(piece)
        begin = match.end()
    tail = text[begin:].strip()
    if tail:
        sentences.append(tail)
    return sentences
