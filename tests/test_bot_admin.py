"""The admins' side of the bot through the Bot API stand-in: /add, uploads, /stats, feeds.

Pages and feeds come from the local news site (`newsroom.py`, 127.0.0.1); questions are
answered by the real model over a private copy of the seed corpus, so "answered from the
new article" means the real retriever found it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botapi import BotAPI, running
from conftest import SEED
from newsroom import DESALINATION, FEED_STORY, OLIVES, Site, serve
from test_telegram_bot import FakeRetriever, ask, make_settings, visible

from qabot import render
from qabot.bot import admin
from qabot.config import Settings
from qabot.index import build_index
from qabot.questions import DB_FILE, QuestionLog
from qabot.retriever import Retriever

ADMIN = 42
pytestmark = pytest.mark.slow


@pytest.fixture
async def api() -> AsyncIterator[BotAPI]:
    async with BotAPI() as server:
        yield server


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(slow_seconds=3.0, huge_bytes=3_000_000) as running_site:
        yield running_site


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seed corpus: the tests add articles to it."""
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    return tmp_path


def _settings(api: BotAPI, root: Path, **overrides: Any) -> Settings:
    return make_settings(
        api,
        articles_dir=root / "articles",
        index_dir=root / "index",
        admin_ids=[ADMIN],
        fetch_allow_private=True,
        fetch_timeout=2.0,
        **overrides,
    )


def _retriever(settings: Settings, encoder: Any) -> Retriever:
    build_index(settings, encoder=encoder)
    return Retriever.load(settings=settings, encoder=encoder)


async def _command(api: BotAPI, text: str, replies: int, chat_id: int = ADMIN) -> list[str]:
    mark = api.mark()
    api.push_message(text, chat_id=chat_id)
    await api.wait_for("sendMessage", chat_id=chat_id, since=mark, count=replies, timeout=120)
    return [visible(c) for c in api.calls_to("sendMessage", chat_id=chat_id, since=mark)]


async def test_add_then_the_new_article_answers(
    api: BotAPI, site: Site, corpus: Path, encoder: Any
) -> None:
    settings = _settings(api, corpus)
    retriever = _retriever(settings, encoder)
    question = "كم تبلغ الطاقة الإنتاجية لمحطة تحلية المياه في العقبة؟"
    async with running(settings, retriever, encoder=encoder):
        before = visible(await ask(api, question, chat_id=1001))
        refused = visible(await ask(api, f"/add {site.url('/news/olives.html')}", chat_id=1001))
        progress, done = await _command(api, f"/add {site.url('/news/desalination.html')}", 2)
        after = visible(await ask(api, question, chat_id=1001))
    assert before.startswith(render.NOT_FOUND)
    assert refused == admin.ADMINS_ONLY
    assert progress == admin.ADDING
    assert DESALINATION["title"] in done and "عدد الفقرات:" in done
    assert "مئة وخمسين ألف متر مكعب" in after and DESALINATION["title"] in after
    assert len(list((corpus / "articles").iterdir())) == 2


async def test_an_uploaded_document_becomes_an_article(
    api: BotAPI, corpus: Path, encoder: Any
) -> None:
    settings = _settings(api, corpus)
    retriever = _retriever(settings, encoder)
    text = "\n\n".join(OLIVES["paragraphs"])
    body = f"---\ntitle: {OLIVES['title']}\n---\n\n{text}\n".encode()
    async with running(settings, retriever, encoder=encoder):
        mark = api.mark()
        api.push_document("olives.md", body, chat_id=1001)  # not an admin
        refused = await api.wait_for("sendMessage", chat_id=1001, since=mark)
        mark = api.mark()
        api.push_document("olives.md", body, chat_id=ADMIN)
        done = await api.wait_for("sendMessage", chat_id=ADMIN, since=mark, count=2, timeout=120)
        mark = api.mark()
        api.push_document("report.pdf", b"%PDF-1.7", chat_id=ADMIN)
        wrong = visible(await api.wait_for("sendMessage", chat_id=ADMIN, since=mark))
        answer = visible(await ask(api, "كم زائرا استقبل مهرجان الزيتون في جرش؟"))
    assert visible(refused) == admin.ADMINS_ONLY
    assert [c.params["file_id"] for c in api.calls_to("getFile")] == ["doc2"]
    assert OLIVES["title"] in visible(done) and wrong == admin.UPLOAD_KINDS
    assert "عشرين ألف زائر" in answer


async def test_an_upload_over_the_size_cap_is_refused(api: BotAPI, corpus: Path) -> None:
    settings = _settings(api, corpus, fetch_max_bytes=1000)
    async with running(settings, FakeRetriever()):
        mark = api.mark()
        api.push_document("big.txt", "كلمة ".encode() * 1000, chat_id=ADMIN)
        refused = visible(await api.wait_for("sendMessage", chat_id=ADMIN, since=mark))
    assert refused == admin.UPLOAD_TOO_BIG.format(limit="0.001")
    assert not api.calls_to("getFile") and len(list((corpus / "articles").iterdir())) == 1


async def test_a_running_bot_picks_up_a_feed(
    api: BotAPI, site: Site, corpus: Path, encoder: Any
) -> None:
    settings = _settings(api, corpus, feeds=[site.url("/feed.rss")], feed_minutes=0.02)
    retriever = _retriever(settings, encoder)
    question = "كم حافلة كهربائية في أسطول خط المطار؟"
    async with running(settings, retriever, encoder=encoder) as app:
        [job] = app.job_queue.jobs()
        for _ in range(120):  # the first poll starts within a second or two
            if retriever.refresh() or len(retriever.articles()) > 1:
                break
            await asyncio.sleep(1.0)
        answer = visible(await ask(api, question))
    assert job.name == "feeds"
    titles = {a.title for a in retriever.articles()}
    assert FEED_STORY["title"] in titles
    assert "ثلاثين حافلة" in answer


async def test_stats_after_answered_and_unanswered_questions(
    api: BotAPI, corpus: Path, seed_retriever: Any
) -> None:
    settings = _settings(api, corpus)
    unanswered = "ما هي طريقة تحضير الكبسة باللحم والأرز والبهارات؟"
    async with running(settings, seed_retriever):
        for question in ("متى تأسست منظمة التعاون الإسلامي؟", unanswered, unanswered):
            await ask(api, question, chat_id=1001)
        refused = visible(await ask(api, "/stats", chat_id=1001))
        [stats] = await _command(api, "/stats 30", 1)
        [usage] = await _command(api, "/stats many", 1)
    assert refused == admin.ADMINS_ONLY
    assert "آخر 30 يوم" in stats and "عدد الأسئلة: 3، أُجيب منها 1" in stats
    assert f"«{unanswered}» — 2 مرة" in stats
    assert usage == admin.STATS_USAGE
    rows = QuestionLog(corpus / "index" / DB_FILE).stats(1)
    assert rows.questions == 3  # recorded beside the index, without user or chat ids


async def test_questions_are_not_recorded_when_turned_off(
    api: BotAPI, corpus: Path, seed_retriever: Any
) -> None:
    settings = _settings(api, corpus, record_questions=False)
    async with running(settings, seed_retriever):
        await ask(api, "متى تأسست منظمة التعاون الإسلامي؟")
    assert not (corpus / "index" / DB_FILE).exists()
