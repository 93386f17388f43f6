"""End-to-end: a real python-telegram-bot Application polling the emulator."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, RetryAfter
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.emulator import BotApiEmulator
from bot.emulator.ptb import MarkingUpdateProcessor

pytestmark = pytest.mark.asyncio

TOKEN = "123:ABCDEF"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("✅ 确认报到", callback_data="checkin:ok"),
                                      InlineKeyboardButton("帮助", callback_data="help")]])
    await update.effective_message.reply_text("<b>欢迎</b>，请确认报到", parse_mode="HTML", reply_markup=keyboard)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("已收到")
    await query.edit_message_text(f"已选择：{query.data}")


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    book = openpyxl.Workbook()
    book.active.append(["支部", "党员数"])
    book.active.append(["第一支部", 12])
    buffer = io.BytesIO()
    book.save(buffer)
    await context.bot.send_document(update.effective_chat.id, buffer.getvalue(), filename="统计.xlsx",
                                    caption="月度统计")


@pytest_asyncio.fixture
async def running_app(emu: BotApiEmulator) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    app = (ApplicationBuilder().token(TOKEN).base_url(emu.base_url).base_file_url(emu.file_base_url)
           .concurrent_updates(MarkingUpdateProcessor(emu)).build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("report", report))
    app.add_handler(CallbackQueryHandler(on_button))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_start_tap_and_edit(emu: BotApiEmulator, running_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    chat = emu.user(1001, "张三", username="zhangsan")
    uid = chat.send_text("/start")
    await emu.wait_processed(uid)
    assert chat.plain(chat.last_message) == "欢迎，请确认报到"
    assert chat.last_message is not None
    assert chat.last_message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert chat.buttons() == [["✅ 确认报到", "帮助"]]

    uid = chat.tap("确认报到")
    await emu.wait_processed(uid)
    assert chat.plain() == "已选择：checkin:ok"
    assert chat.buttons() == []  # edit without reply_markup removed the keyboard
    assert len(chat.messages) == 1
    [answer] = chat.callback_answers
    assert answer.ok and answer.params["text"] == "已收到"
    assert [c.method for c in chat.calls] == ["sendMessage", "answerCallbackQuery", "editMessageText"]
    assert emu.violations == []


async def test_send_document_bytes_are_kept(emu: BotApiEmulator,
                                           running_app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    chat = emu.user(1002)
    uid = chat.send_text("/report")
    await emu.wait_processed(uid)
    call = emu.calls_to("sendDocument")[-1]
    filename, content = call.files["document"]
    assert filename == "统计.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None and list(sheet.iter_rows(values_only=True)) == [("支部", "党员数"), ("第一支部", 12)]
    assert chat.last_message is not None and chat.last_message["caption"] == "月度统计"
    # The bot can fetch it back through getFile + the file endpoint.
    file = await running_app.bot.get_file(chat.last_message["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == content
    assert emu.violations == []


async def test_too_long_text_is_bad_request(emu: BotApiEmulator) -> None:
    emu.user(1003).send_text("hi")
    async with Bot(TOKEN, base_url=emu.base_url) as bot:
        await bot.send_message(1003, "字" * 4096)
        with pytest.raises(BadRequest, match="[Mm]essage is too long"):
            await bot.send_message(1003, "字" * 4097)
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(1003, "<p>x</p>", parse_mode="HTML")
    assert [v.description for v in emu.violations] == [
        "Bad Request: message is too long",
        'Bad Request: can\'t parse entities: Unsupported start tag "p" at byte offset 0',
    ]


async def test_flood_control_surfaces_as_retry_after() -> None:
    now = [0.0]
    async with BotApiEmulator(rate_limit=True, clock=lambda: now[0]) as emu:
        emu.user(1004).send_text("hi")
        async with Bot(TOKEN, base_url=emu.base_url) as bot:
            for _ in range(3):
                await bot.send_message(1004, "ok")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(1004, "too fast")
            retry: Any = info.value.retry_after
            assert (retry.total_seconds() if isinstance(retry, timedelta) else retry) == 1
            now[0] += 1.0
            await bot.send_message(1004, "after waiting")
        assert len(emu.throttled) == 1 and emu.violations == []
