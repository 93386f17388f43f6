"""Reminders over a fake month, their buttons, and /away — time moved by a FixedClock, never slept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode

from bot.emulator import BotApiEmulator
from output.reminders import render_reminders
from storage.clock import FixedClock
from storage.models import Draft, Feedback, OutboxMessage, Person, ReminderSnooze, User
from storage.sweep import sweep as run_sweep
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World

TZ = ZoneInfo("Asia/Shanghai")


async def _sweep(factory: async_sessionmaker[AsyncSession], now: datetime) -> list[str]:
    """One scheduler run in its own unit of work; the keys it queued."""
    async with unit_of_work(factory) as uow:
        before = set(await uow.session.scalars(select(OutboxMessage.dedupe_key)))
        await run_sweep(uow.session, now=now, tz=TZ)
        after = set(await uow.session.scalars(select(OutboxMessage.dedupe_key)))
        await uow.commit()
    return sorted(after - before)


async def _officer_id(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as s:
        found = await s.scalar(select(User.id).where(User.name == "王芳"))
        assert found is not None
        return found


async def test_a_fake_month_reminds_exactly_what_is_due_once_per_period(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    me = await _officer_id(factory)
    async with unit_of_work(factory) as uow:
        s = uow.session
        person = Person(enterprise_id=world.chuyun, officer_id=me, name="李明", gender="male",
                        birth_date=date(1995, 3, 1), stage="applicant", applied_on=date(2026, 11, 10))
        item = Feedback(enterprise_id=world.chuyun, raised_by="张总", channel="officer", category="hiring",
                        content="招工难", urgency="normal", officer_id=me,
                        created_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))  # 11-20 09:00 local
        draft = Draft(user_id=me, form="visit", step="visit_date", answers={"enterprise": world.baiyang},
                      created_at=datetime(2026, 11, 24, 0, 0, tzinfo=UTC), updated_at=datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
        s.add_all([person, item, draft])
        await uow.commit()
        pid, fid, did = person.id, item.id, draft.id

    sent: list[tuple[str, str]] = []
    # Every six hours for 30 days from 2026-11-25 10:00 local.
    for step in range(30 * 4):
        now = NOW + timedelta(hours=6 * step)
        sent += [(now.astimezone(TZ).date().isoformat(), key) for key in await _sweep(factory, now)]

    # Hand-computed. 楚韵 was last visited 10-11 (cadence 30): overdue all month, once per ISO week
    # (W48 starts 11-23, W49 11-30, W50 12-07, W51 12-14, W52 12-21). 白洋港 was visited 11-13:
    # overdue from 12-14 (31 days). The feedback item of 11-20 09:00 is 7 days old on 11-27 09:00,
    # reminded from the 11-27 10:00 run on. The applicant of 11-10 must be talked to by 12-10:
    # reminded a week before (12-03 00:00 local is the 10:00+6h·k run at 12-03 04:00). The draft
    # untouched since 11-24 08:00 is a day old at the very first run.
    chuyun = f"overdue_visit:enterprise:{world.chuyun}:officer:{me}"
    baiyang = f"overdue_visit:enterprise:{world.baiyang}:officer:{me}"
    fb = f"feedback:{fid}:officer:{me}"
    assert sent == [
        ("2026-11-25", f"draft:{did}:2026-11-24"),
        ("2026-11-25", f"{chuyun}:2026-W48"),
        ("2026-11-27", f"{fb}:2026-W48"),
        ("2026-11-30", f"{fb}:2026-W49"),
        ("2026-11-30", f"{chuyun}:2026-W49"),
        ("2026-12-03", f"milestone:person:{pid}:talk:2026-12-10"),
        ("2026-12-07", f"{fb}:2026-W50"),
        ("2026-12-07", f"{chuyun}:2026-W50"),
        ("2026-12-14", f"{fb}:2026-W51"),
        ("2026-12-14", f"{chuyun}:2026-W51"),
        ("2026-12-14", f"{baiyang}:2026-W51"),
        ("2026-12-21", f"{fb}:2026-W52"),
        ("2026-12-21", f"{chuyun}:2026-W52"),
        ("2026-12-21", f"{baiyang}:2026-W52"),
    ]
    assert len({key for _, key in sent}) == len(sent)


async def _composed(factory: async_sessionmaker[AsyncSession], row: OutboxMessage,
                    now: datetime) -> tuple[str, list[list[dict[str, str]]]]:
    """What the outbox sender composes for a reminder row when it sends it at `now`."""
    async with factory() as s:
        found = (await render_reminders(s, [row], now, TZ))[row.id]
    assert found is not None
    return found


async def _show(bot: Any, chat_id: int, row: OutboxMessage, factory: async_sessionmaker[AsyncSession],
                now: datetime) -> None:
    """What the outbox sender does with a row: composes its text and buttons, sends one message."""
    text, buttons = await _composed(factory, row, now)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in line]
                                   for line in buttons])
    await bot.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def _row(factory: async_sessionmaker[AsyncSession], key: str) -> OutboxMessage:
    async with factory() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
        assert row is not None
        return row


async def test_reminder_buttons_snooze_skip_and_open_the_visit_and_away_pauses_them(
    bot: Any, officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], clock: FixedClock,
    emulator: BotApiEmulator,
) -> None:
    me = await _officer_id(factory)
    key = f"overdue_visit:enterprise:{world.chuyun}:officer:{me}:2026-W48"
    assert await _sweep(factory, clock.now()) == [key]
    row = await _row(factory, key)
    assert (await _composed(factory, row, clock.now()))[0] == "⏰ 枝江市楚韵纺织有限公司已 45 天未走访（周期 30 天）。"

    await _show(bot, officer.chat.id, row, factory, clock.now())
    assert officer.buttons() == ["立即填报", "明天提醒", "本期不再提醒"]
    await officer.tap("明天提醒")
    assert officer.toasts()[-1] == "明天再提醒您"
    clock.advance(timedelta(hours=22))  # 11-26 08:00: still snoozed
    assert await _sweep(factory, clock.now()) == []
    clock.advance(timedelta(hours=1))  # 09:00: reminded once more
    assert await _sweep(factory, clock.now()) == [f"{key}:2026-11-26"]

    await _show(bot, officer.chat.id, await _row(factory, f"{key}:2026-11-26"), factory, clock.now())
    await officer.tap("本期不再提醒")
    assert officer.toasts()[-1] == "本期不再提醒"
    async with factory() as s:
        snoozed = await s.scalar(select(ReminderSnooze))
        assert snoozed is not None and snoozed.skip_period == "2026-W48" and snoozed.until is None
    clock.advance(timedelta(days=1))
    assert await _sweep(factory, clock.now()) == []

    # A forged reminder id (another's row, or none) is refused.
    await officer.forge("remind:later:99999")
    assert officer.toasts()[-1] == "这条提醒不属于您。"

    [ask] = await officer.tap("立即填报")
    assert ask == "走访日期？"
    await officer.say("/cancel")

    [ask] = await officer.say("/away")
    assert ask.startswith("休假到哪天？")
    [error] = await officer.say("2026-11-01")
    assert "不能早于今天" in error
    [saved] = await officer.say("12-06")
    assert "2026-12-06 之前不再给您发提醒" in saved
    clock.current = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday of W49
    assert await _sweep(factory, clock.now()) == []
    [back] = await officer.say("/back")
    assert "提醒已恢复" in back
    assert await _sweep(factory, clock.now()) == [
        f"overdue_visit:enterprise:{world.chuyun}:officer:{me}:2026-W49"]
    assert emulator.violations == []
