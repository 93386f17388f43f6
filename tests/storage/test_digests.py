"""The weekly digest and the officer's summary, on a small world built by hand.

The week is Monday 2026-11-16 to Sunday 2026-11-22 (ISO week 47), scope 宜昌市. Every expected
number was counted by hand from the fixture below (the comments show the counting).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot import scheduler
from bot.cli import _send_digests
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.sender import OutboxSender
from output.digests import queue_weekly
from storage.clock import FixedClock
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.digests import (
    SubRegion,
    officer_summaries,
    officer_summary,
    supervisor_digest,
    supervisor_digests,
    week_of,
)
from storage.models import Assignment, Enterprise, Feedback, Founding, OutboxMessage, PartyOrganisation, Person, User, Visit
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
WEEK = date(2026, 11, 16)


def _code(serial: int) -> str:
    first17 = f"91420583MA4G{serial:05d}"
    return first17 + check_character(first17)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def _world(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with unit_of_work(factory) as uow:
        s = uow.session
        wang = User(name="王芳", role="officer", region="宜昌市/枝江市")
        li = User(name="李明", role="officer", region="宜昌市/远安县")
        zhang = User(name="张伟", role="officer", region="宜昌市", away_until=date(2026, 11, 22))
        zhou = User(name="周强", role="officer", region="宜昌市/当阳市", away_until=date(2026, 11, 21))
        sun = User(name="孙丽", role="officer", region="宜昌市/当阳市")
        chen = User(name="陈刚", role="officer", region="宜昌市", active=False)
        boss = User(name="刘主任", role="supervisor", region="宜昌市")
        zhao = User(name="赵六", role="officer", region="荆州市")
        a = Enterprise(name="甲", credit_code=_code(1), region="宜昌市/枝江市/马家店街道", employees=50,
                       party_members=3)
        b = Enterprise(name="乙", credit_code=_code(2), region="宜昌市/枝江市/白洋镇", employees=150, party_members=0)
        branch = PartyOrganisation(name="中共丙支部委员会", category="branch", formation="single", region="宜昌市/远安县")
        s.add(branch)
        await s.flush()
        c = Enterprise(name="丙", credit_code=_code(3), region="宜昌市/远安县", employees=200, party_members=9,
                       party_org_id=branch.id)
        d = Enterprise(name="丁", credit_code=_code(4), region="宜昌市/远安县", party_members=2,
                       visit_cadence_days=60)
        f = Enterprise(name="己", credit_code=_code(6), region="宜昌市/远安县/旧县镇", employees=100,
                       party_members=3)
        e = Enterprise(name="戊", credit_code=_code(5), region="荆州市/沙市区", party_members=5)
        s.add_all([wang, li, zhang, zhou, sun, chen, boss, zhao, a, b, c, d, e, f])
        await s.flush()
        s.add_all([
            Assignment(enterprise_id=a.id, officer_id=wang.id, started_on=date(2026, 1, 1)),
            Assignment(enterprise_id=b.id, officer_id=wang.id, started_on=date(2026, 1, 1)),
            Assignment(enterprise_id=c.id, officer_id=wang.id, started_on=date(2026, 1, 1),
                       ended_on=date(2026, 11, 1)),
        ])
        for enterprise, officer, day in [
            (a, wang, date(2026, 11, 10)), (a, wang, date(2026, 11, 18)), (a, wang, date(2026, 11, 22)),
            (b, wang, date(2026, 10, 1)),
            (c, li, date(2026, 10, 23)), (f, li, date(2026, 10, 22)), (d, li, date(2026, 9, 25)),
            (d, li, date(2026, 11, 23)),
            (e, zhao, date(2026, 11, 19)), (e, zhou, date(2026, 11, 8)), (e, sun, date(2026, 11, 9)),
        ]:
            s.add(Visit(enterprise_id=enterprise.id, officer_id=officer.id, visit_date=day))
        for enterprise, officer, stage, applied, activist in [
            (a, wang, "activist", date(2026, 1, 1), date(2026, 11, 16)),
            (c, li, "activist", date(2026, 1, 1), date(2026, 11, 22)),
            (b, wang, "activist", date(2026, 1, 1), date(2026, 11, 23)),
            (e, zhao, "activist", date(2026, 1, 1), date(2026, 11, 18)),
            (b, wang, "applicant", date(2026, 6, 1), None),
        ]:
            s.add(Person(enterprise_id=enterprise.id, officer_id=officer.id, name="某", gender="female",
                         birth_date=date(1990, 1, 1), stage=stage, applied_on=applied, talked_on=date(2026, 1, 5)
                         if activist else None, activist_on=activist))
        for enterprise, day in [(c, date(2026, 11, 20)), (d, date(2026, 11, 15)), (e, date(2026, 11, 17))]:
            s.add(Founding(enterprise_id=enterprise.id, founded_on=day, category="branch", formation="single",
                           secretary="某", members=3, officer_id=li.id))
        for enterprise, created, status, closed, officer in [
            (a, _utc(2026, 11, 15, 16, 30), "open", None, None),  # F1: 11-16 00:30 local
            (b, _utc(2026, 11, 15, 15, 30), "resolved", _utc(2026, 11, 17), None),  # F2: 11-15 23:30 local
            (c, _utc(2026, 11, 1), "open", None, wang),  # F3
            (d, _utc(2026, 11, 8, 17), "in_progress", None, None),  # F4
            (a, _utc(2026, 10, 20), "resolved", _utc(2026, 11, 25), None),  # F5: closed after the week
            (e, _utc(2026, 11, 1), "open", None, None),  # F6: out of scope
        ]:
            s.add(Feedback(enterprise_id=enterprise.id, raised_by="业主", channel="officer", category="policy",
                           content="…", urgency="normal", status=status, created_at=created, closed_at=closed,
                           officer_id=officer.id if officer else None))
        await uow.commit()
        return {"wang": wang.id, "li": li.id}


async def test_supervisor_digest_counts_by_hand(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        d = await supervisor_digest(uow.session, "宜昌市", WEEK, TZ)
    # In scope this week (11-16..11-22): A 11-18, A 11-22 = 2 (D 11-23 is next week, E out of scope).
    # Last week (11-09..11-15): A 11-10 = 1 (E 11-09 out of scope).
    assert (d.visits, d.visits_last_week, d.visits_change) == (2, 1, 1)
    # activist_on in week, in scope: A 11-16, C 11-22 = 2 (B 11-23 next week, E out of scope).
    assert d.new_activists == 2
    # founded_on in week: C 11-20 = 1 (D 11-15 last week, E out of scope).
    assert d.new_organisations == 1
    # New: F1 (00:30 local on Monday) = 1; F2 was raised 23:30 local on Sunday before.
    # Resolved in week: F2 = 1 (F5 closed 11-25, after the week).
    # Overdue at week end (raised before 11-08 16:00 UTC, open at 11-22 16:00 UTC): F3, F5 = 2;
    # F4 (11-08 17:00 UTC) is just under 14 days old.
    assert (d.feedback_new, d.feedback_resolved, d.feedback_overdue) == (1, 1, 2)
    # Coverage as of Sunday 11-22: A (0 days) yes, B (52 > 30) no, C (30 ≤ 30) yes, D (58 ≤ 60) yes,
    # F (31 > 30) no → 3 of 5 = 60 %.
    assert (d.enterprises, d.covered) == (5, 3)
    assert abs(d.coverage - 0.6) < 1e-9
    # 枝江市: A, B — 1 of 2 = 50 % → lagging, visits 2, last week 1 (A 11-10);
    # 远安县: C, D, F — 2 of 3 = 67 %, visits 0, last week 0.
    assert d.regions == [SubRegion("宜昌市/枝江市", 2, 1, 2, 1), SubRegion("宜昌市/远安县", 3, 2, 0, 0)]
    assert [r.name for r in d.lagging] == ["枝江市"]
    # Ready to form: A (3 members), F (3 members) = 2; priority: B (150), F (100) = 2; C has a branch.
    assert (d.ready_to_form, d.priority) == (2, 2)
    # No visit in 11-09..11-22: 李明 (last 10-23; 11-23 is after), 周强 (11-08, away only until 11-21).
    # 王芳 and 孙丽 (11-09) visited; 张伟 away until 11-22; 陈刚 inactive; 刘主任 no officer;
    # 赵六 out of scope. Sorted by code point: 周 U+5468 before 李 U+674E.
    assert d.idle_officers == ["周强", "李明"]
    assert d.week == 47


async def test_sub_scope_and_week_in_progress(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        d = await supervisor_digest(uow.session, "宜昌市/远安县", WEEK, TZ, today=date(2026, 11, 18))
    # As of Wednesday 11-18: C (26 days) yes, D (54 ≤ 60) yes, F (27) yes → 3 of 3.
    assert (d.enterprises, d.covered, d.visits) == (3, 3, 0)
    # C, D at the scope's own level form a row named by the scope; F is in 旧县镇.
    assert d.regions == [SubRegion("宜昌市/远安县", 2, 2, 0), SubRegion("宜昌市/远安县/旧县镇", 1, 1, 0)]
    # 李明: no visit in 11-05..11-18 → idle.
    assert d.idle_officers == ["李明"]


async def test_officer_summary_by_hand(session_factory: async_sessionmaker[AsyncSession]) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = await officer_summary(uow.session, ids["wang"], WEEK, TZ)
    # 王芳: this week A 11-18, A 11-22 = 2; last week A 11-10 = 1.
    assert (s.name, s.visits, s.visits_last_week) == ("王芳", 2, 1)
    # Assigned now: A (last 11-22) and B (last 10-01, 53 days on 11-23 > 30); C's assignment ended.
    assert s.overdue_enterprises == 1
    # Her people: activists at A (11-16) and B (11-23) not yet due; the applicant of 06-01 had
    # to be talked to by 07-01 → 1.
    assert s.overdue_people == 1
    # Open feedback on A/B: F1; recorded by her: F3 (at C) → 2.
    assert s.open_feedback == 2


async def test_the_batches_equal_one_call_each(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """The weekly job computes every digest and summary in one batch each; every one must be
    what the single call (/digest, the officer's own summary) gives."""
    ids = await _world(session_factory)
    regions = ["宜昌市", "宜昌市/枝江市", "宜昌市/当阳市", "荆州市"]
    async with unit_of_work(session_factory) as uow:
        for today in (None, date(2026, 11, 19)):
            digests = await supervisor_digests(uow.session, regions, WEEK, TZ, today=today)
            summaries = await officer_summaries(uow.session, [ids["li"], ids["wang"], ids["li"]], WEEK, TZ,
                                                today=today)
            assert set(digests) == set(regions) and set(summaries) == {ids["wang"], ids["li"]}
            for region in regions:
                assert digests[region] == await supervisor_digest(uow.session, region, WEEK, TZ, today=today)
            wang = await officer_summary(uow.session, ids["wang"], WEEK, TZ, today=today)
            assert summaries[ids["wang"]] == wang and wang.visits == 2
            # 李明 apart from 王芳: his own figures, not hers added to his.
            assert summaries[ids["li"]] == await officer_summary(uow.session, ids["li"], WEEK, TZ, today=today)
            assert summaries[ids["li"]].name == "李明"


def test_week_of() -> None:
    assert week_of(date(2026, 11, 22)) == WEEK
    assert week_of(date(2026, 11, 16)) == WEEK


async def test_queue_weekly_then_send_with_chart_and_ledger(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    monday = datetime(2026, 11, 23, 8, 30, tzinfo=TZ)
    async with BotApiEmulator() as emulator:
        boss_chat, wang_chat = emulator.user(701, "刘主任"), emulator.user(702, "王芳")
        boss_chat.send_text("/start")
        wang_chat.send_text("/start")
        async with unit_of_work(session_factory) as uow:
            boss = (await uow.session.execute(select(User).where(User.name == "刘主任"))).scalar_one()
            boss.chat_id = boss_chat.id
            wang = await uow.session.get(User, ids["wang"])
            assert wang is not None
            wang.chat_id = wang_chat.id
            await uow.commit()
        # First run: the supervisor's text (1 part), chart, ledger = 3; 王芳's summary = 1. A second
        # run (a restart, the command after the cron job) queues nothing.
        for expected in (4, 0):
            async with unit_of_work(session_factory) as uow:
                queued = await queue_weekly(uow.session, now=monday, tz=TZ)
                await uow.commit()
            assert queued == expected
        async with unit_of_work(session_factory) as uow:
            keys = set((await uow.session.execute(select(OutboxMessage.dedupe_key))).scalars())
        boss_id = boss.id
        assert keys == {f"digest:supervisor:{boss_id}:2026-W47:{part}" for part in range(3)} | {
            f"summary:officer:{ids['wang']}:2026-W47"}
        clock = FixedClock(monday)
        async with Bot("1000001:SANDBOX-offline-token", base_url=emulator.base_url) as bot:
            sender = OutboxSender(clock=clock, tz=TZ, timer=lambda: 0.0, sleep=_no_sleep,
                                  pacer=_NoPacer())  # type: ignore[arg-type]
            report = await sender.drain(bot, session_factory)
        assert len(report.sent) == 4 and not report.failed
        assert [c.method for c in emulator.calls_to("sendPhoto")] == ["sendPhoto"]
        assert [c.method for c in emulator.calls_to("sendDocument")] == ["sendDocument"]
        assert emulator.violations == []
        assert "走访 2 次（上周 1，↑100%）· 按期走访率 60%" in boss_chat.messages[0]["text"]
        assert "本周走访 2 次（上周 1）" in wang_chat.messages[0]["text"]


async def _no_sleep(seconds: float) -> None:
    return None


class _NoPacer:
    """No pacing: the test sends four messages, far below Telegram's limits."""

    def wait(self, chat_id: int, now: float) -> float:
        return 0.0

    def record(self, chat_id: int, now: float) -> None:
        return None

    def pause(self, seconds: float, now: float) -> None:
        return None

    def settle(self, chat_id: int, sent: float, answered: float) -> None:
        return None

    def pick(self, chat_ids: object, now: float) -> int:
        return 0


def test_digest_cron_setting() -> None:
    assert Settings(_env_file=None).digest_schedule == ("mon", 8, 30)
    assert Settings(_env_file=None, digest_cron="Fri 17:05").digest_schedule == ("fri", 17, 5)
    for wrong in ("monday 08:30", "mon 8", "mon 25:00", "08:30"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, digest_cron=wrong)


async def test_weekly_job_is_scheduled_and_queues(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    built = scheduler.build_scheduler(settings)
    built.start(paused=True)
    job = built.get_job("weekly_digest")
    built.shutdown(wait=False)
    assert job is not None and job.misfire_grace_time == scheduler.REPORT_MISFIRE_GRACE_SECONDS
    # Planned from 2026-11-25 (a Wednesday): the next Monday 08:30 in Shanghai.
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 25, 10, 0, tzinfo=TZ))
    assert fire == datetime(2026, 11, 30, 8, 30, tzinfo=TZ)

    await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        boss = (await uow.session.execute(select(User).where(User.name == "刘主任"))).scalar_one()
        boss.chat_id = 9001
        await uow.commit()
    clock = FixedClock(datetime(2026, 11, 23, 8, 30, tzinfo=TZ))
    monkeypatch.setattr(scheduler, "_runtime", scheduler.Runtime(
        bot=None, factory=session_factory, clock=clock, settings=settings, sender=OutboxSender(clock=clock, tz=TZ)))
    await scheduler.weekly_digest_job()
    async with unit_of_work(session_factory) as uow:
        keys = set((await uow.session.execute(select(OutboxMessage.dedupe_key))).scalars())
    assert keys == {f"digest:supervisor:{boss.id}:2026-W47:{part}" for part in range(3)}


async def test_send_digests_command(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _world(session_factory)
    async with BotApiEmulator() as emulator:
        chat = emulator.user(703, "刘主任")
        chat.send_text("/start")
        async with unit_of_work(session_factory) as uow:
            boss = (await uow.session.execute(select(User).where(User.name == "刘主任"))).scalar_one()
            boss.chat_id = chat.id
            await uow.commit()
        settings = Settings(_env_file=None, telegram_bot_token="1000001:SANDBOX-offline-token",
                            telegram_api_base_url=emulator.base_url)
        clock = FixedClock(datetime(2026, 11, 25, 10, 0, tzinfo=TZ))  # outside quiet hours
        assert await _send_digests(session_factory, settings, clock, current=True) == 0
        # The week in progress (W48): one text, the chart, the ledger.
        assert len(chat.messages) == 3 and "第 48 周" in chat.messages[0]["text"]
        assert emulator.violations == []
    no_token = Settings(_env_file=None)
    assert await _send_digests(session_factory, no_token, clock, current=False) == 2


async def test_the_weekly_job_holds_no_write_lock_while_a_ledger_is_built(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building a ledger takes seconds (a city's, a minute for all of them): meanwhile SQLite's
    one write lock must be free for officers' steps and the operator's commands."""
    import sqlite3

    from output import digests

    factory = make_session_factory(make_async_engine(sqlite_url))
    await _world(factory)
    async with unit_of_work(factory) as uow:
        for name, chat in (("王芳", 9101), ("刘主任", 9102)):  # the officer comes first: her summary is written first
            user = (await uow.session.execute(select(User).where(User.name == name))).scalar_one()
            user.chat_id = chat
        uow.session.add(User(name="钱督导", role="supervisor", region="宜昌市/远安县", chat_id=9103))
        await uow.commit()
    path = make_url(sqlite_url).database
    assert path is not None
    lock_free: list[bool] = []
    build = digests.build_ledger

    async def probed(*args: Any, **kwargs: Any) -> bytes:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once if a transaction holds the write lock
            probe.execute("ROLLBACK")
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            probe.close()
        return await build(*args, **kwargs)

    monkeypatch.setattr(digests, "build_ledger", probed)
    clock = FixedClock(datetime(2026, 11, 23, 8, 30, tzinfo=TZ))
    settings = Settings(_env_file=None, database_url=sqlite_url)
    monkeypatch.setattr(scheduler, "_runtime", scheduler.Runtime(
        bot=None, factory=factory, clock=clock, settings=settings, sender=OutboxSender(clock=clock, tz=TZ)))
    await scheduler.weekly_digest_job()
    async with unit_of_work(factory) as uow:
        keys = set((await uow.session.execute(select(OutboxMessage.dedupe_key))).scalars())
    await factory.kw["bind"].dispose()
    assert lock_free == [True, True]  # two supervisors, two ledgers
    assert len(keys) == 1 + 3 + 3  # the summary; each supervisor's text, chart and ledger
