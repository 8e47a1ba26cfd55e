"""Questions that arrive together are encoded together: one encoder call for all waiting.

Encoding a batch of questions costs far less per question than encoding them one by one
(the model's matrix products are wider, the per-call overhead is paid once). The bot's
handlers ``await QueryBatcher.encode(question)``: the first question starts an encoding
at once (a lone question waits for nothing), and those that arrive while it runs are
encoded together in the next call. The encoding runs in a worker thread, so the event
loop stays free; at most ``max_waiting`` questions wait, beyond that :class:`Busy`.
"""

from __future__ import annotations

import asyncio

import numpy as np

from .encoder import Encoder


class Busy(Exception):
    """Too many questions are waiting to be encoded: ask again a little later."""


class QueryBatcher:
    """Encodes the questions waiting, up to ``max_batch`` in one call, one call at a time."""

    def __init__(self, encoder: Encoder, *, max_batch: int = 32, max_waiting: int = 256) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._waiting: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._worker: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Questions not yet handed to the encoder."""
        return len(self._waiting)

    async def encode(self, text: str) -> np.ndarray:
        """The query vector of ``text``, encoded with the questions waiting beside it."""
        if len(self._waiting) >= self.max_waiting:
            raise Busy(f"{len(self._waiting)} questions are waiting to be encoded")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="qabot-query-batcher")
        return await future

    async def _drain(self) -> None:
        """Encode what is waiting, batch after batch, until nothing is."""
        while self._waiting:
            batch = [(t, f) for t, f in self._waiting[: self.max_batch] if not f.done()]
            del self._waiting[: self.max_batch]
            texts = list(dict.fromkeys(text for text, _ in batch))  # a repeat is encoded once
            if not texts:
                continue
            try:
                vectors = await asyncio.to_thread(self.encoder.encode_queries, texts)
            except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting.clear()
                raise
            except Exception as exc:  # every question of the batch gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            by_text = dict(zip(texts, vectors, strict=True))
            for text, future in batch:
                if not future.done():  # its asker may have given up (cancelled) meanwhile
                    future.set_result(by_text[text])
