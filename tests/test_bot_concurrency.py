"""Concurrent, batched answering (issue 12): the real PTB Application over the stand-in.

Chats are answered at the same time but each chat in order; the questions waiting are
encoded in one call; a lone question waits for no timer; a flood is held back (bounded
queues) and, past the batching queue's bound, told to try again. Logic tests use a real
Retriever over the seed article with the hash encoder (tests/fakes.py); one uses the model.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botapi import BotAPI, running, settled
from fakes import HashEncoder
from test_telegram_bot import FakeRetriever, make_settings, visible

from qabot import render
from qabot.batching import Busy, QueryBatcher
from qabot.bot.concurrency import Capacity
from qabot.bot.handlers import BUSY
from qabot.bot.hints import TYPING_UNTIL
from qabot.bot.transport import RetryPolicy
from qabot.config import Settings
from qabot.encoder import Encoder
from qabot.index import build_index
from qabot.retriever import Retriever

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"
#: The stand-in has no flood limit; Telegram's 30 messages/s would only slow these tests.
UNLIMITED = RetryPolicy(per_second=0)
QUESTIONS = [
    "متى تأسست منظمة التعاون الإسلامي؟",
    "كم عدد الدول الأعضاء في منظمة التعاون الإسلامي؟",
    "مع من اجتمع لافروف في موسكو؟",
    "من هو الأمين العام لمنظمة التعاون الإسلامي؟",
    "ما هي ثاني أكبر منظمة دولية بعد الأمم المتحدة؟",
    "أين عقدت قمة روسيا والعالم الإسلامي؟",
    "ما الاسم السابق لمنظمة التعاون الإسلامي؟",
    "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟",
]


class CountingEncoder:
    """An encoder that records every query call and can hold one until ``gate`` opens."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.gate.wait(30)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture(scope="module")
def hash_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seed article indexed with the hash encoder (no model)."""
    root = tmp_path_factory.mktemp("hash")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings(articles_dir=root / "articles", index_dir=root / "index")
    build_index(settings, encoder=HashEncoder())
    return settings


def retriever_with(settings: Settings, encoder: Encoder) -> Retriever:
    return Retriever.load(settings=settings, encoder=encoder)


def expected(settings: Settings) -> dict[str, str]:
    """The reply the bot must send to each question: a plain retriever's answer, asked alone."""
    plain = retriever_with(settings, HashEncoder())
    return {q: render.answer_html(plain.ask(q, k=Settings().top_k))[0] for q in QUESTIONS}


class SlowRetriever(FakeRetriever):
    """The fake, answering with a passage that names the question, taking ``delays[question]``
    seconds, and holding the question ``held`` until the test opens ``gate``."""

    def __init__(self, delays: dict[str, float], held: str = "") -> None:
        super().__init__()
        self.delays, self.held = delays, held
        self.gate, self.entered = threading.Event(), threading.Event()

    def ask(self, question: str, k: int = 3, history: Any = None, vector: Any = None) -> Any:
        if question == self.held:
            self.entered.set()
            assert self.gate.wait(30)
        time.sleep(self.delays.get(question, 0.0))
        answer = super().ask(question, k, history)
        named = answer.passages[0].model_copy(update={"text": f"جواب عن {question}"})
        return answer.model_copy(update={"passages": [named]})


@pytest.fixture
async def api() -> AsyncIterator[BotAPI]:
    async with BotAPI() as server:
        yield server


# --------------------------------------------------------------------------- order


async def test_one_chat_gets_its_answers_in_the_order_asked(api: BotAPI) -> None:
    # The first question takes longest: answered concurrently, the replies would reverse.
    asked = [f"سؤال {n} عن منظمة التعاون الإسلامي" for n in range(5)]
    slow = SlowRetriever({q: 0.25 - 0.05 * i for i, q in enumerate(asked)})
    async with running(make_settings(api), slow, retry=UNLIMITED):
        mark = api.mark()
        for question in asked:
            api.push_message(question, chat_id=1001)
        await api.wait_for("sendMessage", chat_id=1001, since=mark, count=5)
    replies = [visible(c) for c in api.calls_to("sendMessage", chat_id=1001, since=mark)]
    assert slow.questions == asked
    assert [next(q for q in asked if f"جواب عن {q}" in r) for r in replies] == asked


async def test_a_slow_chat_does_not_hold_up_the_others(api: BotAPI) -> None:
    held = "سؤال بطيء عن منظمة التعاون الإسلامي"
    slow = SlowRetriever({}, held=held)
    async with running(make_settings(api), slow, retry=UNLIMITED):
        mark = api.mark()
        api.push_message(held, chat_id=1001)
        assert await asyncio.to_thread(slow.entered.wait, 10)
        # Chat 1001 is still waiting for its answer; 1002 and 1003 are answered meanwhile.
        api.push_message("لافروف قازان", chat_id=1002)
        api.push_message("منظمة التعاون", chat_id=1003)
        await api.wait_for("sendMessage", chat_id=1002, since=mark)
        await api.wait_for("sendMessage", chat_id=1003, since=mark)
        assert not api.calls_to("sendMessage", chat_id=1001, since=mark)
        # 1001's next question waits behind its first, then both come, in order.
        api.push_message("قازان", chat_id=1001)
        await asyncio.sleep(0.3)
        assert not api.calls_to("sendMessage", chat_id=1001, since=mark)
        slow.gate.set()
        await api.wait_for("sendMessage", chat_id=1001, since=mark, count=2)
    assert slow.questions[-1] == "قازان" and slow.questions.index(held) < 3


# --------------------------------------------------------------------------- batching


async def test_questions_arriving_together_are_encoded_in_one_call(
    api: BotAPI, hash_index: Settings
) -> None:
    counting = CountingEncoder(HashEncoder())
    retriever = retriever_with(hash_index, counting)
    async with running(make_settings(api), retriever, retry=UNLIMITED):
        # Hold the first question inside the encoder, so the others queue up meanwhile.
        counting.gate.clear()
        mark = api.mark()
        api.push_message(QUESTIONS[0], chat_id=2000)
        assert await asyncio.to_thread(counting.entered.wait, 10)
        for i, question in enumerate(QUESTIONS[1:], start=1):
            api.push_message(question, chat_id=2000 + i)
        await asyncio.sleep(0.5)  # all fetched and waiting for the encoder
        counting.gate.set()
        replies = [
            await api.wait_for("sendMessage", chat_id=2000 + i, since=mark)
            for i in range(len(QUESTIONS))
        ]
    assert counting.calls == [[QUESTIONS[0]], QUESTIONS[1:]]
    for question, reply in zip(QUESTIONS, replies, strict=True):
        assert reply.text == expected(hash_index)[question]


async def test_the_batcher_encodes_a_repeat_once_and_fans_the_vectors_out() -> None:
    counting = CountingEncoder(HashEncoder())
    batcher = QueryBatcher(counting, max_batch=3)
    texts = ["أ ب", "ج د", "أ ب", "هـ و", "ز ح"]
    vectors = await asyncio.gather(*(batcher.encode(t) for t in texts))
    # Queued together: the first call takes max_batch questions (two distinct texts).
    assert counting.calls == [["أ ب", "ج د"], ["هـ و", "ز ح"]]
    for text, vector in zip(texts, vectors, strict=True):
        assert np.array_equal(vector, HashEncoder().encode_queries([text])[0])


async def test_an_encoder_failure_reaches_every_question_of_its_batch() -> None:
    class Broken(HashEncoder):
        def encode_queries(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model gone")

    batcher = QueryBatcher(Broken())
    results = await asyncio.gather(
        batcher.encode("أ"), batcher.encode("ب"), return_exceptions=True
    )
    assert [str(r) for r in results] == ["model gone", "model gone"]
    assert batcher.waiting == 0


def test_a_lone_question_waits_for_no_timer() -> None:
    """With the event loop's clock stopped, any batching window (a sleep, a timeout) would
    never end; a lone question is still encoded at once."""
    loop = asyncio.new_event_loop()
    loop.time = lambda: 0.0  # type: ignore[method-assign]
    counting = CountingEncoder(HashEncoder())
    batcher = QueryBatcher(counting)
    done: list[np.ndarray] = []
    thread = threading.Thread(
        target=lambda: done.append(loop.run_until_complete(batcher.encode("سؤال وحيد"))),
        daemon=True,
    )
    thread.start()
    thread.join(10)
    assert done and counting.calls == [["سؤال وحيد"]], "the lone question waited for a timer"
    loop.close()


# --------------------------------------------------------------------------- floods


async def test_a_flood_is_held_back_in_bounded_queues_and_all_answered_once(
    api: BotAPI, hash_index: Settings
) -> None:
    counting = CountingEncoder(HashEncoder())
    retriever = retriever_with(hash_index, counting)
    capacity = Capacity(updates=8, queued=4, batch=4, waiting=100)
    chats = range(5000, 5300)
    async with running(make_settings(api), retriever, retry=UNLIMITED, capacity=capacity) as app:
        counting.gate.clear()  # the model is stuck: nothing gets through
        try:
            mark = api.mark()
            for chat in chats:
                api.push_message(QUESTIONS[chat % len(QUESTIONS)], chat_id=chat)
            assert await asyncio.to_thread(counting.entered.wait, 10)
            await asyncio.sleep(1.0)
            queue, batcher = app.update_queue, app.bot_data.batcher
            # In memory: 8 being handled, 4 queued, the rest of one getUpdates (100 at
            # most); the other 200 still wait at "Telegram".
            assert queue.handed == 8 and queue.qsize() == 4
            assert len(api.deliveries) <= 100 and len(api.pending()) == 300
            assert app.update_processor.current_concurrent_updates == 8
            # The 8 being handled: in the stuck encoder's batch or waiting for the next.
            assert len(counting.calls) == 1 and batcher.waiting + len(counting.calls[0]) == 8
        finally:
            counting.gate.set()
        await settled(api, app, timeout=60)
    replies = api.calls_to("sendMessage", since=mark)
    assert sorted(c.chat_id for c in replies) == list(chats)  # exactly one reply each
    texts = expected(hash_index)
    assert all(c.text == texts[QUESTIONS[c.chat_id % len(QUESTIONS)]] for c in replies)
    assert max(len(call) for call in counting.calls) == 4  # batches of capacity.batch


async def test_past_the_batching_bound_a_question_is_told_to_try_again(
    api: BotAPI, hash_index: Settings
) -> None:
    counting = CountingEncoder(HashEncoder())
    retriever = retriever_with(hash_index, counting)
    capacity = Capacity(updates=8, queued=4, batch=4, waiting=2)
    chats = range(6000, 6020)
    async with running(make_settings(api), retriever, retry=UNLIMITED, capacity=capacity) as app:
        counting.gate.clear()
        try:
            mark = api.mark()
            for chat in chats:
                api.push_message(QUESTIONS[0], chat_id=chat)
            assert await asyncio.to_thread(counting.entered.wait, 10)
            # At most 4 questions get in (a first batch of 2 in the stuck encoder, 2 more
            # waiting): the other 16 or more hear at once that the bot is busy.
            await api.wait_for("sendMessage", since=mark, count=16, timeout=20)
            await asyncio.sleep(0.5)
            busy = {c.chat_id for c in api.calls_to("sendMessage", since=mark)}
            assert app.bot_data.batcher.waiting == 2
        finally:
            counting.gate.set()
        await settled(api, app, timeout=30)
    replies = api.calls_to("sendMessage", since=mark)
    assert sorted(c.chat_id for c in replies) == list(chats)  # one reply each
    told = {c.chat_id for c in replies if visible(c) == BUSY}
    answered = {c.chat_id for c in replies if c.text == expected(hash_index)[QUESTIONS[0]]}
    assert told == busy and 16 <= len(told) <= 17  # told while the model was stuck
    assert answered == set(chats) - told


async def test_the_batcher_refuses_beyond_its_bound() -> None:
    counting = CountingEncoder(HashEncoder())
    counting.gate.clear()
    batcher = QueryBatcher(counting, max_waiting=2)
    first = asyncio.create_task(batcher.encode("أ"))
    assert await asyncio.to_thread(counting.entered.wait, 10)
    waiting = [asyncio.create_task(batcher.encode(t)) for t in ("ب", "ج")]
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        await batcher.encode("د")
    counting.gate.set()
    await asyncio.gather(first, *waiting)
    assert counting.calls == [["أ"], ["ب", "ج"]]


# --------------------------------------------------------------------------- real model


async def test_chats_asking_at_once_get_the_real_models_answers(
    api: BotAPI, seed_settings: Settings, seed_retriever: Retriever, encoder: Encoder
) -> None:
    counting = CountingEncoder(encoder)
    retriever = retriever_with(seed_settings, counting)
    async with running(make_settings(api), retriever, retry=UNLIMITED):
        counting.gate.clear()
        mark = api.mark()
        api.push_message(QUESTIONS[0], chat_id=7000)
        assert await asyncio.to_thread(counting.entered.wait, 30)
        for i, question in enumerate(QUESTIONS[1:], start=1):
            api.push_message(question, chat_id=7000 + i)
        await asyncio.sleep(0.5)
        counting.gate.set()
        replies = [
            await api.wait_for("sendMessage", chat_id=7000 + i, since=mark, timeout=60)
            for i in range(len(QUESTIONS))
        ]
    assert len(counting.calls) == 2  # the seven that waited were encoded in one batch
    for question, reply in zip(QUESTIONS, replies, strict=True):
        alone = seed_retriever.ask(question, k=Settings().top_k)
        # Batched (padded) and alone, the model gives the same passages.
        shown = visible(reply)
        if alone.found:
            assert alone.passages[0].text in shown.replace(render.RLM, "")
        else:
            assert render.NOT_FOUND in shown


async def test_the_typing_hint_is_left_out_when_many_updates_are_in_hand(
    api: BotAPI, hash_index: Settings
) -> None:
    counting = CountingEncoder(HashEncoder())
    retriever = retriever_with(hash_index, counting)
    async with running(make_settings(api), retriever, retry=UNLIMITED) as app:
        counting.gate.clear()
        try:
            mark = api.mark()
            for chat in range(8000, 8012):
                api.push_message(QUESTIONS[0], chat_id=chat)
            assert await asyncio.to_thread(counting.entered.wait, 10)
            await asyncio.sleep(0.5)
        finally:
            counting.gate.set()
        await settled(api, app)
    typing = api.calls_to("sendChatAction", since=mark)
    # The first TYPING_UNTIL questions got the hint; with more in hand, it would only
    # spend Telegram's 30 messages/s.
    assert sorted(c.chat_id for c in typing) == list(range(8000, 8000 + TYPING_UNTIL))
    assert len(api.calls_to("sendMessage", since=mark)) == 12
