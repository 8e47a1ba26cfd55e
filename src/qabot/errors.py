"""Errors a user can cause or fix; the CLI prints them as one line and exits 2."""

from __future__ import annotations

#: How to mend any damaged or outdated index.
REBUILD_HINT = "rebuild it with `qabot index --full`"


class QabotError(Exception):
    """A problem with a clear cause and a clear fix (``hint``), never a bug."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class IndexError_(QabotError):
    """The index is missing, corrupt, or was built with another model."""


class DatabaseError(QabotError):
    """The configured database (``QABOT_DATABASE_URL``) cannot be reached or used."""


class ModelError(QabotError):
    """The embedding model cannot be found, converted or loaded."""


class ArticleError(QabotError):
    """An article file cannot be read or holds no passage."""


class QuestionError(QabotError, ValueError):
    """The question cannot be asked (empty); a ValueError too, as the Python API documents."""


class SourceError(QabotError):
    """A page, file or feed that cannot be added; the message is the reason shown to people.

    ``transient`` marks failures worth retrying later (timeouts, refused connections,
    server errors), so a feed does not mark such an entry as seen.
    """

    def __init__(self, message: str, hint: str | None = None, *, transient: bool = False) -> None:
        super().__init__(message, hint)
        self.transient = transient
