"""One preparation step for every question, whichever front end it came from.

The bot, ``qabot ask`` and ``qabot chat`` all clean a question the same way before it
reaches :meth:`qabot.Retriever.ask`: control and bidi characters out (they reorder echoed
replies), whitespace folded, and an over-long question cut, with a note saying so, rather
than refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arabic import sanitize


@dataclass(frozen=True)
class Question:
    """A question ready for the retriever; ``cut_at`` is set when it was shortened."""

    text: str
    cut_at: int | None = None

    @property
    def has_words(self) -> bool:
        """False for input with no letter or digit at all (punctuation, emoji, blanks)."""
        return any(ch.isalnum() for ch in self.text)


def prepare_question(raw: str, limit: int) -> Question:
    """Sanitise, fold whitespace and keep at most ``limit`` characters."""
    text = " ".join(sanitize(raw).split())
    if len(text) <= limit:
        return Question(text)
    return Question(text[:limit].rstrip(), cut_at=limit)
