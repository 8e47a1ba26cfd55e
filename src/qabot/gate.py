"""Is this text a question the articles could answer at all? Decided before any scoring.

The dense model maps *any* string near some passage, and the English calibration (dense
score only) passes most random Latin strings, so gibberish, bare numbers, links and
markup must be turned away before retrieval rather than by the confidence threshold:

* links and markup are not words of a question: :func:`strip_noise` removes them (every
  front end does, in :func:`qabot.question.prepare_question`);
* a question needs a letter (``12345`` is not one);
* it needs a content word the articles' language could match: an Arabic content word
  (the Arabic legs and their calibrated confidence judge the rest), or a Latin text that
  reads as English (two function words such as *who*, *the*, *did*), or a Latin word the
  articles themselves contain (a name, an acronym).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from .arabic import STOPWORDS, is_arabic_token, normalize, tokenize

#: Links, with or without a scheme (``https://…``, ``www.…``, ``t.me/…``).
URL_RE = re.compile(
    r"(?:(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S*)"
    r"(?<![.,!?؟؛،)»\"'])",  # trailing punctuation belongs to the sentence
    re.IGNORECASE,
)
_BLOCK_RE = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.DOTALL)
_ENTITY_RE = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", re.IGNORECASE)
#: English function words that mark a Latin text as a sentence, not a random string;
#: the stopword list without single letters ("a", "i", "s" are common in any string).
_ENGLISH_MARKERS = frozenset(
    w for w in STOPWORDS if len(w) > 1 and w.isascii() and w.isalpha()
)


def strip_noise(text: str) -> str:
    """``text`` without links, HTML/XML tags (script and style with their content) and
    character entities; whitespace folded."""
    text = _BLOCK_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    text = _ENTITY_RE.sub(lambda m: " " if html.unescape(m[0]) != m[0] else m[0], text)
    text = URL_RE.sub(" ", text)
    return " ".join(text.split())


def is_link(text: str) -> bool:
    """Whether ``text`` is nothing but one or more links (an admin may want them added)."""
    parts = text.split()
    return bool(parts) and all(URL_RE.fullmatch(part) for part in parts)


_QUESTION_WORDS = """
ما ماذا من متى أين كيف لماذا كم هل أي لم بكم منذ وما ومن ومتى وأين وكيف ولماذا وكم وهل
اذكر اشرح عرّف what when where who whom whose which why how is are was were do does did
can could will tell explain
"""
_ASKING = frozenset(normalize(w) for w in _QUESTION_WORDS.split())


def sounds_like_question(text: str) -> bool:
    """Whether a reply in a group asks something («شكرًا» and 👍 do not): a question mark,
    a question word, or at least three content words."""
    if "?" in text or "؟" in text:
        return True
    tokens = tokenize(text)
    if any(t in _ASKING or (t[:1] in "وف" and t[1:] in _ASKING) for t in tokens[:3]):
        return True
    return len([t for t in tokens if t not in STOPWORDS]) >= 3


def is_question(text: str, known: Callable[[str], bool] = lambda _: False) -> bool:
    """Whether ``text`` (already stripped of noise) can be a question about the articles.

    ``known(token)`` says whether a normalised Latin token occurs in the articles.
    """
    tokens = tokenize(text)
    content = [t for t in tokens if t not in STOPWORDS and not t.replace(".", "").isdigit()]
    if any(is_arabic_token(t) for t in content):
        return True
    latin = [t for t in content if t.isalpha()]
    if not latin:
        return False
    return any(known(t) for t in latin) or len(_ENGLISH_MARKERS.intersection(tokens)) >= 2
