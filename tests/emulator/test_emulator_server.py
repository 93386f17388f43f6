"""HTTP-level behaviour of the emulator (calls made like PTB makes them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Update

from bot.emulator import BotApiEmulator

TOKEN = "123:ABCDEF"
ApiFn = Callable[..., Coroutine[Any, Any, tuple[int, dict[str, Any]]]]
FakeClock = Any  # conftest.FakeClock (fixtures are not importable across test packages)

pytestmark = pytest.mark.asyncio

KB = {"inline_keyboard": [[{"text": "好", "callback_data": "ok"}]]}


async def test_get_me_and_unknown_method(emu: BotApiEmulator, api: ApiFn) -> None:
    status, body = await api("getMe")
    assert status == 200 and body["ok"] is True
    assert body["result"]["is_bot"] is True and body["result"]["id"] == 123
    assert body["result"]["first_name"] == "党建联络助手"
    status, body = await api("sendTelepathy")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert emu.violations[-1].error_code == 404


async def test_wrong_token_is_unauthorized() -> None:
    async with BotApiEmulator(token="123:ABCDEF") as emu, aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}999:WRONGTOKEN/getMe") as resp:
            assert resp.status == 401
            assert (await resp.json())["description"] == "Unauthorized"
        async with session.post(f"{emu.base_url}123:ABCDEF/getMe") as resp:
            assert resp.status == 200


async def test_chat_not_found_until_user_writes(emu: BotApiEmulator, api: ApiFn) -> None:
    status, body = await api("sendMessage", chat_id=42, text="hi")
    assert status == 400 and body["description"] == "Bad Request: chat not found"
    emu.user(42).send_text("hello")
    status, body = await api("sendMessage", chat_id=42, text="hi")
    assert status == 200 and body["result"]["message_id"] == 2
    assert body["result"]["chat"] == {"id": 42, "type": "private", "first_name": "测试用户"}
    assert len(emu.violations) == 1


async def test_unknown_parameter_and_wrong_type(emu: BotApiEmulator, api: ApiFn) -> None:
    emu.user(1).send_text("hi")
    status, body = await api("sendMessage", chat_id=1, text="x", colour="red")
    assert status == 400 and body["description"] == "Bad Request: unknown parameter 'colour'"
    status, body = await api("sendMessage", chat_id=1, text="x", disable_notification="maybe")
    assert status == 400 and "Boolean" in body["description"]
    status, body = await api("sendMessage", chat_id=1)
    assert body["description"] == "Bad Request: parameter 'text' is required"
    status, body = await api("sendMessage", chat_id=1, text="x", reply_markup="{not json")
    assert body["description"] == "Bad Request: can't parse reply keyboard markup JSON object"
    assert [v.error_code for v in emu.violations] == [400, 400, 400, 400]


async def test_text_length_counted_after_entity_parsing(emu: BotApiEmulator, api: ApiFn) -> None:
    chat = emu.user(7)
    chat.send_text("hi")
    status, _ = await api("sendMessage", chat_id=7, text="a" * 4096)
    assert status == 200
    status, _ = await api("sendMessage", chat_id=7, text="<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    assert status == 200
    status, body = await api("sendMessage", chat_id=7, text="a" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    # UTF-16: 2048 emoji are 4096 units.
    assert (await api("sendMessage", chat_id=7, text="😀" * 2048))[0] == 200
    assert (await api("sendMessage", chat_id=7, text="😀" * 2048 + "a"))[0] == 400
    status, body = await api("sendMessage", chat_id=7, text="<b> </b>", parse_mode="HTML")
    assert body["description"] == "Bad Request: message text is empty"
    status, body = await api("sendMessage", chat_id=7, text="<x>", parse_mode="HTML")
    assert body["description"].startswith("Bad Request: can't parse entities: Unsupported start tag")
    status, body = await api("sendMessage", chat_id=7, text="v1.0", parse_mode="MarkdownV2")
    assert body["description"].startswith("Bad Request: can't parse entities:")
    assert len(emu.violations) == 5
    assert chat.messages[0]["text"] == "a" * 4096 and chat.messages[1]["entities"][0]["length"] == 4096


@pytest.mark.parametrize(
    "data, ok",
    [("a" * 64, True), ("a" * 65, False), ("党" * 21, True), ("党" * 22, False), ("", False)],
)
async def test_callback_data_limit_in_bytes(emu: BotApiEmulator, api: ApiFn, data: str, ok: bool) -> None:
    emu.user(5).send_text("hi")
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}
    status, body = await api("sendMessage", chat_id=5, text="t", reply_markup=markup)
    assert (status == 200) is ok
    if not ok:
        assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize(
    "button, description",
    [
        ({"text": "", "callback_data": "a"}, "BUTTON_TEXT_INVALID"),
        ({"text": "x"}, "text buttons are unallowed"),
        ({"text": "x", "callback_data": "a", "url": "https://t.me"}, "exactly one of"),
        ({"text": "x", "url": "javascript:alert(1)"}, "BUTTON_URL_INVALID"),
    ],
)
async def test_inline_button_rules(emu: BotApiEmulator, api: ApiFn, button: dict[str, Any], description: str) -> None:
    emu.user(5).send_text("hi")
    status, body = await api("sendMessage", chat_id=5, text="t", reply_markup={"inline_keyboard": [[button]]})
    assert status == 400 and description in body["description"]


async def test_at_most_100_buttons(emu: BotApiEmulator, api: ApiFn) -> None:
    emu.user(5).send_text("hi")
    rows = [[{"text": str(i), "callback_data": str(i)}] for i in range(101)]
    status, body = await api("sendMessage", chat_id=5, text="t", reply_markup={"inline_keyboard": rows})
    assert (status, body["description"]) == (400, "Bad Request: reply markup is too long")


async def test_edit_rules(emu: BotApiEmulator, api: ApiFn) -> None:
    chat = emu.user(9)
    chat.send_text("hi")
    _, body = await api("sendMessage", chat_id=9, text="v1", reply_markup=KB)
    mid = body["result"]["message_id"]
    status, body = await api("editMessageText", chat_id=9, message_id=mid, text="v1", reply_markup=KB)
    assert status == 400 and body["description"].startswith("Bad Request: message is not modified")
    status, body = await api("editMessageText", chat_id=9, message_id=999, text="x")
    assert body["description"] == "Bad Request: message to edit not found"
    status, body = await api("editMessageText", chat_id=9, message_id=1, text="x")
    assert body["description"] == "Bad Request: message can't be edited"
    # Same text without reply_markup removes the keyboard, which *is* a modification.
    status, body = await api("editMessageText", chat_id=9, message_id=mid, text="v1")
    assert status == 200 and "reply_markup" not in body["result"] and "edit_date" in body["result"]
    status, body = await api("editMessageReplyMarkup", chat_id=9, message_id=mid, reply_markup=KB)
    assert status == 200 and chat.buttons() == [["好"]]
    status, body = await api("editMessageReplyMarkup", chat_id=9, message_id=mid, reply_markup=KB)
    assert body["description"].startswith("Bad Request: message is not modified")
    assert (await api("deleteMessage", chat_id=9, message_id=mid))[0] == 200
    status, body = await api("deleteMessage", chat_id=9, message_id=mid)
    assert body["description"] == "Bad Request: message to delete not found"
    assert chat.messages == []


async def test_callback_query_answers(emu: BotApiEmulator, api: ApiFn, clock: FakeClock) -> None:
    chat = emu.user(3, "李四")
    chat.send_text("/start")
    await api("sendMessage", chat_id=3, text="选择", reply_markup={
        "inline_keyboard": [[{"text": "同意 ✅", "callback_data": "yes"}, {"text": "链接", "url": "https://t.me"}]]})
    with pytest.raises(LookupError, match="available buttons"):
        chat.tap("不存在")
    with pytest.raises(LookupError, match="no callback_data"):
        chat.tap("链接")
    chat.tap("同意")  # substring match when there is no exact one
    _, body = await api("getUpdates")
    query = body["result"][-1]["callback_query"]
    assert query["data"] == "yes" and query["from"]["first_name"] == "李四"
    assert query["message"]["text"] == "选择" and query["chat_instance"]
    status, _ = await api("answerCallbackQuery", callback_query_id=query["id"], text="好的")
    assert status == 200
    status, body = await api("answerCallbackQuery", callback_query_id=query["id"])
    assert body["description"] == ("Bad Request: query is too old and response timeout expired "
                                   "or query ID is invalid")
    assert len(chat.callback_answers) == 2
    chat.tap(data="yes")
    _, body = await api("getUpdates")
    late = body["result"][-1]["callback_query"]["id"]
    clock.advance(15 * 60 + 1)
    status, _ = await api("answerCallbackQuery", callback_query_id=late)
    assert status == 400
    status, body = await api("answerCallbackQuery", callback_query_id="nope", text="x" * 201)
    assert status == 400


async def test_blocked_user_is_forbidden_but_not_a_violation(emu: BotApiEmulator, api: ApiFn) -> None:
    chat = emu.user(4)
    chat.send_text("hi")
    chat.block()
    status, body = await api("sendMessage", chat_id=4, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert emu.violations == []
    chat.unblock()
    assert (await api("sendMessage", chat_id=4, text="x"))[0] == 200


async def test_commands_per_scope_and_language(emu: BotApiEmulator, api: ApiFn) -> None:
    emu.user(8).send_text("hi")
    cmds = [{"command": "start", "description": "开始"}, {"command": "help", "description": "帮助"}]
    assert (await api("setMyCommands", commands=cmds))[0] == 200
    assert (await api("setMyCommands", commands=cmds[:1], scope={"type": "chat", "chat_id": 8},
                      language_code="zh"))[0] == 200
    assert (await api("getMyCommands"))[1]["result"] == cmds
    assert (await api("getMyCommands", scope={"type": "chat", "chat_id": 8}, language_code="zh"))[1][
        "result"] == cmds[:1]
    assert (await api("getMyCommands", scope={"type": "all_private_chats"}))[1]["result"] == []
    for bad in ({"command": "Start", "description": "x"}, {"command": "a" * 33, "description": "x"},
                {"command": "ok", "description": ""}, {"command": "ok", "description": "x" * 257}):
        assert (await api("setMyCommands", commands=[bad]))[0] == 400
    many = [{"command": f"c{i}", "description": "d"} for i in range(101)]
    assert (await api("setMyCommands", commands=many))[0] == 400
    assert (await api("deleteMyCommands"))[0] == 200
    assert (await api("getMyCommands"))[1]["result"] == []
    assert (await api("setChatMenuButton", chat_id=8, menu_button={"type": "commands"}))[0] == 200
    assert (await api("getChatMenuButton", chat_id=8))[1]["result"] == {"type": "commands"}


async def test_get_updates_offset_limit_and_long_poll(emu: BotApiEmulator, api: ApiFn) -> None:
    chat = emu.user(11)
    ids = [chat.send_text(f"m{i}") for i in range(3)]
    _, body = await api("getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    _, body = await api("getUpdates", offset=ids[1] + 1)
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    _, body = await api("getUpdates", offset=ids[2] + 1, timeout=0)
    assert body["result"] == []
    poll = asyncio.create_task(api("getUpdates", offset=ids[2] + 1, timeout=5))
    await asyncio.sleep(0.05)
    new_id = chat.send_location(39.9, 116.4)
    _, body = await asyncio.wait_for(poll, 2)
    assert body["result"][0]["update_id"] == new_id
    assert body["result"][0]["message"]["location"] == {"latitude": 39.9, "longitude": 116.4}


async def test_fail_next_and_not_emulated(emu: BotApiEmulator, api: ApiFn) -> None:
    emu.fail_next("getMe", status=502, description="Bad Gateway")
    assert (await api("getMe"))[0] == 502
    assert (await api("getMe"))[0] == 200
    emu.fail_next(None, status=429, description="Too Many Requests: retry after 3", retry_after=3)
    status, body = await api("getMe")
    assert status == 429 and body["parameters"] == {"retry_after": 3}
    assert emu.violations == []
    status, body = await api("sendPoll", chat_id=1, question="q", options=[{"text": "a"}, {"text": "b"}])
    assert status == 501 and emu.violations[-1].method == "sendPoll"


async def test_dropped_connection(emu: BotApiEmulator) -> None:
    emu.fail_next("getMe", drop_connection=True)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.post(f"{emu.base_url}{TOKEN}/getMe") as resp:
                await resp.read()


async def test_document_upload_get_file_and_download(emu: BotApiEmulator) -> None:
    chat = emu.user(12)
    chat.send_text("hi")
    form = aiohttp.FormData()
    form.add_field("chat_id", "12")
    form.add_field("caption", "<b>报表</b>")
    form.add_field("parse_mode", "HTML")
    form.add_field("document", b"PK\x03\x04data", filename="报表.xlsx", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}{TOKEN}/sendDocument", data=form) as resp:
            body = await resp.json()
        assert resp.status == 200, body
        doc = body["result"]["document"]
        assert doc["file_name"] == "报表.xlsx" and doc["file_size"] == 8
        assert body["result"]["caption"] == "报表"
        assert emu.calls[-1].files["document"] == ("报表.xlsx", b"PK\x03\x04data")
        async with session.post(f"{emu.base_url}{TOKEN}/getFile", data={"file_id": doc["file_id"]}) as resp:
            file_path = (await resp.json())["result"]["file_path"]
        async with session.get(f"{emu.file_base_url}{TOKEN}/{file_path}") as resp:
            assert await resp.read() == b"PK\x03\x04data"
    assert chat.last_message is not None and chat.last_message["document"]["file_id"] == doc["file_id"]


async def test_user_media_updates(emu: BotApiEmulator, api: ApiFn) -> None:
    chat = emu.user(13, "王五", username="wangwu")
    chat.send_photo()
    chat.send_voice(duration=5)
    chat.send_document("a.txt", b"abc")
    chat.send_sticker()
    chat.send_text("/start join_42")
    _, body = await api("getUpdates")
    msgs = [u["message"] for u in body["result"]]
    assert len(msgs[0]["photo"]) == 3 and msgs[1]["voice"]["duration"] == 5
    assert msgs[2]["document"]["mime_type"] == "text/plain" and msgs[3]["sticker"]["type"] == "regular"
    assert msgs[4]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert msgs[4]["from"]["username"] == "wangwu" and msgs[4]["chat"]["username"] == "wangwu"
    assert [m["message_id"] for m in msgs] == [1, 2, 3, 4, 5]
    status, body = await api("getFile", file_id=msgs[0]["photo"][-1]["file_id"])
    assert status == 200
    assert (await api("getChat", chat_id=13))[1]["result"]["first_name"] == "王五"


async def test_webhook_delivery_and_conflict(emu: BotApiEmulator, api: ApiFn) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    failures = {"left": 1}

    async def hook(request: web.Request) -> web.Response:
        if failures["left"]:
            failures["left"] -= 1
            return web.Response(status=500)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        status, _ = await api("setWebhook", url=f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        assert status == 200
        status, body = await api("getUpdates")
        assert status == 409 and body["description"].startswith("Conflict: can't use getUpdates")
        uid = emu.user(14).send_text("hi")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert received and received[0][0] == "s3cret" and received[0][1]["update_id"] == uid
        info = (await api("getWebhookInfo"))[1]["result"]
        assert info["pending_update_count"] == 0 and "last_error_message" in info
        assert (await api("deleteWebhook", drop_pending_updates=True))[0] == 200
        assert (await api("getUpdates"))[0] == 200
    finally:
        await runner.cleanup()


async def test_wait_for_call_and_wait_processed_timeout(emu: BotApiEmulator, api: ApiFn) -> None:
    emu.user(15).send_text("x")
    waiter = asyncio.create_task(emu.wait_for_call(lambda c: c.method == "sendMessage", timeout=2))
    await asyncio.sleep(0.01)
    await api("sendMessage", chat_id=15, text="later")
    call = await waiter
    assert call.ok and call.chat_id == 15 and call.params["text"] == "later"
    uid = emu.user(15).send_text("never handled")
    with pytest.raises(TimeoutError, match="still queued"):
        await emu.wait_processed(uid, timeout=0.05)
    emu.mark_processed(uid)
    await emu.wait_processed(uid, timeout=0.05)


async def test_json_body_is_accepted(emu: BotApiEmulator) -> None:
    emu.user(16).send_text("x")
    async with aiohttp.ClientSession() as session:
        payload = json.dumps({"chat_id": 16, "text": "json", "reply_markup": KB})
        async with session.post(f"{emu.base_url}{TOKEN}/sendMessage", data=payload,
                                headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200
        async with session.get(f"{emu.base_url}{TOKEN}/getMe?x=1") as resp:
            assert resp.status == 400


async def test_flood_control(clock: FakeClock) -> None:
    async with BotApiEmulator(rate_limit=True, clock=clock) as emu, aiohttp.ClientSession() as session:
        emu.user(1).send_text("x")

        async def send() -> tuple[int, dict[str, Any]]:
            async with session.post(f"{emu.base_url}{TOKEN}/sendMessage", data={"chat_id": "1", "text": "t"}) as r:
                return r.status, await r.json()

        assert [(await send())[0] for _ in range(3)] == [200, 200, 200]
        status, body = await send()
        assert status == 429 and body["parameters"] == {"retry_after": 1}
        assert body["description"] == "Too Many Requests: retry after 1"
        assert len(emu.throttled) == 1 and emu.violations == []
        clock.advance(1.0)
        assert (await send())[0] == 200
        # Global limit: 30 per second across chats.
        clock.advance(10)
        for uid in range(100, 131):
            emu.user(uid).send_text("x")
        statuses = []
        for uid in range(100, 131):
            async with session.post(f"{emu.base_url}{TOKEN}/sendMessage",
                                    data={"chat_id": str(uid), "text": "t"}) as r:
                statuses.append(r.status)
        assert statuses.count(200) == 30 and statuses[-1] == 429


async def test_edits_and_blocking_produce_updates_as_telegram_shapes_them(emu: BotApiEmulator, api: ApiFn) -> None:
    await api("getMe")  # the emulator takes the bot's id from the first token it sees
    chat = emu.user(9)
    chat.send_text("第一稿")
    chat.edit_text("/visit 第二稿")
    assert chat.block(announce=True) is not None
    assert chat.block(announce=True) is None  # already blocked: Telegram says nothing
    assert (await api("sendMessage", chat_id=9, text="x"))[0] == 403
    chat.unblock(announce=True)
    status, body = await api("getUpdates")
    assert status == 200
    updates = body["result"]
    for update in updates:
        assert emu.spec.check_value(update, ["Update"], "update") == []
        assert Update.de_json(update, None) is not None
    sent, edited, blocked, unblocked = updates
    message = edited["edited_message"]
    assert message["message_id"] == sent["message"]["message_id"] and message["date"] == sent["message"]["date"]
    assert message["edit_date"] >= message["date"] and message["text"] == "/visit 第二稿"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert [(u["my_chat_member"]["old_chat_member"]["status"], u["my_chat_member"]["new_chat_member"]["status"])
            for u in (blocked, unblocked)] == [("member", "kicked"), ("kicked", "member")]
    assert blocked["my_chat_member"]["new_chat_member"]["user"]["id"] == 123
    assert (await api("sendMessage", chat_id=9, text="x"))[0] == 200
    assert emu.violations == []
