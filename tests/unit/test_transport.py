"""The bot's aiohttp client (bot/transport.py) against a local HTTP server: what arrives, and
which PTB error each transport failure becomes — classified as the retry policy needs it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.retry import Failure, classify
from bot.transport import AiohttpRequest, TolerantBot


class Server:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()  # a held call waits for this (never set: until the client gives up)
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            self.received.append((method, await request.json()))
        else:
            form = await request.post()
            self.received.append((method, {k: (v.filename, v.file.read()) if isinstance(v, web.FileField) else v
                                           for k, v in form.items()}))
        if method == "hold":
            await self.release.wait()
        if method == "drop":
            assert request.transport is not None
            request.transport.abort()
        return web.json_response({"ok": True, "result": True})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    app.router.add_post("/bot/{method}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/bot"
    yield state
    state.release.set()
    await runner.cleanup()


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    request = AiohttpRequest(read_timeout=0.2, connection_pool_size=1, pool_timeout=0.1, connect_timeout=0.1)
    await request.initialize()
    yield request
    await request.shutdown()


def _data(**params: Any) -> RequestData:
    return RequestData([RequestParameter.from_input(name, value) for name, value in params.items()])


async def test_parameters_go_as_json_and_nested_objects_as_ptb_serialises_them(
    server: Server, request_: AiohttpRequest,
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("今天", callback_data="f:1:2:today")]])
    result = await request_.post(f"{server.url}/sendMessage", _data(chat_id=5, text="走访：枝江市", reply_markup=markup))
    assert result is True
    method, body = server.received[0]
    assert method == "sendMessage" and body["chat_id"] == "5" and body["text"] == "走访：枝江市"
    assert json.loads(body["reply_markup"]) == markup.to_dict()


async def test_files_go_as_multipart_with_the_other_parameters(server: Server, request_: AiohttpRequest) -> None:
    document = InputFile(b"a,b\n1,2\n", filename="走访.csv", attach=False)
    await request_.post(f"{server.url}/sendDocument", _data(chat_id=5, caption="导出", document=document))
    method, body = server.received[0]
    assert method == "sendDocument" and body["chat_id"] == "5" and body["caption"] == "导出"
    assert body["document"] == ("走访.csv", b"a,b\n1,2\n")


async def test_a_refused_connection_was_not_sent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{port}/bot/sendMessage", _data(chat_id=5, text="x"))
    finally:
        await request.shutdown()
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert classify(caught.value) is Failure.NOT_SENT


async def test_no_answer_within_the_read_timeout_may_have_been_performed(server: Server, request_: AiohttpRequest) -> None:
    with pytest.raises(TimedOut) as caught:
        await request_.post(f"{server.url}/hold", _data(chat_id=5))
    assert classify(caught.value) is Failure.AMBIGUOUS


async def test_a_dropped_connection_may_have_been_performed(server: Server, request_: AiohttpRequest) -> None:
    with pytest.raises(NetworkError) as caught:
        await request_.post(f"{server.url}/drop", _data(chat_id=5))
    assert type(caught.value) is NetworkError
    assert classify(caught.value) is Failure.AMBIGUOUS


async def test_no_free_connection_in_the_pool_was_not_sent(server: Server, request_: AiohttpRequest) -> None:
    held = asyncio.create_task(request_.post(f"{server.url}/hold", _data(chat_id=5), read_timeout=30))
    while not server.received:  # the pool's only connection is taken
        await asyncio.sleep(0.01)
    with pytest.raises(TimedOut) as caught:
        await request_.post(f"{server.url}/sendMessage", _data(chat_id=6))
    assert classify(caught.value) is Failure.NOT_SENT
    assert [method for method, _ in server.received] == ["hold"]
    server.release.set()
    assert await held is True


class Proxy:
    """A forward HTTP proxy on loopback that answers every request itself: `seen` holds what it
    was asked for (the absolute URL of a plain-HTTP call, `CONNECT host:port` for an https one)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, target, _ = (await reader.readline()).decode().split(" ", 2)
        while (await reader.readline()).strip():
            pass  # the headers
        self.seen.append(f"CONNECT {target}" if method == "CONNECT" else target)
        if method == "CONNECT":  # no tunnel: the test only needs to see that it was asked for
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            body = json.dumps({"ok": True, "result": True}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxy]:
    """The proxy, with every proxy variable of the environment cleared (the tests set their own)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    state = Proxy()
    await state.start()
    yield state
    await state.stop()


@asynccontextmanager
async def _bot_requests() -> AsyncIterator[tuple[BaseRequest, BaseRequest]]:
    """The Bot API clients the bot is built with (`build_application`), initialized: getUpdates's
    and every other call's."""
    from bot.app import build_application
    from bot.config import Settings

    application = build_application(Settings(_env_file=None, database_url="sqlite://"))  # type: ignore[call-arg]
    requests = (application.bot._request[0], application.bot.request)
    for request in requests:
        await request.initialize()
    try:
        yield requests
    finally:
        for request in requests:
            await request.shutdown()
        await application.bot_data.session_factory.kw["bind"].dispose()


async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, proxy: Proxy) -> None:
    """HTTP_PROXY is honoured as by PTB's own client: the call goes to the proxy, in absolute form."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with _bot_requests() as (_, request):
        status, body = await request.do_request("http://api.telegram.invalid/bot1:x/getMe", "POST")
    assert (status, json.loads(body)) == (200, {"ok": True, "result": True})
    assert proxy.seen == ["http://api.telegram.invalid/bot1:x/getMe"]


async def test_https_calls_go_through_the_https_proxy_getupdates_too(monkeypatch: pytest.MonkeyPatch,
                                                                    proxy: Proxy) -> None:
    monkeypatch.setenv("https_proxy", proxy.url)
    async with _bot_requests() as (updates, request):
        for client, method in ((request, "getMe"), (updates, "getUpdates")):
            with pytest.raises(NetworkError):  # the test proxy refuses the tunnel
                await client.do_request(f"https://api.telegram.invalid/bot1:x/{method}", "POST")
    assert proxy.seen == ["CONNECT api.telegram.invalid:443"] * 2


async def test_a_host_in_no_proxy_is_reached_directly_and_others_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: Proxy, server: Server,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    async with _bot_requests() as (_, request):
        assert await request.post(f"{server.url}/sendMessage", _data(chat_id=5, text="直连")) is True
        await request.do_request("http://api.telegram.invalid/bot1:x/getMe", "POST")
    assert [method for method, _ in server.received] == ["sendMessage"]
    assert proxy.seen == ["http://api.telegram.invalid/bot1:x/getMe"]


async def test_the_proxy_environment_is_read_at_start_up_not_on_each_call(
    monkeypatch: pytest.MonkeyPatch, proxy: Proxy, server: Server,
) -> None:
    """Looking the environment and ~/.netrc up on every call cost a third of a form step's CPU."""
    import urllib.request

    import aiohttp.client
    import aiohttp.helpers

    lookups: list[str] = []

    def counted(module: Any, name: str) -> None:
        original = getattr(module, name)

        def lookup(*args: Any, **kwargs: Any) -> Any:
            lookups.append(name)
            return original(*args, **kwargs)
        monkeypatch.setattr(module, name, lookup)

    async with _bot_requests() as (_, request):
        for module, name in ((urllib.request, "getproxies"), (aiohttp.helpers, "getproxies"),
                             (aiohttp.helpers, "proxy_bypass"), (aiohttp.helpers, "netrc_from_env"),
                             (aiohttp.client, "netrc_from_env"), (aiohttp.client, "get_env_proxy_for_url")):
            counted(module, name)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # too late: the client was built without one
        for text in ("一", "二", "三"):
            assert await request.post(f"{server.url}/sendMessage", _data(chat_id=5, text=text)) is True
    assert lookups == []
    assert len(server.received) == 3 and proxy.seen == []


class UpdatesRequest(BaseRequest):
    """Answers getUpdates with the given batches, in turn; records the offsets asked for."""

    def __init__(self, *batches: list[Any]) -> None:
        self.batches = list(batches)
        self.offsets: list[Any] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *_args: Any, **_kwargs: Any) -> tuple[int, bytes]:
        assert url.endswith("/getUpdates") and request_data is not None
        self.offsets.append(request_data.parameters.get("offset"))
        batch = self.batches.pop(0) if self.batches else []
        return 200, json.dumps({"ok": True, "result": batch}).encode()


def _message(update_id: int, **drop: bool) -> dict[str, Any]:
    message = {"message_id": update_id, "date": 1, "chat": {"id": 5, "type": "private"}, "text": "hi"}
    return {"update_id": update_id, "message": {k: v for k, v in message.items() if not drop.get(k)}}


async def test_an_unparseable_update_is_skipped_and_confirmed_once_the_updater_took_the_rest() -> None:
    request = UpdatesRequest([_message(1), _message(2, date=True)], [], [])
    bot = TolerantBot("123:abcdef", get_updates_request=request)
    assert [u.update_id for u in await bot.get_updates(offset=0)] == [1]
    assert bot.unparseable_updates == 1
    # The Updater took update 1 and asks from 2; the skipped 2 is confirmed with it.
    await bot.get_updates(offset=2)
    # Past it, offsets are the Updater's again.
    await bot.get_updates(offset=2)
    assert request.offsets == [0, 3, 2]


async def test_updates_the_updater_did_not_take_are_not_confirmed_behind_its_back() -> None:
    request = UpdatesRequest([_message(1), _message(2, date=True)], [_message(1), _message(2, date=True)])
    bot = TolerantBot("123:abcdef", get_updates_request=request)
    await bot.get_updates(offset=0)
    # Stopped before it queued update 1, the Updater asks from 0 again: 1 must come back.
    assert [u.update_id for u in await bot.get_updates(offset=0)] == [1]
    await bot.get_updates(offset=-1)  # "the last update": left alone
    assert request.offsets == [0, 0, -1]
