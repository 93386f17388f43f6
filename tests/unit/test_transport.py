"""The bot's aiohttp client (bot/transport.py) against a local HTTP server: what arrives, and
which PTB error each transport failure becomes — classified as the retry policy needs it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
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


async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured as by PTB's own client: the call goes to the proxy, in absolute form."""
    seen: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        while (await reader.readline()).strip():
            pass  # the headers
        seen.append(request_line.split()[1])
        body = json.dumps({"ok": True, "result": True}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, body = await request.do_request("http://api.telegram.invalid/bot1:x/getMe", "POST")
    finally:
        await request.shutdown()
        server.close()
        await server.wait_closed()
    assert (status, json.loads(body)) == (200, {"ok": True, "result": True})
    assert seen == ["http://api.telegram.invalid/bot1:x/getMe"]


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
