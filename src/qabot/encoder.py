"""Text → vectors. The retriever only sees this small interface, so tests can swap in a fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Encoder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors."""

    model_id: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, using the query/passage prompts from its own config."""

    def __init__(self, model: SentenceTransformer, model_id: str, batch_size: int = 16) -> None:
        self.model = model
        self.model_id = model_id
        self.batch_size = batch_size
        get_dim = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        prompts = model.prompts or {}
        self.query_prompt: str = prompts.get("query", "") or ""
        self.passage_prompt: str = prompts.get("passage", prompts.get("document", "")) or ""

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
