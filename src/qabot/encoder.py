"""Text → vectors. The retriever only sees this small interface, so tests can swap in a fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from .tokencount import TokenCounter

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer


class Encoder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors."""

    model_id: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, using the query/passage prompts from its own config."""

    backend = "torch"

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
        self.count_tokens = TokenCounter(_counting_tokenizer(model))

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


def _counting_tokenizer(model: SentenceTransformer) -> Tokenizer:
    """A private copy of the model's tokenizer, without truncation or padding.

    Calling the transformers tokenizer resets its truncation and padding state in place, so
    counting tokens (an index build, /reindex) while a question is encoded in another thread
    broke that encoding.
    """
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    counter.no_truncation()
    counter.no_padding()
    return counter


#: Tokens (padded) per ONNX Runtime call. Small batches are faster per token here: a long
#: passage goes alone and ~256 tokens of activations stay in a core's cache, while short texts
#: (the word bridge's ~12,000 words, questions) still share a call. On ARCD's passages and
#: sentences this took 35 % less CPU than 16 texts a batch (benchmarks/README.md, "Build
#: speed, wave 6"); measured with ``benchmarks/onnx_build_ideas.py``.
BATCH_TOKENS = 256


class OnnxEncoder:
    """The bundled model run by ONNX Runtime (``QABOT_BACKEND=onnx``), without torch.

    It does what ``SentenceTransformer.encode`` does for this model — prompt prefix, the same
    tokenizer.json, truncation to ``max_length``, mean pooling over the attention mask, L2
    norm — in numpy. Texts are sorted by token length before batching, so a batch pads little,
    and a batch holds about :data:`BATCH_TOKENS` tokens (padding included).
    """

    backend = "onnx"

    def __init__(
        self,
        session: InferenceSession,
        tokenizer: Tokenizer,
        model_id: str,
        *,
        dim: int,
        prompts: dict[str, str],
        max_length: int,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.dim = dim
        self.max_length = max_length
        self.batch_tokens = batch_tokens
        self.query_prompt: str = prompts.get("query", "") or ""
        self.passage_prompt: str = prompts.get("passage", prompts.get("document", "")) or ""
        self._pad = tokenizer.token_to_id("<pad>") or 0
        self._eos = tokenizer.token_to_id("</s>") or 0
        self.count_tokens = TokenCounter(tokenizer)

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids with specials, cut as transformers cuts: the text's end, then ``</s>``."""
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        cut = self.max_length - 1
        return [t if len(t) <= self.max_length else [*t[:cut], self._eos] for t in ids]

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids = self._ids([prompt + t for t in texts])
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        start = 0
        while start < len(order):
            width = len(ids[order[start]])  # the longest left
            rows = order[start : start + max(1, self.batch_tokens // width)]
            start += len(rows)
            input_ids = np.full((len(rows), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled / norms
        return out

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)
