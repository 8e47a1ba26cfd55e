"""Fakes for pure-logic tests: stand-ins that are fast and deterministic, not meaningful."""

from __future__ import annotations

import hashlib

import numpy as np


class HashEncoder:
    """A bag-of-words :class:`qabot.encoder.Encoder` fake (no model, no meaning)."""

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
