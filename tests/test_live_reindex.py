"""A running bot picks up rebuilt indexes: the real Application, the real model, real HTTP.

The bot polls the Bot API stand-in (tests/botapi.py) with a real `Retriever` over a private
copy of the seed corpus and its index. Articles are added and deleted while it runs; the
index is rebuilt by `/reindex` or by `build_index` from outside (as `qabot index` would),
and the next question is answered from the new generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botapi import BotAPI, Call, parse_html, running

from qabot import render
from qabot.bot.handlers import ADMINS_ONLY, APOLOGY
from qabot.config import Settings
from qabot.encoder import SentenceTransformerEncoder
from qabot.index import build_index
from qabot.index.files import current_name
from qabot.retriever import Retriever

pytestmark = pytest.mark.slow

ADMIN = 42
QUESTION = "من صمم مبنى مكتبة الأطلس في الرباط؟"
ARCHITECT = "كريم الفاسي"
RABAT = (Path(__file__).parent / "data" / "rabat-library.txt").read_text(encoding="utf-8")


class GatedEncoder:
    """The real encoder, except that one armed question waits inside the model call.

    That holds a question in flight for as long as the test likes, so a rebuild and a
    swap can happen exactly then; the model itself is never used by two threads at once.
    """

    def __init__(self, inner: SentenceTransformerEncoder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.armed = False
        self.entered, self.release = threading.Event(), threading.Event()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(60)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture
def corpus(tmp_path: Path, seed_settings: Settings, seed_retriever: Retriever) -> Settings:
    """A private copy of the seed corpus and of its built index (the shared one stays put)."""
    shutil.copytree(seed_settings.articles_dir, tmp_path / "articles")
    shutil.copytree(seed_settings.index_dir, tmp_path / "index")
    return Settings(articles_dir=tmp_path / "articles", index_dir=tmp_path / "index")


@contextlib.asynccontextmanager
async def running_bot(
    api: BotAPI, corpus: Settings, retriever: Retriever
) -> AsyncIterator[Settings]:
    """The application as run_polling runs it (minus signals), admin `ADMIN`.

    /reindex embeds with the retriever's encoder, as under `run_bot`.
    """
    settings = corpus.model_copy(
        update={
            "telegram_bot_token": api.token,
            "telegram_api_base_url": api.base_url,
            "rate_limit_per_minute": 1000,
            "admin_ids": [ADMIN],
            "allowed_chat_ids": [],
        }
    )
    async with running(settings, retriever, encoder=retriever.encoder):
        yield settings


async def ask(api: BotAPI, text: str, chat_id: int, **kwargs: Any) -> str:
    """Send ``text`` and return what the user sees of the bot's first reply."""
    mark = api.mark()
    api.push_message(text, chat_id=chat_id, **kwargs)
    return visible(await api.wait_for("sendMessage", chat_id=chat_id, since=mark, timeout=60))


def visible(call: Call) -> str:
    return parse_html(call.text)


async def test_added_article_is_answered_after_reindex_and_gone_after_delete(
    corpus: Settings, encoder: SentenceTransformerEncoder
) -> None:
    retriever = Retriever.load(settings=corpus, encoder=encoder)
    async with BotAPI() as api, running_bot(api, corpus, retriever) as settings:
        assert render.NOT_FOUND in await ask(api, QUESTION, chat_id=1001)

        (corpus.articles_dir / "rabat.txt").write_text(RABAT, encoding="utf-8")
        assert await ask(api, "/reindex", chat_id=1001) == ADMINS_ONLY  # not an admin
        assert current_name(corpus.index_dir) == "gen-000001"
        mark = api.mark()
        api.push_message("/reindex", chat_id=ADMIN)
        done = await api.wait_for("sendMessage", chat_id=ADMIN, since=mark, count=2, timeout=60)
        summary = visible(done)
        assert "أُضيف: 4" in summary and "حُسبت متجهات 4 فقرة" in summary
        assert current_name(corpus.index_dir) == "gen-000002"

        found = await ask(api, QUESTION, chat_id=1001)
        assert ARCHITECT in found and "مكتبة الأطلس" in found and "الفقرة 3" in found

        # Deleted and rebuilt from outside the bot, as `qabot index` in a shell would.
        (corpus.articles_dir / "rabat.txt").unlink()
        report = await asyncio.to_thread(build_index, settings, encoder=encoder)
        assert report.removed == 4 and report.embedded == 0
        gone = await ask(api, QUESTION, chat_id=1001)
        assert render.NOT_FOUND in gone and ARCHITECT not in gone
        assert retriever.generation == "gen-000003"


async def test_questions_in_flight_during_a_swap_are_each_answered_once(
    corpus: Settings, encoder: SentenceTransformerEncoder
) -> None:
    gated = GatedEncoder(encoder)
    retriever = Retriever.load(settings=corpus, encoder=gated)
    async with BotAPI() as api, running_bot(api, corpus, retriever):
        mark = api.mark()
        gated.armed = True
        api.push_message(QUESTION, chat_id=2000)  # in flight across the swap
        assert await asyncio.to_thread(gated.entered.wait, 60)
        queued = list(range(2001, 2006))
        for chat_id in queued:  # waiting behind it while the index changes
            api.push_message(QUESTION, chat_id=chat_id)

        (corpus.articles_dir / "rabat.txt").write_text(RABAT, encoding="utf-8")
        report = await asyncio.to_thread(build_index, corpus, encoder=encoder)
        assert report.generation == "gen-000002" and current_name(corpus.index_dir) == "gen-000002"
        gated.release.set()

        replies = {
            chat_id: visible(await api.wait_for("sendMessage", chat_id=chat_id, since=mark))
            for chat_id in [2000, *queued]
        }
        await asyncio.sleep(0.5)  # room for a duplicate reply to show up
        assert all(len(api.calls_to("sendMessage", chat_id=c, since=mark)) == 1 for c in replies)
    # The question in flight was held in the (batch) encoder, before its search, so it is
    # searched in the new generation, as is every later one; none failed.
    assert all(ARCHITECT in replies[chat_id] for chat_id in [2000, *queued])
    assert not any(APOLOGY in text for text in replies.values())
    assert retriever.generation == "gen-000002"
