"""The typed results the retriever hands to the CLI, the bot and Python callers."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

from .articles import ArticleMeta


class ArticleInfo(ArticleMeta):
    """An indexed article, as `/sources` lists it."""

    id: str
    passages: int


class Passage(ArticleMeta):
    """One paragraph of an article, with where it came from and how well it matched."""

    id: str = Field(description="Stable id: '<article>#<paragraph>' (paragraph is 1-based).")
    article: str = Field(description="Article id: the file name without its extension.")
    paragraph: int = Field(ge=1, description="1-based paragraph number within the article.")
    section: str | None = None
    text: str
    score: float = 0.0
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    sentence: str | None = Field(
        default=None, description="The sentence of `text` that best answers the question."
    )


class Answer(BaseModel):
    """What `Retriever.ask` returns: the passages and whether they answer at all."""

    question: str
    passages: list[Passage]
    found: bool
    sentence: str | None = None
    context_used: bool = Field(
        default=False,
        description="Whether the passages were found with the conversation's earlier questions.",
    )
    # Not part of the answer's data (nor its JSON): the conversation keeps it with the turn.
    _vector: np.ndarray | None = PrivateAttr(default=None)

    @property
    def query_vector(self) -> np.ndarray | None:
        """The question's query vector, when it was encoded (kept for follow-ups)."""
        return self._vector

    def __eq__(self, other: object) -> bool:
        """Equal by the answer's data: pydantic would also compare the kept vector, an
        array, which has no single truth value."""
        if not isinstance(other, Answer):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__
