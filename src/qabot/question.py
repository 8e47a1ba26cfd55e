"""One preparation step for every question, whichever front end it came from.

The bot, ``qabot ask`` and ``qabot chat`` all clean a question the same way before it
reaches :meth:`qabot.Retriever.ask`: control, bidi and invisible characters out (they
reorder echoed replies and split words), links and markup out (they are not words of a
question, see :mod:`qabot.gate`), whitespace folded, and an over-long question cut, with
a note saying so, rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arabic import sanitize
from .gate import strip_noise


@dataclass(frozen=True)
class Question:
    """A question ready for the retriever; ``cut_at`` is set when it was shortened."""

    text: str
    cut_at: int | None = None

    @property
    def has_words(self) -> bool:
        """False for input with no letter at all (numbers, punctuation, emoji, links)."""
        return any(ch.isalpha() for ch in self.text)


def prepare_question(raw: str, limit: int) -> Question:
    """Sanitise, drop links and markup, fold whitespace, keep at most ``limit`` characters."""
    text = strip_noise(sanitize(raw))
    if len(text) <= limit:
        return Question(text)
    return Question(text[:limit].rstrip(), cut_at=limit)
