"""Two bot replicas in webhook mode sharing one PostgreSQL index, driven over real HTTP.

Each replica is `qabot bot --webhook … --database-url …` in its own process (the fake
encoder instead of the model); updates are POSTed to them as Telegram would, with and
without the secret token. A reindex is seen by both at once; the database killed mid-run
costs an apology, then the same replica answers the first question once it is back. A
conversation goes on across replicas (its memory is in the database).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from botapi import BotAPI, parse_html, subprocess
from conftest import SEED
from fakes import HashEncoder
from pgserver import PgServer

from qabot.bot.handlers import APOLOGY
from qabot.bot.memory import CONTEXT_NOTE, NEW_CONVERSATION
from qabot.config import Settings
from qabot.index import build_index
from qabot.index.postgres import close_pool

SECRET = "replica-secret_123"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
RUN = (
    "import sys; from fakes import HashEncoder; from qabot.cli import main; "
    "sys.exit(main(sys.argv[1:], encoder=HashEncoder(384)))"
)
PARK = (
    "---\ntitle: افتتاح حديقة عامة جديدة على ضفاف النهر\n---\n"
    "افتتحت بلدية المدينة حديقة عامة جديدة على ضفاف النهر بمساحة تتجاوز عشرين هكتارا.\n"
    "وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات من العمل وكلف نحو خمسة ملايين دولار.\n"
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, port: int, api: BotAPI) -> None:
        self.port, self.api = port, api
        self.url = f"http://127.0.0.1:{port}/hook"

    async def post(
        self, text: str, chat_id: int, secret: str | None = SECRET, **kwargs: Any
    ) -> int:
        """POST one message update as Telegram would; the HTTP status."""
        update: dict[str, Any] = {"update_id": chat_id * 1000 + int(time.time() * 1000) % 1000}
        update["message"] = self.api.push_message(text, chat_id=chat_id, **kwargs)
        headers = {HEADER: secret} if secret is not None else {}
        async with httpx.AsyncClient() as client:
            for _ in range(100):  # the replica may still be starting its server
                try:
                    response = await client.post(self.url, json=update, headers=headers)
                    return response.status_code
                except httpx.ConnectError:
                    await asyncio.sleep(0.2)
        raise AssertionError(f"replica on port {self.port} never listened")

    async def ask(self, text: str, chat_id: int, **kwargs: Any) -> str:
        mark = self.api.mark()
        assert await self.post(text, chat_id, **kwargs) == 200
        call = await self.api.wait_for("sendMessage", chat_id=chat_id, since=mark, timeout=60)
        return parse_html(call.text)


async def test_two_webhook_replicas_share_the_database(tmp_path: Path) -> None:
    server = await asyncio.to_thread(PgServer.start)
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SEED, articles / SEED.name)
    settings = Settings(articles_dir=articles, database_url=server.url)
    try:
        await asyncio.to_thread(build_index, settings, encoder=HashEncoder(384))
        async with BotAPI() as api:
            env = os.environ | {
                "TELEGRAM_BOT_TOKEN": api.token,
                "TELEGRAM_API_BASE_URL": api.base_url,
                "QABOT_WEBHOOK_SECRET": SECRET,
                "QABOT_ARTICLES_DIR": str(articles),
                "QABOT_MIN_CONFIDENCE": "0",  # the fake encoder's confidence is low
                "QABOT_RECORD_QUESTIONS": "0",
            }
            one, two = Replica(_port(), api), Replica(_port(), api)
            args = [sys.executable, "-c", RUN, "bot", "--database-url", server.url]
            args += ["--listen", "127.0.0.1"]
            first = [*args, "--webhook", one.url, "--port", str(one.port)]
            second = [*args, "--webhook", two.url, "--port", str(two.port)]
            async with (
                subprocess(*first, cwd=tmp_path, env=env) as p1,
                subprocess(*second, cwd=tmp_path, env=env) as p2,
            ):
                try:
                    call = await api.wait_for("setWebhook", count=2, timeout=120)
                    assert call.params["secret_token"] == SECRET
                    assert "1969" in await one.ask("متى تأسست منظمة التعاون الإسلامي عام", 1)

                    # Without the secret, or with a wrong one: refused, and nothing is sent.
                    mark = api.mark()
                    assert await one.post("متى تأسست المنظمة؟", 2, secret=None) == 403
                    assert await two.post("متى تأسست المنظمة؟", 2, secret="wrong") == 403
                    await asyncio.sleep(1)
                    assert not api.calls_to("sendMessage", chat_id=2, since=mark)

                    # A follow-up POSTed to the other replica is read in context; /new
                    # there forgets for both; a reply to an answer works on either.
                    first = "من هو الأمين العام لمنظمة التعاون الإسلامي؟"
                    await one.ask(first, 8)
                    answer = api.calls_to("sendMessage", chat_id=8)[-1]
                    note = CONTEXT_NOTE.format(question=first)
                    assert note in await two.ask("ومتى تأسست المنظمة؟", 8)
                    assert await two.ask("/new", 8) == NEW_CONVERSATION
                    assert "سياق" not in await one.ask("ومتى تأسست المنظمة؟", 8)
                    assert note in await two.ask("ومتى تأسست؟", 8, reply_to=answer.result)

                    # A reindex by another process is answered from at once, by both.
                    (articles / "park.txt").write_text(PARK, encoding="utf-8")
                    await asyncio.to_thread(build_index, settings, encoder=HashEncoder(384))
                    park = "كم كلفت الحديقة العامة الجديدة على ضفاف النهر"
                    assert "حديقة عامة جديدة" in await two.ask(park, 3)
                    assert "حديقة عامة جديدة" in await one.ask(park, 4)

                    # The database lost: an apology, the replica keeps serving, then recovers.
                    await asyncio.to_thread(server.kill)
                    assert APOLOGY in await one.ask(park, 5)
                    await asyncio.sleep(10)  # past psycopg_pool's own back-off to 8 s
                    await asyncio.to_thread(server.run)
                    # The first question after the restart is answered (the pool reconnects
                    # at most RECONNECT_DELAY apart).
                    assert "حديقة عامة جديدة" in await one.ask(park, 6)
                    assert "1969" in await two.ask("متى تأسست منظمة التعاون الإسلامي عام", 7)
                finally:
                    for proc in (p1, p2):
                        if proc.returncode is None:
                            proc.send_signal(signal.SIGTERM)
                    outs = [await asyncio.wait_for(p.communicate(), 60) for p in (p1, p2)]
                errors = [err.decode() for _, err in outs]
                assert [p1.returncode, p2.returncode] == [0, 0], errors
    finally:
        close_pool(server.url)
        await asyncio.to_thread(server.destroy)
