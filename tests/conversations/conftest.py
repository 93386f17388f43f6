"""Conversation tests: the real Application against the Bot API emulator, over HTTP.

`TELEGRAM_API_BASE_URL` points the bot at the emulator, as an operator would point it at a
self-hosted Bot API server. A test plays a field officer: it types and taps through
`Talk`, which waits until the bot has finished each update (no sleeping) and returns what
the bot sent or edited in reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_application, on_shutdown, on_startup
from bot.config import Settings
from bot.emulator import BotApiEmulator, UserChat
from storage import officers
from storage.clock import FixedClock
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.models import Assignment, Enterprise, Visit
from storage.pinyin import initials
from storage.uow import unit_of_work

# 2026-11-25 10:00 in Asia/Shanghai.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)


@dataclass
class Talk:
    """One Telegram user talking to the bot through the emulator."""

    emu: BotApiEmulator
    chat: UserChat
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def _after(self, update_id: int) -> list[str]:
        before = len(self.emu.calls)
        await self.emu.wait_processed(update_id)
        replies = []
        for call in self.emu.calls[before:]:
            if call.method in ("sendMessage", "editMessageText") and str(call.params.get("chat_id")) == str(self.chat.id):
                message = call.result if isinstance(call.result, dict) else {}
                replies.append(str(message.get("text", "")))
        return replies

    async def say(self, text: str) -> list[str]:
        return await self._after(self.chat.send_text(text))

    async def tap(self, label: str) -> list[str]:
        return await self._after(self.chat.tap(label))

    async def edit(self, text: str, message_id: int | None = None) -> list[str]:
        """Edits one of the user's own text messages (default: the last one)."""
        return await self._after(self.chat.edit_text(text, message_id))

    async def block(self) -> list[str]:
        """Blocks the bot; Telegram tells the bot (`my_chat_member`), and it can answer nothing."""
        update_id = self.chat.block(announce=True)
        assert update_id is not None, "the bot was blocked already"
        return await self._after(update_id)

    async def unblock(self) -> list[str]:
        update_id = self.chat.unblock(announce=True)
        assert update_id is not None, "the bot was not blocked"
        return await self._after(update_id)

    async def forge(self, data: str) -> list[str]:
        """Presses a button that was never shown (a modified client)."""
        return await self._after(self.chat.forge_callback(data))

    async def photo(self) -> list[str]:
        return await self._after(self.chat.send_photo())

    async def voice(self) -> list[str]:
        return await self._after(self.chat.send_voice())

    async def location(self, lat: float, lon: float) -> list[str]:
        return await self._after(self.chat.send_location(lat, lon))

    async def sticker(self) -> list[str]:
        return await self._after(self.chat.send_sticker())

    def buttons(self) -> list[str]:
        return [text for row in self.chat.buttons() for text in row]

    def toasts(self) -> list[str]:
        return [str(call.params.get("text", "")) for call in self.chat.callback_answers]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        yield emu


@pytest.fixture
def conversation_db(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def factory(conversation_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(conversation_db)
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def bot(
    emulator: BotApiEmulator, conversation_db: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", emulator.base_url)
    monkeypatch.setenv("DATABASE_URL", conversation_db)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    app = await start_bot(emulator, clock)
    try:
        yield app
    finally:
        await stop_bot(app)


async def start_bot(emulator: BotApiEmulator, clock: FixedClock) -> Any:
    """A bot process as `python -m bot run` makes it, polling the emulator."""
    app = build_application(Settings(_env_file=None), clock=clock, on_processed=emulator.mark_processed)
    # The order run_polling() follows: initialize, post_init, start, then fetch updates.
    await app.initialize()
    await on_startup(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    return app


async def stop_bot(app: Any) -> None:
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
        await app.shutdown()
        await on_shutdown(app)


@dataclass(frozen=True)
class World:
    officer_code: str
    supervisor_code: str
    chuyun: int  # assigned, last visit 45 days ago (overdue)
    baiyang: int  # assigned, visited 12 days ago
    dongshi: int  # in the officer's region, not assigned
    yuanan: int  # another county: out of the officer's scope


def _enterprise(name: str, region: str, code: str, **extra: Any) -> Enterprise:
    code = code[:17] + check_character(code[:17])  # a valid GB 32100 check character
    return Enterprise(name=name, name_initials=initials(name), credit_code=code, region=region, **extra)


@pytest.fixture
async def world(factory: async_sessionmaker[AsyncSession]) -> World:
    """王芳, an officer in 枝江市, with two enterprises; a supervisor; enterprises around."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = await officers.create_invite(s, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市", now=NOW)
        supervisor = await officers.create_invite(s, role=Role.SUPERVISOR, name="李督导", region="宜昌市", now=NOW)
        chuyun = _enterprise("枝江市楚韵纺织有限公司", "宜昌市/枝江市/马家店街道", "91420583MA4F00001X",
                             employees=120, party_members=2)
        baiyang = _enterprise("枝江市白洋港机械制造有限公司", "宜昌市/枝江市/白洋镇", "91420583MA4F00002X")
        dongshi = _enterprise("枝江市董市镇酒业有限公司", "宜昌市/枝江市/董市镇", "91420583MA4F00003X")
        yuanan = _enterprise("远安县楚韵茶业有限公司", "宜昌市/远安县", "91420525MA4F00004X")
        s.add_all([chuyun, baiyang, dongshi, yuanan])
        await s.flush()
        officer_id = officer.user_id
        s.add_all([
            Assignment(enterprise_id=chuyun.id, officer_id=officer_id, started_on=TODAY - timedelta(days=300)),
            Assignment(enterprise_id=baiyang.id, officer_id=officer_id, started_on=TODAY - timedelta(days=300)),
            Visit(enterprise_id=chuyun.id, officer_id=officer_id, visit_date=TODAY - timedelta(days=45),
                  activities=["policy"], summary="上次走访"),
            Visit(enterprise_id=baiyang.id, officer_id=officer_id, visit_date=TODAY - timedelta(days=12),
                  activities=["business"], summary="了解经营"),
        ])
        await uow.commit()
        return World(officer.code, supervisor.code, chuyun.id, baiyang.id, dongshi.id, yuanan.id)


@pytest.fixture
async def officer(bot: Any, emulator: BotApiEmulator, world: World) -> Talk:
    """王芳, joined through her invite link."""
    talk = Talk(emulator, emulator.user(501, "芳", last_name="王"))
    await talk.say(f"/start {world.officer_code}")
    return talk
