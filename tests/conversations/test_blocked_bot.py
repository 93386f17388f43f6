"""A user who blocked the bot is sent nothing (`User.blocked_bot`), until they unblock it.

Telegram tells the bot both ways (`my_chat_member`: member → kicked, kicked → member); a 403 on
a send marks the user too, and anything the user sends or taps proves they unblocked it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from bot.sender import OutboxSender
from output.digests import queue_weekly
from storage import officers
from storage.clock import FixedClock
from storage.models import AuditEntry, InviteAttempt, OutboxMessage, User
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World

TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class SteppingClock(FixedClock):
    """A fixed clock whose sleep moves it forward: the outbox's pacing waits no real second."""

    async def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def seconds(self) -> float:
        return self.current.timestamp()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(NOW)


async def _weekly(factory: async_sessionmaker[AsyncSession], app: Any, clock: SteppingClock) -> tuple[int, Any]:
    """The weekly job as the scheduler runs it, then a drain of the outbox."""
    async with unit_of_work(factory) as uow:
        queued = await queue_weekly(uow.session, now=clock.now(), tz=TZ)
        await uow.commit()
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds)
    return queued, await sender.drain(app.bot, factory)


async def _user(factory: async_sessionmaker[AsyncSession], telegram_id: int) -> User:
    async with factory() as session:
        user = await session.scalar(select(User).where(User.telegram_user_id == telegram_id))
        assert user is not None
        return user


async def _audited(factory: async_sessionmaker[AsyncSession], user_id: int) -> list[tuple[str, str]]:
    async with factory() as session:
        entries = await session.scalars(select(AuditEntry).where(AuditEntry.entity == "user",
                                                                 AuditEntry.entity_id == user_id,
                                                                 AuditEntry.action.like("%blocked_bot"))
                                        .order_by(AuditEntry.id))
        return [(entry.action, entry.actor_label) for entry in entries]


async def test_a_supervisor_who_unblocks_the_bot_gets_the_next_weekly_digest(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession],
    clock: SteppingClock,
) -> None:
    supervisor = Talk(emulator, emulator.user(601, "督导", last_name="李"))
    await supervisor.say(f"/start {world.supervisor_code}")
    supervisor.chat.block()  # silently, as far as this test goes: the 403 is what tells the bot
    queued, report = await _weekly(factory, bot, clock)
    assert queued and report.dropped and not report.sent
    user = await _user(factory, 601)
    assert user.blocked_bot is True

    assert await supervisor.unblock() == []

    assert (await _user(factory, 601)).blocked_bot is False
    assert await _audited(factory, user.id) == [("blocked_bot", "outbox"), ("unblocked_bot", "李督导")]
    clock.advance(timedelta(days=7))
    queued, report = await _weekly(factory, bot, clock)
    assert queued and report.sent and not report.dropped
    assert any("第 48 周" in m.get("text", "") for m in supervisor.chat.messages)
    assert emulator.violations == []


async def test_blocking_and_unblocking_are_recorded_without_a_word_to_the_user(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    calls = len(officer.chat.calls)
    assert await officer.block() == []
    user = await _user(factory, officer.chat.id)
    assert user.blocked_bot is True
    assert await officer.unblock() == []
    assert (await _user(factory, officer.chat.id)).blocked_bot is False
    assert await _audited(factory, user.id) == [("blocked_bot", "王芳"), ("unblocked_bot", "王芳")]
    assert officer.chat.calls[calls:] == []
    assert emulator.violations == []


async def test_a_flagged_user_who_writes_is_reachable_again(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    user = await _user(factory, officer.chat.id)
    async with unit_of_work(factory) as uow:
        await officers.set_blocked_bot(uow.session, user.id, True, actor_id=None, actor_label="outbox")
        await uow.commit()

    [help_text] = await officer.say("/help")

    assert help_text
    assert (await _user(factory, officer.chat.id)).blocked_bot is False
    assert await _audited(factory, user.id) == [("blocked_bot", "outbox"), ("unblocked_bot", "王芳")]
    # Once cleared, an update writes nothing more.
    await officer.say("/mine")
    assert len(await _audited(factory, user.id)) == 2
    assert emulator.violations == []


async def test_a_stranger_who_blocks_the_bot_gets_nothing_and_nothing_is_kept(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    stranger = Talk(emulator, emulator.user(909, "路人"))
    [refusal] = await stranger.say("/start")
    assert refusal
    calls = len(stranger.chat.calls)

    assert await stranger.block() == []
    assert await stranger.unblock() == []

    assert stranger.chat.calls[calls:] == []
    async with factory() as session:
        assert await session.scalar(select(User).where(User.telegram_user_id == 909)) is None
        assert await session.scalar(select(func.count()).select_from(InviteAttempt)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert emulator.violations == []
