"""HTTP front of the emulator: an aiohttp app speaking the Bot API wire protocol.

Routes: ``POST|GET /bot<TOKEN>/<method>`` (what PTB calls with
``base_url=<root>/bot``) and ``GET /file/bot<TOKEN>/<file_path>`` for downloads
(PTB's ``base_file_url=<root>/file/bot``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from .methods import SEND_METHODS, MethodHandlers
from .models import ApiCall, ApiError, Violation
from .spec import ApiSpec, DecodeError, UploadedFile
from .world import UserChat, World

logger = logging.getLogger(__name__)

__all__ = ["BotApiEmulator"]

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{5,}$")
_DEFAULT_BOT_ID = 7_000_000_001
# Updates Telegram leaves out unless explicitly requested in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_GLOBAL_SEND_LIMIT = 30  # messages per rolling second, all chats together
_CHAT_BURST = 3.0  # tokens; refills at one message per second per chat


@dataclass
class _Fault:
    method: str | None
    status: int
    description: str
    retry_after: int | None
    times: int
    drop_connection: bool
    delay: float


class Hold:
    """A Bot API call held on its way in (`BotApiEmulator.hold_next`).

    `arrived` is set once the bot made the call (its parameters are in `params`); the call then
    waits until `release()` answers it normally, or `drop()` closes the connection without
    performing it — what a bot killed before Telegram got its request leaves behind.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        self.params: dict[str, Any] = {}
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()
        self.dropped = False

    async def wait(self, timeout: float = 10.0) -> dict[str, Any]:
        """Waits until the bot made the call; returns its parameters."""
        try:
            await asyncio.wait_for(self.arrived.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no {self.method} call to hold within {timeout}s") from None
        return self.params

    def release(self) -> None:
        self.released.set()

    def drop(self) -> None:
        self.dropped = True
        self.released.set()


class BotApiEmulator:
    """A local, spec-strict fake of ``api.telegram.org`` for tests and the offline sandbox."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_username: str = "liaison_sandbox_bot",
        bot_first_name: str = "党建联络助手",
        rate_limit: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = ApiSpec.load()
        self._token = token
        self._bot_id_fixed = token is not None
        bot_id = int(token.split(":", 1)[0]) if token and token.split(":", 1)[0].isdigit() else _DEFAULT_BOT_ID
        self.bot_user: dict[str, Any] = {"id": bot_id, "is_bot": True, "first_name": bot_first_name,
                                         "username": bot_username}
        self.world = World(bot_user=self.bot_user, clock=clock)
        self.world.on_update = self._notify_threadsafe
        self.handlers = MethodHandlers(self.world, self.spec)
        self.rate_limit = rate_limit
        self.clock = clock
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._send_times: collections.deque[float] = collections.deque()
        self._chat_buckets: dict[Any, tuple[float, float]] = {}
        self._users: dict[int, UserChat] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._poll_generation = 0
        self._webhook_task: asyncio.Task[None] | None = None
        # Called with every ApiCall once it is recorded (answered): for tools that watch the
        # traffic as it happens (bench/throughput.py) instead of scanning `calls` on every change.
        self.call_listeners: list[Callable[[ApiCall], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._closing = False
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        address = self._runner.addresses[0]
        self._host, self._port = host, int(address[1])
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        logger.info("Bot API emulator listening on %s", self.root_url)

    async def stop(self) -> None:
        self._closing = True
        for hold in self._holds:  # nobody will release them now
            hold.drop()
        self._fire()  # Wake long polls so the server can shut down promptly.
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            try:
                await self._webhook_task
            except asyncio.CancelledError:
                pass
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        logger.info("Bot API emulator stopped")

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if self._port is None:
            raise RuntimeError("BotApiEmulator is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's ``ApplicationBuilder().base_url(...)``."""
        return f"{self.root_url}/bot"

    @property
    def file_base_url(self) -> str:
        """Value for PTB's ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.root_url}/file/bot"

    # ------------------------------------------------------------------ records

    @property
    def calls(self) -> list[ApiCall]:
        return self.world.calls

    @property
    def violations(self) -> list[Violation]:
        return self.world.violations

    @property
    def throttled(self) -> list[ApiCall]:
        return self.world.throttled

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return self.world.pending_updates

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.world.calls if c.method == method]

    # ------------------------------------------------------------------ driver

    def user(
        self,
        user_id: int,
        first_name: str = "测试用户",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> UserChat:
        """The private chat of a (new or existing) user; chat id = user id."""
        if user_id in self._users:
            return self._users[user_id]
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        chat = UserChat(self.world, user)
        self._users[user_id] = chat
        return chat

    def queue_raw(self, fields: dict[str, Any]) -> int:
        """Queues an update with these fields as they are, unchecked (see `World.enqueue_raw`);
        returns its update_id."""
        return self.world.enqueue_raw(fields)

    def redeliver(self, *update_ids: int) -> None:
        """Deliver these updates again (see `World.redeliver`)."""
        self.world.redeliver(*update_ids)

    def fail_next(
        self,
        method: str | None,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
        times: int = 1,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (any method if None) fail."""
        canonical = self.spec.canonical_method(method) if method else None
        if method and canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._faults.append(_Fault(canonical, status, description, retry_after, times, drop_connection, delay))

    def hold_next(self, method: str) -> Hold:
        """Holds the next call of ``method`` until the returned `Hold` is released or dropped:
        for killing the bot while a call is in flight (say, after a commit, before the reply)."""
        canonical = self.spec.canonical_method(method)
        if canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        hold = Hold(canonical)
        self._holds.append(hold)
        return hold

    # ------------------------------------------------------------------ signalling

    def _fire(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    def _notify_threadsafe(self) -> None:
        # UserChat actions may come from the sandbox's input thread.
        if self._loop is not None and self._loop_thread != threading.get_ident():
            self._loop.call_soon_threadsafe(self._fire)
        else:
            self._fire()

    async def _wait_change(self, timeout: float) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.0))
        except TimeoutError:
            pass

    def mark_processed(self, update_id: int) -> None:
        """Called by the bot side when it finished handling ``update_id``."""
        self.world.processed.add(update_id)
        self._notify_threadsafe()

    async def wait_processed(self, update_id: int, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while update_id not in self.world.processed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                pending = any(u["update_id"] == update_id for u in self.world.pending_updates)
                recent = [f"{c.method}({'ok' if c.ok else c.description})" for c in self.world.calls[-8:]]
                state = ("still queued: the bot never confirmed it (is polling/webhook running?)" if pending
                         else "delivered but mark_processed() was not called (handler stuck or not wired?)")
                raise TimeoutError(
                    f"update {update_id} not processed within {timeout}s; {state}; "
                    f"last calls: {recent}; violations: {[str(v) for v in self.world.violations]}"
                )
            await self._wait_change(remaining)

    async def wait_delivered(self, update_id: int, timeout: float = 30.0) -> None:
        """Waits until the webhook answered 2xx for ``update_id`` (a bot that answers after
        handling, as this one does, has then handled it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while update_id not in self.world.webhook_delivered:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"update {update_id} not delivered within {timeout}s; last webhook error: "
                                   f"{self.world.webhook_last_error}")
            await self._wait_change(remaining)

    async def wait_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Waits until the bot took ``update_id`` for good: a polling bot confirms an update by
        asking for the ones after it (getUpdates with a higher offset), a webhook by answering."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(u["update_id"] == update_id for u in self.world.pending_updates):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"update {update_id} not confirmed within {timeout}s")
            await self._wait_change(remaining)

    async def wait_for_call(
        self, predicate: Callable[[ApiCall], bool], timeout: float = 10.0, *, start: int = 0
    ) -> ApiCall:
        """First recorded call at index >= ``start`` matching ``predicate`` (waits for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = start
        while True:
            calls = self.world.calls
            for call in calls[checked:]:
                if predicate(call):
                    return call
            checked = max(checked, len(calls))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no matching API call within {timeout}s; calls since #{start}: "
                    f"{[c.method for c in calls[start:]]}"
                )
            await self._wait_change(remaining)

    # ------------------------------------------------------------------ HTTP

    def _check_token(self, token: str) -> None:
        if self._token is not None:
            if token != self._token:
                raise ApiError(401, "Unauthorized")
            return
        if not _TOKEN_RE.match(token):
            raise ApiError(401, "Unauthorized")
        if not self._bot_id_fixed:
            # Adopt the id of the first token we see, like Telegram's getMe would report.
            self.bot_user["id"] = int(token.split(":", 1)[0])
            self._bot_id_fixed = True

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method != "POST" or not request.can_read_body:
            return raw, files
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from exc
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            raw.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    # Some clients (aiohttp) percent-encode non-ASCII file names; httpx sends UTF-8.
                    filename = urllib.parse.unquote(value.filename) if "%" in value.filename else value.filename
                    files[name] = UploadedFile(name, filename, value.file.read(), value.content_type)
                else:
                    raw[name] = value
        return raw, files

    async def _hold(self, hold: Hold, params: dict[str, Any], request: web.Request) -> None:
        hold.params = params
        hold.arrived.set()
        self._fire()
        try:
            await hold.released.wait()
        finally:
            self._holds.remove(hold)
        if hold.dropped:
            if request.transport is not None:
                request.transport.abort()
            raise ApiError(502, "Bad Gateway: the held call was dropped before Telegram performed it",
                           violation=False)

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_flood(self, chat_id: Any) -> None:
        now = self.clock()
        while self._send_times and now - self._send_times[0] >= 1.0:
            self._send_times.popleft()
        retry: float | None = None
        if len(self._send_times) >= _GLOBAL_SEND_LIMIT:
            retry = self._send_times[0] + 1.0 - now
        tokens, last = self._chat_buckets.get(chat_id, (_CHAT_BURST, now))
        tokens = min(_CHAT_BURST, tokens + (now - last))
        if retry is None and tokens < 1.0:
            retry = 1.0 - tokens
        if retry is not None:
            seconds = max(1, math.ceil(retry))
            raise ApiError(429, f"Too Many Requests: retry after {seconds}",
                           parameters={"retry_after": seconds}, violation=False)
        self._send_times.append(now)
        self._chat_buckets[chat_id] = (tokens - 1.0, now)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        call = ApiCall(index=-1, method=method, params={}, time=time.time())
        status = 200
        try:
            self._check_token(request.match_info["token"])
            canonical = self.spec.canonical_method(method)
            if canonical is None:
                raise ApiError(404, "Not Found")
            call.method = method = canonical
            raw, files = await self._read_params(request)
            call.files = {name: (f.filename, f.content) for name, f in files.items()}
            try:
                params = self.spec.decode_params(method, raw, files)
            except DecodeError as exc:
                call.params = raw
                raise ApiError(400, str(exc)) from exc
            call.params = params
            call.chat_id = self.handlers.chat_id_of(params)
            hold = next((h for h in self._holds if h.method == method and not h.arrived.is_set()), None)
            if hold is not None:
                await self._hold(hold, params, request)
            fault = self._take_fault(method)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop_connection and request.transport is not None:
                    request.transport.abort()
                parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
                raise ApiError(fault.status, fault.description, parameters=parameters, violation=False)
            problems = self.spec.validate_call(method, params)
            if problems:
                raise ApiError(400, problems[0])
            if self.rate_limit and method in SEND_METHODS:
                self._check_flood(call.chat_id)
            if method == "getUpdates":
                result: Any = await self._get_updates(params, request)
            elif method in self.handlers.handlers:
                result = self.handlers.handlers[method](params)
            else:
                raise ApiError(501, f"Not Implemented: method {method} is not emulated")
            body: dict[str, Any] = {"ok": True, "result": result}
            call.ok = True
        except ApiError as exc:
            body = exc.body()
            status = exc.error_code
            if exc.violation:
                self.world.violations.append(
                    Violation(method, exc.error_code, exc.description, dict(call.params), len(self.world.calls))
                )
                logger.warning("Bot API violation: %s %s", method, exc.description)
            if exc.error_code == 429:
                self.world.throttled.append(call)
        call.response = body
        call.status = status
        call.index = len(self.world.calls)
        self.world.calls.append(call)
        for listener in self.call_listeners:
            listener(call)
        logger.debug("%s -> %s %s", method, status, "ok" if call.ok else body.get("description"))
        self._fire()
        if request.transport is None or request.transport.is_closing():
            # The client is gone (dropped connection fault, cancelled long poll).
            return web.Response(status=status)
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_token(request.match_info["token"])
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.error_code)
        path = request.match_info["path"]
        stored = next((f for f in self.world.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.content, content_type=stored.mime_type or "application/octet-stream")

    # ------------------------------------------------------------------ updates

    def _confirm(self, offset: int) -> None:
        pending = self.world.pending_updates
        if offset < 0:
            # Negative offset: keep only the last -offset updates, forget the rest.
            del pending[: max(len(pending) + offset, 0)]
        else:
            pending[:] = [u for u in pending if u["update_id"] >= offset]

    def _deliverable(self, allowed: list[str] | None) -> list[dict[str, Any]]:
        pending = self.world.pending_updates
        keep: list[dict[str, Any]] = []
        for update in pending:
            kind = self.world.update_kind(update)
            wanted = kind in allowed if allowed else kind not in _OPT_IN_UPDATES
            if wanted:
                keep.append(update)
        # Telegram never delivers filtered-out updates later, so drop them now.
        pending[:] = keep
        return keep

    async def _get_updates(self, params: dict[str, Any], request: web.Request) -> list[dict[str, Any]]:
        world = self.world
        if world.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        if "allowed_updates" in params:
            world.allowed_updates = list(params["allowed_updates"]) or None
        if params.get("offset") is not None:
            self._confirm(int(params["offset"]))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(int(params.get("timeout") or 0), 0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._fire()  # An older long poll gets terminated (see below).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                client_gone = request.transport is None or request.transport.is_closing()
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                    "one bot instance is running", violation=not client_gone)
            updates = self._deliverable(world.allowed_updates)
            if updates or self._closing or world.webhook_url:
                return [json.loads(json.dumps(u)) for u in updates[:limit]]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._wait_change(remaining)

    async def _webhook_loop(self) -> None:
        backoff = 0.05
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                world = self.world
                updates = self._deliverable(world.webhook_allowed_updates) if world.webhook_url else []
                if not updates:
                    await self._wait_change(1.0)
                    continue
                update = updates[0]
                headers = {"Content-Type": "application/json"}
                if world.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = world.webhook_secret
                try:
                    async with session.post(world.webhook_url, data=json.dumps(update), headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=30)) as resp:
                        delivered = 200 <= resp.status < 300
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    delivered, error = False, f"Connection failed: {exc}"
                if delivered:
                    backoff = 0.05
                    if update in world.pending_updates:
                        world.pending_updates.remove(update)
                    world.webhook_delivered.append(update["update_id"])
                    self._fire()
                    continue
                world.webhook_last_error = (world.now(), error)
                logger.info("webhook delivery failed, retrying in %.2fs: %s", backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
