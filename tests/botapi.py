"""A small Telegram Bot API stand-in: real HTTP on 127.0.0.1, every call recorded, faults on cue.

The bot under test talks to it exactly as to Telegram (``base_url=api.base_url``), so
tests exercise python-telegram-bot's real request, retry and rate-limit code.

    async with BotAPI() as api:
        mark = api.mark()
        api.push_message("متى تأسست المنظمة؟", chat_id=42)
        call = await api.wait_for("sendMessage", chat_id=42, since=mark)

Faults: ``fail`` (5xx, 429 with retry_after, malformed JSON, a hang past the client's
timeout), ``lose_response`` (the call takes effect, then its response is a 502 or a
dropped connection), ``slow`` (a late but good answer), ``chaos`` (random 5xx/429/lost
responses at given rates) and ``go_down``/``come_back`` (connection refused). Every update
handed out by a good getUpdates is counted in ``deliveries``; ``offset`` is the highest one
the bot confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import random
import re
import socket
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAHk1XyZtestTOKENsecret_part-0123456789"
BOT_USERNAME = "qabot_test_bot"
MAX_POLL = 2.0  # seconds a getUpdates may hang, whatever the client asks: tests stay quick
_TEXT_KEYS = {
    "text", "caption", "parse_mode", "action", "callback_query_id", "url", "data", "file_id"
}  # fmt: skip


@dataclass
class Call:
    """One request the bot made: what, with which parameters, when, and what it got back."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    status: int
    result: Any = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


@dataclass
class Fault:
    """How to answer one call instead of normally.

    ``delay`` waits before answering; with status 200 the call is then handled normally
    (slow), else it fails having done nothing, as a front end that gave up on its backend.
    ``after_effect``: the call is handled normally (a message is delivered and recorded with
    status 200), then the client gets ``status`` instead of the result, or (``drop``) a
    connection closed without any response: the case a retry can turn into a duplicate.
    """

    status: int = 500
    retry_after: int | None = None
    malformed: bool = False
    delay: float = 0.0
    after_effect: bool = False
    drop: bool = False


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram would attach: a leading /command and every @mention."""
    found = []
    command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
    if command:
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(command[0])})
    for match in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{5,32}", text):
        if command and match.start() < command.end():
            continue
        offset = utf16_len(text[: match.start()])
        found.append({"type": "mention", "offset": offset, "length": utf16_len(match[0])})
    return found


def _decode(key: str, value: str) -> Any:
    """Form fields arrive as strings; PTB JSON-encodes everything that is not a string."""
    if key in _TEXT_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class _HTMLChecker(HTMLParser):
    """Telegram's HTML rules, strictly: known tags, balanced, only four named entities."""

    TAGS = {"b", "i", "a", "u", "s", "code", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.TAGS:
            raise ValueError(f"unsupported start tag {tag!r}")
        if tag == "a" and [name for name, _ in attrs] != ["href"]:
            raise ValueError(f"<a> needs exactly one href, got {attrs!r}")
        if tag != "a" and attrs:
            raise ValueError(f"<{tag}> takes no attributes")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            raise ValueError(f"unexpected end tag {tag!r}")

    def handle_data(self, data: str) -> None:
        if any(ch in data for ch in "<>&"):
            raise ValueError(f"unescaped character in {data[:40]!r}")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            raise ValueError(f"unsupported entity &{name};")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))

    def unknown_decl(self, data: str) -> None:
        raise ValueError(f"unexpected markup {data[:40]!r}")

    handle_decl = handle_pi = handle_comment = unknown_decl


def parse_html(text: str) -> str:
    """The plain text Telegram would show for ``text`` in HTML mode; ValueError if it would
    reject it (unknown or unbalanced tags, unescaped ``<>&``, unknown entities)."""
    checker = _HTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        raise ValueError(f"unclosed tags {checker.stack}")
    if checker.rawdata:
        raise ValueError(f"unparsed rest {checker.rawdata[:40]!r}")
    return "".join(checker.text)


class _BadRequest(Exception):
    """Answered as Telegram's 400 with this description."""


class BotAPI:
    """The stand-in server; use as ``async with BotAPI() as api``."""

    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME, port: int = 0) -> None:
        self.token = token
        self.bot = {
            "id": int(token.partition(":")[0]),
            "is_bot": True,
            "first_name": "QA Bot",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.commands: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._chats: dict[int, dict[str, Any]] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Event()  # set and replaced whenever something happens
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = port  # 0: any free port
        self.deliveries: Counter[int] = Counter()  # update_id -> times handed out
        self.offset = 0  # the bot has confirmed every update below this
        self._chaos: dict[str, tuple[float, float, int, float]] = {}
        self.lost: list[Call] = []  # calls that took effect but whose response was lost
        self._random = random.Random(0)
        self.files: dict[str, bytes] = {}  # file_id -> content, for getFile and downloads

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve on a free port, or on the same port again after ``go_down``."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def go_down(self) -> None:
        """Close the port and every connection: the bot now meets "connection refused"."""
        await self.stop()

    async def come_back(self) -> None:
        """Listen on the same port again, with every queued update still there."""
        self._closing = False
        await self.start()

    async def __aenter__(self) -> BotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What PTB's ``base_url`` means: the token and method are appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------------ test controls

    def fail(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        retry_after: int | None = None,
        malformed: bool = False,
        hang: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls to ``method`` with an error instead.

        ``hang`` seconds of silence first: longer than the client's read timeout, that is
        a timeout, and the call has no effect (a 504 nobody reads).
        """
        if retry_after is not None:
            status = 429
        if malformed:
            status = 200  # a broken body behind a success status, as a flaky proxy sends
        if hang:
            status = 504
        for _ in range(times):
            self._faults[method].append(Fault(status, retry_after, malformed, hang))

    def lose_response(
        self, method: str, times: int = 1, *, status: int = 502, drop: bool = False
    ) -> None:
        """Carry out the next ``times`` calls to ``method``, then lose their responses: the
        client gets ``status`` (or, with ``drop``, a closed connection) although the call
        took effect. ``lost`` counts them."""
        for _ in range(times):
            self._faults[method].append(Fault(status, after_effect=True, drop=drop))

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` correctly, but ``seconds`` late."""
        for _ in range(times):
            self._faults[method].append(Fault(200, delay=seconds))

    def chaos(
        self,
        method: str,
        *,
        errors: float = 0.0,
        limits: float = 0.0,
        retry_after: int = 1,
        lost: float = 0.0,
    ) -> None:
        """From now on fail each call to ``method`` at random: a 5xx with probability
        ``errors``, a 429 with ``retry_after`` with probability ``limits``, a response lost
        after the call took effect (a 502) with probability ``lost`` (seeded: repeatable)."""
        self._chaos[method] = (errors, limits, retry_after, lost)

    def _random_fault(self, method: str) -> Fault | None:
        errors, limits, retry_after, lost = self._chaos.get(method, (0.0, 0.0, 0, 0.0))
        roll = self._random.random()
        if roll < errors:
            return Fault(self._random.choice([500, 502, 503]))
        if roll < errors + limits:
            return Fault(429, retry_after)
        if roll < errors + limits + lost:
            return Fault(502, after_effect=True)
        return None

    def chat(self, chat_id: int, chat_type: str = "private") -> dict[str, Any]:
        """The chat object for ``chat_id`` (made on first use)."""
        if chat_id not in self._chats:
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = "Tester"
            else:
                chat["title"] = f"Group {chat_id}"
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Tester", "language_code": "ar"}

    def push_message(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        user_id: int | None = None,
        chat_type: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a user's text message (entities for /commands and @mentions included)."""
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self.user(user_id if user_id is not None else abs(chat_id)),
            "chat": self.chat(chat_id, kind),
            "date": int(time.time()),
            "text": text,
        }
        if entities := _entities(text):
            message["entities"] = entities
        if reply_to:
            message["reply_to_message"] = reply_to
        self._push({"message": message})
        return message

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue any other update (``edited_message``, ``my_chat_member``…) as given."""
        self._push({kind: payload})
        return payload

    def new_message(
        self, *, chat_id: int = 1001, user_id: int | None = None, chat_type: str | None = None
    ) -> dict[str, Any]:
        """A user's message without content yet: add ``text``, ``caption``, ``sticker``…"""
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        return {
            "message_id": next(self._message_ids),
            "from": self.user(user_id if user_id is not None else abs(chat_id)),
            "chat": self.chat(chat_id, kind),
            "date": int(time.time()),
        }

    def push_document(
        self,
        name: str,
        data: bytes,
        *,
        chat_id: int = 1001,
        user_id: int | None = None,
        caption: str | None = None,
        mime_type: str = "text/plain",
    ) -> dict[str, Any]:
        """Queue a user's document (its bytes served by getFile and the file URL)."""
        file_id = f"doc{len(self.files) + 1}"
        self.files[file_id] = data
        message = self.new_message(chat_id=chat_id, user_id=user_id)
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        if caption is not None:
            message["caption"] = caption
            if entities := _entities(caption):
                message["caption_entities"] = entities
        self._push({"message": message})
        return message

    def push_callback(
        self, data: str, *, message: dict[str, Any], user_id: int | None = None
    ) -> str:
        """Queue a button press on ``message`` (a message the bot sent); returns the query id."""
        query_id = str(next(self._query_ids))
        user = user_id if user_id is not None else abs(message["chat"]["id"])
        query = {
            "id": query_id,
            "from": self.user(user),
            "message": message,
            "chat_instance": str(message["chat"]["id"]),
            "data": data,
        }
        self._push({"callback_query": query})
        return query_id

    def mark(self) -> int:
        """An index into ``calls``; pass it as ``since`` to look only at later calls."""
        return len(self.calls)

    def calls_to(self, method: str, *, chat_id: int | None = None, since: int = 0) -> list[Call]:
        return [
            c
            for c in self.calls[since:]
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    async def wait_for(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        since: int = 0,
        count: int = 1,
        timeout: float = 15.0,
    ) -> Call:
        """Wait until ``count`` successful calls to ``method`` were made; returns the last."""

        def done() -> bool:
            calls = self.calls_to(method, chat_id=chat_id, since=since)
            return len([c for c in calls if c.status == 200]) >= count

        await self._wait(done, timeout)
        return [c for c in self.calls_to(method, chat_id=chat_id, since=since) if c.status == 200][
            count - 1
        ]

    # ------------------------------------------------------------------ HTTP side

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, predicate: Any, timeout: float) -> None:
        """Wait until ``predicate()`` holds; TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            params.update({k: _decode(k, v) for k, v in form.items() if isinstance(v, str)})
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if request.match_info["token"] != self.token:
            return await self._record(method, params, 401, None, "Unauthorized")
        fault = self._faults[method].popleft() if self._faults[method] else None
        fault = fault or self._random_fault(method)
        if fault and fault.after_effect:
            return await self._lose(method, params, fault, request)
        if fault and (fault.status != 200 or fault.malformed):
            return await self._fault(method, params, fault)
        if fault:  # slow, then as usual
            await asyncio.sleep(fault.delay)
        try:
            if method == "getUpdates":
                result: Any = await self._get_updates(params, request)
            else:
                result = self._result(method, params)
        except _BadRequest as exc:
            return await self._record(method, params, 400, None, f"Bad Request: {exc}")
        return await self._record(method, params, 200, result)

    async def _download(self, request: web.Request) -> web.Response:
        """A file's bytes at ``/file/bot<token>/<file_path>``, as Telegram serves them."""
        path = request.match_info["path"]
        self.calls.append(Call("download", {"file_path": path}, time.monotonic(), 200))
        self._notify()
        data = self.files.get(path.rpartition("/")[2])
        if request.match_info["token"] != self.token or data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _record(
        self, method: str, params: dict[str, Any], status: int, result: Any, error: str = ""
    ) -> web.Response:
        self.calls.append(Call(method, params, time.monotonic(), status, result))
        self._notify()
        if status == 200:
            return web.json_response({"ok": True, "result": result})
        return web.json_response(
            {"ok": False, "error_code": status, "description": error}, status=status
        )

    async def _lose(
        self, method: str, params: dict[str, Any], fault: Fault, request: web.Request
    ) -> web.Response:
        """Handle the call for real, then answer ``fault.status`` or hang up instead."""
        try:
            result = self._result(method, params)
        except _BadRequest as exc:
            return await self._record(method, params, 400, None, f"Bad Request: {exc}")
        await self._record(method, params, 200, result)
        self.lost.append(self.calls[-1])
        if fault.drop and request.transport is not None:
            request.transport.close()  # the client reads a closed connection, no status line
            raise asyncio.CancelledError
        body = {"ok": False, "error_code": fault.status, "description": "Bad Gateway"}
        return web.json_response(body, status=fault.status)

    async def _fault(self, method: str, params: dict[str, Any], fault: Fault) -> web.Response:
        self.calls.append(Call(method, params, time.monotonic(), fault.status))
        self._notify()
        await asyncio.sleep(fault.delay)  # recorded on arrival; answered (if ever read) later
        if fault.malformed:
            return web.Response(text='{"ok": true, "result": [', content_type="application/json")
        body: dict[str, Any] = {"ok": False, "error_code": fault.status}
        if fault.retry_after is not None:
            body["description"] = f"Too Many Requests: retry after {fault.retry_after}"
            body["parameters"] = {"retry_after": fault.retry_after}
        else:
            body["description"] = "Gateway Timeout" if fault.delay else "Internal Server Error"
        return web.json_response(body, status=fault.status)

    async def _get_updates(
        self, params: dict[str, Any], request: web.Request
    ) -> list[dict[str, Any]]:
        """Long polling: confirm updates below ``offset``, wait up to ``timeout`` for new ones.

        A client that hung up meanwhile (a bot that stopped) is handed nothing, so
        ``deliveries`` counts what a bot could have received.
        """
        offset = int(params.get("offset") or 0)
        self.offset = max(self.offset, offset)
        self._updates = [u for u in self._updates if u["update_id"] >= self.offset]
        timeout = min(float(params.get("timeout") or 0), MAX_POLL)
        with contextlib.suppress(TimeoutError):
            await self._wait(lambda: bool(self._updates) or self._closing, timeout)
        limit = int(params.get("limit") or 100)
        gone = request.transport is None or request.transport.is_closing()
        handed = [] if self._closing or gone else self._updates[:limit]
        self.deliveries.update(u["update_id"] for u in handed)
        return handed

    def pending(self) -> list[int]:
        """Ids of updates the bot has not confirmed yet (Telegram would hand them out again)."""
        return [u["update_id"] for u in self._updates if u["update_id"] >= self.offset]

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": self.chat(chat_id, "private" if chat_id > 0 else "supergroup"),
            "date": int(time.time()),
            "text": self._text(params),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _text(self, params: dict[str, Any]) -> str:
        """The message text as Telegram would store it, or the 400 it would answer."""
        text = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            try:
                text = parse_html(text)
            except ValueError as exc:
                raise _BadRequest(f"can't parse entities: {exc}") from exc
        if utf16_len(text) > 4096:
            raise _BadRequest("message is too long")
        return text

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return self.bot
        if method == "sendMessage":
            if not str(params.get("text", "")).strip():
                raise _BadRequest("message text is empty")
            return self._message(params)
        if method in ("editMessageText", "editMessageReplyMarkup") and "chat_id" in params:
            edited = self._message(params)
            edited["message_id"] = params.get("message_id")
            edited["edit_date"] = int(time.time())
            return edited
        if method == "getFile":
            file_id = str(params.get("file_id"))
            if file_id not in self.files:
                raise _BadRequest("invalid file_id")
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"documents/{file_id}",
            }
        if method == "setMyCommands":
            self.commands = params.get("commands", [])
            return True
        if method == "getMyCommands":
            return self.commands
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True  # deleteWebhook, sendChatAction, answerCallbackQuery, editMessageReplyMarkup…


@contextlib.asynccontextmanager
async def subprocess(*args: str, cwd: Any, env: dict[str, str]) -> Any:
    """A child process with piped output, killed on the way out if it is still running."""
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def running(settings: Any, retriever: Any, **options: Any) -> Any:
    """The real Application as run_polling runs it, minus the signal handling.

    ``options`` go to ``build_application`` (timeouts, retry policy, encoder…).
    """
    from qabot.bot import build_application

    app = build_application(settings, retriever, **options)
    async with app:
        await app.post_init(app)
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def settled(api: BotAPI, app: Any, timeout: float = 15.0) -> None:
    """Wait until the bot has fetched and handled every update pushed so far.

    Chats are handled concurrently (each one's updates in order), so a reply in one chat no
    longer means an update of another chat was handled: this asks the application. An
    update is confirmed (below ``offset``) once polling put it on the update queue, and the
    queue counts it as handed out until its handlers are done.
    """
    queue = app.update_queue
    async with asyncio.timeout(timeout):
        while api.pending() or queue.qsize() or queue.handed:
            await asyncio.sleep(0.01)
