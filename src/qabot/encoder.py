"""Text → vectors. The retriever only sees this small interface, so tests can swap in a fake."""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors."""

    model_id: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, using the query/passage prompts from its own config."""

    def __init__(self, model: object, model_id: str, batch_size: int = 16) -> None:
        from sentence_transformers import SentenceTransformer

        assert isinstance(model, SentenceTransformer)
        self.model = model
        self.model_id = model_id
        self.batch_size = batch_size
        get_dim = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        prompts = model.prompts or {}
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("passage", prompts.get("document", ""))

    def _encode(self, texts: list[str], prompt: str, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])


class HashEncoder:
    """A fast, deterministic bag-of-words fake for pure-logic tests (no model, no meaning)."""

    def __init__(self, dim: int = 64, model_id: str = "hash-test-encoder") -> None:
        self.dim = dim
        self.model_id = model_id

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in text.split():
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            vec[int.from_bytes(digest, "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return (
            np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), "f4")
        )

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode_queries(texts)

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2
