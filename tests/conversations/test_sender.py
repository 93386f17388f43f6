"""The outbox sender against the Bot API emulator with Telegram's flood control switched on.

The clock is fake and shared: the emulator's flood control reads it, the sender paces by it, and
the sender's sleep advances it, so a ten-second drain takes no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.config import Settings
from bot.emulator import BotApiEmulator, UserChat
from bot.sender import OutboxSender
from output.reminders import Composed
from storage import outbox
from storage import sweep as sweeps
from storage.clock import FixedClock
from storage.enums import Role
from storage.models import Assignment, Enterprise, OutboxMessage, User, Visit
from storage.sweep import sweep as run_sweep
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TOKEN = "1000001:SANDBOX-offline-token"


@dataclass
class FakeClock(FixedClock):
    """A fixed clock whose sleep moves it forward instead of waiting."""

    slept: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def seconds(self) -> float:
        return self.current.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(rate_limit=True, clock=clock.seconds) as emu:
        yield emu


@pytest.fixture
async def telegram_bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emulator.base_url) as bot:
        yield bot


@pytest.fixture
def sender(clock: FakeClock) -> OutboxSender:
    return OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds)


async def _users(factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, count: int) -> list[tuple[int, UserChat]]:
    """Officers who have started the bot (so their chats exist for it): (user id, chat)."""
    result = []
    async with unit_of_work(factory) as uow:
        for n in range(count):
            chat = emulator.user(501 + n, f"干部{n}")
            chat.send_text("/start")
            user = User(name=f"干部{n}", role=Role.OFFICER, region="宜昌市/枝江市", telegram_user_id=chat.id, chat_id=chat.id)
            uow.session.add(user)
            await uow.session.flush()
            result.append((user.id, chat))
        await uow.commit()
    return result


async def _enqueue(factory: async_sessionmaker[AsyncSession], items: list[tuple[str, int, int]], *,
                   due: datetime = NOW) -> None:
    async with unit_of_work(factory) as uow:
        for key, user_id, chat_id in items:
            button = {"text": "立即填报", "callback_data": f"remind:now:{user_id}"}
            await outbox.enqueue(uow.session, dedupe_key=key, chat_id=chat_id, user_id=user_id, kind="reminder",
                                 text=f"<b>提醒</b> {key}", buttons=[[button]], not_before=due)
        await uow.commit()


async def _rows(factory: async_sessionmaker[AsyncSession]) -> dict[str, OutboxMessage]:
    async with unit_of_work(factory) as uow:
        return {r.dedupe_key: r for r in (await uow.session.scalars(select(OutboxMessage))).all()}


def _texts(chat: UserChat) -> list[str]:
    return [str(m.get("text", "")) for m in chat.messages]


async def test_fifty_messages_to_five_users_go_out_without_a_single_429(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    users = await _users(factory, emulator, 5)
    await _enqueue(factory, [(f"r{n}:{i}", uid, chat.id) for n in range(10) for i, (uid, chat) in enumerate(users)])

    report = await sender.drain(telegram_bot, factory)

    assert len(report.sent) == 50 and report.throttled == 0
    assert emulator.throttled == []
    for i, (_, chat) in enumerate(users):
        assert _texts(chat) == [f"提醒 r{n}:{i}" for n in range(10)]  # each chat in queue order
        assert chat.messages[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "立即填报"
    # One a second per chat, the five chats interleaved: about ten seconds, not fifty.
    assert 9.0 <= (clock.now() - NOW).total_seconds() < 10.0
    assert {r.status for r in (await _rows(factory)).values()} == {"sent"}
    assert emulator.violations == []


async def test_a_429_is_honoured_and_the_message_goes_out_once(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    [(uid, chat)] = await _users(factory, emulator, 1)
    await _enqueue(factory, [("a", uid, chat.id)])
    emulator.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 2", retry_after=2)

    report = await sender.drain(telegram_bot, factory)

    assert report.sent != [] and report.throttled == 1 and report.retried == []
    assert 2.0 in clock.slept
    assert _texts(chat) == ["提醒 a"]
    row = (await _rows(factory))["a"]
    assert (row.status, row.attempts) == ("sent", 0)  # a 429 is not a failed attempt
    assert emulator.violations == []


async def test_a_server_error_is_retried_with_backoff(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    [(uid, chat)] = await _users(factory, emulator, 1)
    await _enqueue(factory, [("a", uid, chat.id)])
    emulator.fail_next("sendMessage", status=500, description="Internal Server Error")

    first = await sender.drain(telegram_bot, factory)
    assert first.retried != [] and first.sent == []
    row = (await _rows(factory))["a"]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.not_before == clock.now() + sender.backoff_base
    # Not before the backoff is over; then it goes, once.
    assert (await sender.drain(telegram_bot, factory)).sent == []
    clock.advance(sender.backoff_base)
    assert (await sender.drain(telegram_bot, factory)).sent != []
    assert _texts(chat) == ["提醒 a"]
    assert emulator.violations == []


async def test_errors_that_persist_fail_the_row_after_max_attempts(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    clock: FakeClock,
) -> None:
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds, max_attempts=3)
    [(uid, chat)] = await _users(factory, emulator, 1)
    await _enqueue(factory, [("a", uid, chat.id)])
    emulator.fail_next("sendMessage", status=502, description="Bad Gateway", times=3)
    for _ in range(3):
        await sender.drain(telegram_bot, factory)
        clock.advance(timedelta(hours=1))
    row = (await _rows(factory))["a"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "Bad Gateway")
    assert _texts(chat) == []
    assert emulator.violations == []


async def test_a_user_who_blocked_the_bot_is_marked_and_the_row_dropped(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, sender: OutboxSender,
) -> None:
    [(blocked_id, blocked), (other_id, other)] = await _users(factory, emulator, 2)
    blocked.block()
    await _enqueue(factory, [("a", blocked_id, blocked.id), ("b", other_id, other.id)])

    report = await sender.drain(telegram_bot, factory)

    rows = await _rows(factory)
    assert report.dropped == [rows["a"].id] and report.sent == [rows["b"].id]
    assert rows["a"].status == "dropped" and rows["b"].status == "sent"
    async with unit_of_work(factory) as uow:
        users = {u.id: u for u in (await uow.session.scalars(select(User))).all()}
    assert users[blocked_id].blocked_bot is True and users[other_id].blocked_bot is False
    assert _texts(other) == ["提醒 b"]
    assert emulator.violations == []


async def test_quiet_hours_move_a_22_oclock_message_to_8_the_next_morning(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    [(uid, chat)] = await _users(factory, emulator, 1)
    evening = datetime(2026, 11, 25, 22, 0, tzinfo=TZ)
    clock.current = evening.astimezone(UTC)
    await _enqueue(factory, [("a", uid, chat.id)], due=clock.now())

    report = await sender.drain(telegram_bot, factory)

    morning = datetime(2026, 11, 26, 8, 0, tzinfo=TZ)
    assert report.postponed != [] and _texts(chat) == []
    row = (await _rows(factory))["a"]
    assert (row.status, row.not_before, row.attempts) == ("pending", morning, 0)
    clock.current = datetime(2026, 11, 26, 7, 59, tzinfo=TZ).astimezone(UTC)
    assert (await sender.drain(telegram_bot, factory)).sent == []
    clock.current = morning.astimezone(UTC)
    assert (await sender.drain(telegram_bot, factory)).sent != []
    assert _texts(chat) == ["提醒 a"]
    assert emulator.violations == []


async def test_an_allowed_kind_is_sent_in_quiet_hours(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, clock: FakeClock,
) -> None:
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds, quiet_exempt=frozenset({"reminder"}))
    [(uid, chat)] = await _users(factory, emulator, 1)
    clock.current = datetime(2026, 11, 25, 22, 0, tzinfo=TZ).astimezone(UTC)
    await _enqueue(factory, [("a", uid, chat.id)], due=clock.now())
    assert (await sender.drain(telegram_bot, factory)).sent != []
    assert _texts(chat) == ["提醒 a"]
    assert emulator.violations == []


async def test_custom_quiet_hours_hold_messages_in_their_window_and_only_there(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, clock: FakeClock,
) -> None:
    """QUIET_HOURS=22:30-06:00: 22:00 is not quiet any more, 23:00 is, until 06:00."""
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds,
                          quiet_hours=Settings(_env_file=None, quiet_hours="22:30-06:00").quiet_window)
    [(uid, chat)] = await _users(factory, emulator, 1)
    clock.current = datetime(2026, 11, 25, 22, 0, tzinfo=TZ).astimezone(UTC)
    await _enqueue(factory, [("a", uid, chat.id)], due=clock.now())
    assert (await sender.drain(telegram_bot, factory)).sent != []
    clock.current = datetime(2026, 11, 25, 23, 0, tzinfo=TZ).astimezone(UTC)
    await _enqueue(factory, [("b", uid, chat.id)], due=clock.now())
    assert (await sender.drain(telegram_bot, factory)).postponed != []
    assert (await _rows(factory))["b"].not_before == datetime(2026, 11, 26, 6, 0, tzinfo=TZ)
    clock.current = datetime(2026, 11, 26, 6, 0, tzinfo=TZ).astimezone(UTC)
    assert (await sender.drain(telegram_bot, factory)).sent != []
    assert _texts(chat) == ["提醒 a", "提醒 b"]
    assert emulator.violations == []


async def test_with_quiet_hours_set_empty_a_message_goes_out_at_midnight(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, clock: FakeClock,
) -> None:
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds,
                          quiet_hours=Settings(_env_file=None, quiet_hours="").quiet_window)
    [(uid, chat)] = await _users(factory, emulator, 1)
    clock.current = datetime(2026, 11, 26, 0, 0, tzinfo=TZ).astimezone(UTC)
    await _enqueue(factory, [("a", uid, chat.id)], due=clock.now())
    report = await sender.drain(telegram_bot, factory)
    assert report.sent != [] and report.postponed == []
    assert _texts(chat) == ["提醒 a"]
    assert emulator.violations == []


async def test_a_crash_between_send_and_mark_resends_that_one_message_after_the_lease(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    users = await _users(factory, emulator, 3)
    await _enqueue(factory, [(f"m{i}", uid, chat.id) for i, (uid, chat) in enumerate(users)])
    real_mark_sent = outbox.mark_sent
    crashed: list[int] = []

    async def crash_once(session: AsyncSession, outbox_id: int, **kwargs: Any) -> None:
        if not crashed:
            crashed.append(outbox_id)
            raise RuntimeError("process killed after Telegram accepted the message")
        await real_mark_sent(session, outbox_id, **kwargs)

    monkeypatch.setattr(outbox, "mark_sent", crash_once)
    with pytest.raises(RuntimeError):
        await sender.drain(telegram_bot, factory)
    # Telegram has the first message; the outbox still says every row is being sent.
    assert [_texts(chat) for _, chat in users] == [["提醒 m0"], [], []]
    assert {r.status for r in (await _rows(factory)).values()} == {"sending"}

    # A restarted sender leaves the claimed rows alone while the lease runs...
    restarted = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds)
    assert (await restarted.drain(telegram_bot, factory)).sent == []
    # ...and takes them back after it: the interrupted one arrives a second time, the others once.
    clock.advance(restarted.lease)
    assert len((await restarted.drain(telegram_bot, factory)).sent) == 3
    assert [_texts(chat) for _, chat in users] == [["提醒 m0", "提醒 m0"], ["提醒 m1"], ["提醒 m2"]]
    assert {r.status for r in (await _rows(factory)).values()} == {"sent"}
    # Nothing is sent again afterwards.
    clock.advance(restarted.lease * 2)
    assert (await restarted.drain(telegram_bot, factory)).sent == []
    assert sum(len(_texts(chat)) for _, chat in users) == 4
    assert emulator.violations == []


async def test_reminders_queued_together_per_officer_do_not_hold_back_the_others(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, clock: FakeClock,
) -> None:
    """A sweep queues each officer's reminders together. Claimed ten rows at a time (two
    officers' five each), the sender claims more while both chats wait for their gap, rather
    than sending two messages a second."""
    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds, batch=10)
    users = await _users(factory, emulator, 20)
    await _enqueue(factory, [(f"r{i}:{n}", uid, chat.id) for i, (uid, chat) in enumerate(users) for n in range(5)])

    report = await sender.drain(telegram_bot, factory)

    assert len(report.sent) == 100 and report.throttled == 0 and emulator.throttled == []
    for i, (_, chat) in enumerate(users):
        assert _texts(chat) == [f"提醒 r{i}:{n}" for n in range(5)]
    # 100 messages at 30 a second, one a second per chat: under five seconds, not fifty.
    assert (clock.now() - NOW).total_seconds() < 5.0
    assert {r.status for r in (await _rows(factory)).values()} == {"sent"}
    assert emulator.violations == []


async def test_a_row_queued_without_text_is_composed_when_sent_or_marked_obsolete(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot, clock: FakeClock,
) -> None:
    """The renderer of the row's kind composes it at send time, from what it reads then (here
    the claim's moment); a row it finds no reason for is not sent; a row of a kind nobody
    renders fails instead of going out empty. Rows with text go as they are."""
    [(uid, chat)] = await _users(factory, emulator, 1)
    async with unit_of_work(factory) as uow:
        for key, kind in (("late:1", "late"), ("late:gone", "late"), ("mystery:1", "mystery")):
            uow.session.add(OutboxMessage(dedupe_key=key, chat_id=chat.id, user_id=uid, kind=kind, text=None,
                                          buttons=[], not_before=NOW))
        await uow.commit()
    await _enqueue(factory, [("plain", uid, chat.id)])
    seen: list[tuple[list[str], datetime]] = []

    async def render(session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime,
                     tz: ZoneInfo, locale: str) -> dict[int, Composed | None]:
        seen.append(([row.dedupe_key for row in rows], now))
        return {row.id: None if row.dedupe_key.endswith("gone") else
                (f"composed at {now.astimezone(tz):%H:%M}", [[{"text": "好", "callback_data": f"ok:{row.id}"}]])
                for row in rows}

    sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds, renderers={"late": render})
    report = await sender.drain(telegram_bot, factory)

    rows = await _rows(factory)
    assert seen == [(["late:1", "late:gone"], NOW)]  # one call for the batch
    assert sorted(_texts(chat)) == sorted(["composed at 10:00", "提醒 plain"])
    composed = next(m for m in chat.messages if m.get("text") == "composed at 10:00")
    assert composed["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"ok:{rows['late:1'].id}"
    assert (rows["late:1"].status, rows["late:gone"].status, rows["mystery:1"].status) == ("sent", "obsolete", "failed")
    assert report.obsolete == [rows["late:gone"].id] and report.failed == [rows["mystery:1"].id]
    # Nothing is claimed again: an obsolete row is done with.
    assert (await sender.drain(telegram_bot, factory)).sent == []
    assert emulator.violations == []


async def test_swept_reminders_are_sent_with_current_values_and_stale_ones_dropped(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    """The sweep queues two overdue enterprises of an officer; one is visited before the sender
    gets to it. The other goes out composed by `handlers.reminders` with its row's buttons."""
    [(uid, chat)] = await _users(factory, emulator, 1)
    async with unit_of_work(factory) as uow:
        s = uow.session
        firms = [Enterprise(name=name, credit_code=code * 18, region="宜昌市/枝江市", visit_cadence_days=30)
                 for name, code in (("楚韵纺织", "A"), ("白洋港", "B"))]
        s.add_all(firms)
        await s.flush()
        s.add_all([Assignment(enterprise_id=f.id, officer_id=uid, started_on=date(2026, 1, 1)) for f in firms])
        await uow.commit()
    async with unit_of_work(factory) as uow:
        assert (await run_sweep(uow.session, now=NOW, tz=TZ)).queued["overdue_visit"] == 2
        await uow.commit()
    async with unit_of_work(factory) as uow:
        uow.session.add(Visit(enterprise_id=firms[1].id, officer_id=uid, visit_date=date(2026, 11, 25)))
        await uow.commit()

    report = await sender.drain(telegram_bot, factory)

    rows = {sweeps.parse_subject(key)["enterprise_id"]: row for key, row in (await _rows(factory)).items()}
    late, visited = rows[firms[0].id], rows[firms[1].id]
    assert report.sent == [late.id] and report.obsolete == [visited.id]
    assert _texts(chat) == ["⏰ 楚韵纺织还没有走访记录（周期 30 天）。"]
    buttons = chat.messages[0]["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in buttons[1]] == [f"remind:later:{late.id}", f"remind:skip:{late.id}"]
    assert late.text is None  # composed for the message, not stored


async def test_reminders_of_an_officer_who_went_away_after_the_sweep_are_not_sent(
    factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator, telegram_bot: Bot,
    sender: OutboxSender, clock: FakeClock,
) -> None:
    """Three officers, one overdue enterprise each, swept at once. Before the sender gets to the
    rows, one goes on leave from today and one is deactivated: only the third is reminded; a
    leave that ended yesterday does not count."""
    officers = await _users(factory, emulator, 3)
    async with unit_of_work(factory) as uow:
        s = uow.session
        firms = [Enterprise(name=f"企业{n}", credit_code=str(n) * 18, region="宜昌市/枝江市", visit_cadence_days=30)
                 for n in range(3)]
        s.add_all(firms)
        await s.flush()
        s.add_all([Assignment(enterprise_id=f.id, officer_id=uid, started_on=date(2026, 1, 1))
                   for f, (uid, _chat) in zip(firms, officers, strict=True)])
        await uow.commit()
    async with unit_of_work(factory) as uow:
        assert (await run_sweep(uow.session, now=NOW, tz=TZ)).queued["overdue_visit"] == 3
        await uow.commit()
    (away, _), (gone, _), (here, here_chat) = officers
    async with unit_of_work(factory) as uow:
        for uid, change in ((away, {"away_until": date(2026, 11, 25)}), (gone, {"active": False}),
                            (here, {"away_until": date(2026, 11, 24)})):
            user = await uow.session.get_one(User, uid)
            for name, value in change.items():
                setattr(user, name, value)
        await uow.commit()

    report = await sender.drain(telegram_bot, factory)

    by_officer = {row.user_id: row for row in (await _rows(factory)).values()}
    assert report.sent == [by_officer[here].id]
    assert sorted(report.obsolete) == sorted([by_officer[away].id, by_officer[gone].id])
    assert [c for chat in (officers[0][1], officers[1][1]) for c in _texts(chat)] == []
    assert _texts(here_chat) == ["⏰ 企业2还没有走访记录（周期 30 天）。"]
