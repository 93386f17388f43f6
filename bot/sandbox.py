"""`python -m bot shell`: the bot on an embedded Bot API emulator, with a terminal chat.

No token and no network: the emulator plays Telegram on 127.0.0.1, the real Application
talks to it over HTTP exactly as it would to Telegram, and the terminal plays the phone —
inline buttons show as numbered choices. The first start loads the Yichang demo data set.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select

from bot.app import build_application, on_shutdown, on_startup
from bot.config import Settings
from bot.emulator import BotApiEmulator, UserChat
from storage import officers
from storage.clock import SystemClock, local_today
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.migrate import upgrade
from storage.models import Enterprise, User
from storage.uow import unit_of_work

HELP = """\
输入文字直接发给机器人；输入数字点选最新消息的按钮（如 1）。
  :text 1        发送文字“1”（而不是点按钮）
  :photo  :voice  :sticker  :loc 30.42 111.76   发送照片、语音、贴纸、定位
  :as officer | supervisor | admin               换一个身份（王芳 / 督导 / 管理员）
  :help  :quit
"""


@dataclass(frozen=True)
class Persona:
    role: Role
    name: str
    region: str
    telegram_id: int


PERSONAS = {
    "officer": Persona(Role.OFFICER, "王芳", "宜昌市/枝江市", 10001),
    "supervisor": Persona(Role.SUPERVISOR, "宜昌市督导", "宜昌市", 10002),
    "admin": Persona(Role.ADMIN, "系统管理员", "宜昌市", 10003),
}


class Terminal:
    """The phone screen: prints what the bot sent to the current chat since the last look."""

    def __init__(self, emu: BotApiEmulator, out: TextIO = sys.stdout) -> None:
        self.emu = emu
        self.out = out
        self.seen = 0

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show_new(self, chat: UserChat) -> None:
        calls = self.emu.calls[self.seen :]
        self.seen += len(calls)
        for call in calls:
            if str(call.chat_id) != str(chat.id) and call.method != "answerCallbackQuery":
                continue
            result = call.result if isinstance(call.result, dict) else {}
            if call.method in ("sendMessage", "editMessageText") and call.ok:
                self.write(("（已更新）" if call.method == "editMessageText" else "") + "🤖 " + str(result.get("text", "")))
                self._buttons(result)
            elif call.method == "answerCallbackQuery" and call.params.get("text"):
                self.write(f"（提示）{call.params['text']}")
            elif call.method == "sendDocument" and call.ok:
                self.write(f"📎 {result.get('document', {}).get('file_name', '')}")
            elif call.method == "sendPhoto" and call.ok:
                self.write("🖼 " + str(result.get("caption", "")))
            elif not call.ok:
                self.write(f"（Telegram 拒绝了 {call.method}：{call.description}）")

    def _buttons(self, message: dict[str, Any]) -> None:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        number = 0
        for row in rows:
            cells = []
            for button in row:
                number += 1
                cells.append(f"[{number}] {button['text']}")
            self.write("    " + "   ".join(cells))


def _nth_button(chat: UserChat, number: int) -> str | None:
    message = chat.last_message
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    flat = [button for row in rows for button in row]
    if 1 <= number <= len(flat):
        return str(flat[number - 1].get("callback_data"))
    return None


async def _prepare(database_url: str, persona: Persona, settings: Settings) -> str | None:
    """Loads the demo data into an empty database and returns an invite code for the persona,
    or None when that Telegram account has joined already."""
    engine = make_async_engine(database_url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    try:
        async with unit_of_work(factory) as uow:
            if not await uow.session.scalar(select(func.count(Enterprise.id))):
                from storage.demo import seed_demo

                await seed_demo(uow.session, today=local_today(clock, settings.timezone))
            joined = await officers.by_telegram_id(uow.session, persona.telegram_id)
            code = None
            if joined is None:
                # Play the demo's own person of that role where there is one (王芳 for officers).
                unbound = select(User).where(User.role == persona.role.value, User.telegram_user_id.is_(None))
                existing = await uow.session.scalar(unbound.where(User.name == persona.name).limit(1))
                existing = existing or await uow.session.scalar(
                    unbound.where(User.region == persona.region).order_by(User.id).limit(1))
                name, region = (existing.name, existing.region) if existing else (persona.name, persona.region)
                invite = await officers.create_invite(uow.session, role=persona.role, name=name, region=region,
                                                      now=clock.now())
                code = invite.code
            await uow.commit()
            return code
    finally:
        await engine.dispose()


async def run_shell(settings: Settings, *, fresh: bool = False, stdin: TextIO = sys.stdin,
                    out: TextIO = sys.stdout) -> int:
    database_url = settings.database_url
    if fresh:
        database_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='liaison-sandbox-')) / 'sandbox.db'}"
    upgrade(database_url)
    async with BotApiEmulator() as emu:
        sandbox = settings.model_copy(update={
            "telegram_bot_token": None, "telegram_api_base_url": emu.base_url, "database_url": database_url,
        })
        app = build_application(sandbox, on_processed=emu.mark_processed)
        await app.initialize()
        await on_startup(app)  # what run_polling() would do
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        terminal = Terminal(emu, out)
        terminal.write(f"党建联络助手 · 离线沙盒（数据库：{database_url}）\n{HELP}")
        try:
            await _chat_loop(emu, terminal, settings, database_url, stdin)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            await on_shutdown(app)
    return 0


async def _switch(emu: BotApiEmulator, terminal: Terminal, settings: Settings, database_url: str,
                  key: str) -> UserChat:
    persona = PERSONAS[key]
    chat = emu.user(persona.telegram_id, persona.name)
    code = await _prepare(database_url, persona, settings)
    terminal.write(f"—— {persona.role.value} ——")
    await _send(emu, terminal, chat, chat.send_text(f"/start {code}" if code else "/start"))
    return chat


async def _send(emu: BotApiEmulator, terminal: Terminal, chat: UserChat, update_id: int) -> None:
    await emu.wait_processed(update_id, timeout=30)
    terminal.show_new(chat)


async def _chat_loop(emu: BotApiEmulator, terminal: Terminal, settings: Settings, database_url: str,
                     stdin: TextIO) -> None:
    loop = asyncio.get_running_loop()
    chat = await _switch(emu, terminal, settings, database_url, "officer")
    while True:
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:  # end of input
            return
        text = line.strip()
        if not text:
            continue
        if text in (":quit", ":q", ":exit"):
            return
        if text == ":help":
            terminal.write(HELP)
            continue
        if text.startswith(":as "):
            key = text[4:].strip()
            if key in PERSONAS:
                chat = await _switch(emu, terminal, settings, database_url, key)
            else:
                terminal.write("可选身份：officer、supervisor、admin")
            continue
        update_id = _action(chat, text)
        if update_id is None:
            terminal.write("没有这个按钮或命令。输入 :help 查看用法。")
            continue
        await _send(emu, terminal, chat, update_id)


def _action(chat: UserChat, text: str) -> int | None:
    """Turns a terminal line into what the user does on the phone."""
    if text.isdigit():
        data = _nth_button(chat, int(text))
        return chat.tap(data=data) if data else chat.send_text(text)
    if text.startswith(":text "):
        return chat.send_text(text[6:])
    if text == ":photo":
        return chat.send_photo()
    if text == ":voice":
        return chat.send_voice()
    if text == ":sticker":
        return chat.send_sticker()
    if text.startswith(":loc"):
        parts = text.split()
        try:
            return chat.send_location(float(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            return None
    if text.startswith(":"):
        return None
    return chat.send_text(text)
