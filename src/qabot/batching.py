"""Work that arrives together is done together: one call for everything waiting.

Encoding a batch of questions costs far less per question than encoding them one by one
(the model's matrix products are wider, the per-call overhead is paid once), and writing
many rows in one SQLite transaction costs about what one row does. A :class:`Batcher`
gives each caller ``await batcher(item)``: the first item starts a call at once (a lone
item waits for nothing: no timer, no window), and the items that arrive while that call
runs go together into the next. Calls run in a thread of the batcher's own, one at a time,
so the event loop stays free; at most ``max_waiting`` items wait, beyond that :class:`Busy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import numpy as np

from .encoder import Encoder

T = TypeVar("T")
R = TypeVar("R")


class Busy(Exception):
    """Too many items are waiting: try again a little later."""


class Batcher(Generic[T, R]):
    """Runs ``work`` (items → one result per item) on up to ``max_batch`` waiting items."""

    def __init__(
        self,
        work: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 32,
        max_waiting: int = 256,
        name: str = "batcher",
    ) -> None:
        self.work = work
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.name = name
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        # One thread of its own: calls are one at a time anyway, and torch keeps its
        # thread team warm for a thread it has seen (a pool's threads each need their own).
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)

    @property
    def waiting(self) -> int:
        """Items not yet handed to ``work``."""
        return len(self._waiting)

    async def __call__(self, item: T) -> R:
        """``work``'s result for ``item``, computed with the items waiting beside it."""
        if len(self._waiting) >= self.max_waiting:
            raise Busy(f"{self.name}: {len(self._waiting)} items are waiting")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name=self.name)
        return await future

    async def _drain(self) -> None:
        """Run ``work`` on what is waiting, batch after batch, until nothing is."""
        while self._waiting:
            batch = [(i, f) for i, f in self._waiting[: self.max_batch] if not f.done()]
            del self._waiting[: self.max_batch]
            if not batch:
                continue
            try:
                items = [item for item, _ in batch]
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self.work, items
                )
            except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting.clear()
                raise
            except Exception as exc:  # every item of the batch gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its caller may have given up (cancelled) meanwhile
                    future.set_result(result)


class QueryBatcher(Batcher[str, np.ndarray]):
    """Query vectors for the questions waiting, in one encoder call (a repeat encoded once)."""

    def __init__(self, encoder: Encoder, *, max_batch: int = 32, max_waiting: int = 256) -> None:
        super().__init__(
            self._encode, max_batch=max_batch, max_waiting=max_waiting, name="query-batcher"
        )
        self.encoder = encoder

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, self.encoder.encode_queries(unique), strict=True))
        return [by_text[text] for text in texts]

    async def encode(self, text: str) -> np.ndarray:
        """The query vector of ``text``."""
        return await self(text)
