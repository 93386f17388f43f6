"""The scheduler: the job store keeps the jobs and their next run times across a restart; what
is made up at start; the daily pruning of handled updates; on SQLite the jobs wait for the
database's write lock without stopping the bot or the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot import scheduler
from bot import scheduler as scheduler_module
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.scheduler import CATCH_UP, MISFIRE_GRACE_SECONDS, REPORT_MISFIRE_GRACE_SECONDS, Runtime, build_scheduler
from bot.sender import OutboxSender
from storage import updates
from storage.clock import FixedClock
from storage.db import make_async_engine, make_session_factory
from storage.models import Assignment, Enterprise, InviteAttempt, ProcessedUpdate, SchedulerStart, User, Visit
from storage.uow import unit_of_work
from tests.sqlite_lock import HOLD_SECONDS, hold_write_lock


async def test_jobs_survive_a_restart_with_their_next_run_times(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    first = build_scheduler(settings)
    first.start(paused=True)
    planned = {job.id: job.next_run_time for job in first.get_jobs()}
    first.shutdown(wait=False)

    second = build_scheduler(settings)  # the same fixed ids replace, not duplicate, the jobs
    second.start(paused=True)
    jobs = second.get_jobs()
    second.shutdown(wait=False)
    ids = [job.id for job in jobs]
    assert len(ids) == len(set(ids)) and {"outbox", "sweep", "quarterly_report", "year_end_report"} <= set(ids)
    assert {job.id: job.next_run_time for job in jobs}["sweep"] >= planned["sweep"]
    assert {job.id: job.next_run_time for job in jobs}["quarterly_report"] == planned["quarterly_report"]
    assert all(job.coalesce for job in jobs)
    grace = {job.id: job.misfire_grace_time for job in jobs}
    assert grace["sweep"] == grace["outbox"] == MISFIRE_GRACE_SECONDS
    assert grace["quarterly_report"] == grace["year_end_report"] == REPORT_MISFIRE_GRACE_SECONDS


# --------------------------------------------------------------- what is made up at start

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 30, 8, 30, tzinfo=TZ)  # DIGEST_CRON's default: mon 08:30


async def _start(database_url: str, factory: async_sessionmaker[AsyncSession], clock: FixedClock,
                 **settings: Any) -> tuple[AsyncIOScheduler, Settings]:
    """The bot's scheduler on this database at the clock's time, paused: planned, nothing runs."""
    config = Settings(_env_file=None, database_url=database_url, **settings)
    runtime = scheduler.Runtime(bot=None, factory=factory, clock=clock, settings=config,
                                sender=OutboxSender(clock=clock, tz=config.timezone))
    return await scheduler.start_scheduler(runtime, paused=True), config


async def _made_up(database_url: str, factory: async_sessionmaker[AsyncSession], clock: FixedClock,
                   **settings: Any) -> set[str]:
    """The report jobs the scheduler, started at the clock's time, plans to run right away."""
    started, _ = await _start(database_url, factory, clock, **settings)
    try:
        now = clock.now()
        soon = now + timedelta(seconds=len(scheduler.CATCH_UP))
        return {job.id for job in started.get_jobs() if job.id in scheduler.CATCH_UP and now <= job.next_run_time < soon}
    finally:
        started.shutdown(wait=False)


async def test_a_new_database_does_not_make_up_the_digest_due_before_it_existed(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Monday 08:31: the digest was due a minute ago, but not to this database, which is new."""
    clock = FixedClock(MONDAY + timedelta(minutes=1))
    assert await _made_up(database_url, session_factory, clock) == set()
    async with session_factory() as session:
        assert await session.scalar(select(SchedulerStart.started_at)) == clock.now()


async def test_a_new_database_on_tuesday_morning_makes_up_nothing_in_any_time_zone(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The CI failure: Tuesday 07:20 in Shanghai is Monday 12:20 at UTC-11, where the digest of
    08:30 is within its grace; the database is new, so nothing is made up."""
    clock = FixedClock(datetime(2026, 12, 8, 7, 20, tzinfo=TZ))
    assert await _made_up(database_url, session_factory, clock, bot_timezone="Etc/GMT+11") == set()


async def test_the_digest_missed_while_the_bot_was_down_is_made_up(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The scheduler ran here before Monday 08:30 and the bot was down until 09:00: the digest
    goes now. Started first at 08:40, after it was due, the database never had that digest."""
    clock = FixedClock(MONDAY - timedelta(days=3))
    await _made_up(database_url, session_factory, clock)  # the first start, on Friday
    clock.current = MONDAY + timedelta(minutes=30)
    assert await _made_up(database_url, session_factory, clock) == {"weekly_digest"}

    async with unit_of_work(session_factory) as uow:
        await uow.session.execute(update(SchedulerStart).values(started_at=MONDAY + timedelta(minutes=10)))
        await uow.commit()
    assert await _made_up(database_url, session_factory, clock) == set()
    async with session_factory() as session:  # the first start stays what it was
        assert await session.scalar(select(SchedulerStart.started_at)) == MONDAY + timedelta(minutes=10)


async def test_the_quarterly_and_year_end_reports_are_made_up_only_for_a_database_that_had_them_due(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """1 January 2027, 10:00: the 09:00 and 09:30 runs were missed (down since 08:00), or the
    database is new since 09:15 (the year's figures only were due while it existed)."""
    new_year = datetime(2027, 1, 1, 10, 0, tzinfo=TZ)
    clock = FixedClock(new_year - timedelta(hours=2))
    await _made_up(database_url, session_factory, clock)
    clock.current = new_year
    assert await _made_up(database_url, session_factory, clock) == {"quarterly_report", "year_end_report"}
    async with unit_of_work(session_factory) as uow:
        await uow.session.execute(update(SchedulerStart).values(started_at=new_year - timedelta(minutes=45)))
        await uow.commit()
    assert await _made_up(database_url, session_factory, clock) == {"year_end_report"}


# --------------------------------------------------------------- pruning the handled updates

async def test_the_scheduler_prunes_the_handled_updates_daily(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    built = build_scheduler(settings)
    built.start(paused=True)
    job = built.get_job("prune_updates")
    built.shutdown(wait=False)
    assert job is not None and job.func is scheduler.prune_updates_job
    fire = job.trigger.get_next_fire_time(None, MONDAY)
    assert fire is not None and fire - MONDAY < timedelta(days=1)
    assert job.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1)) - fire == timedelta(days=1)


async def test_pruning_forgets_updates_telegram_can_no_longer_redeliver(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock(MONDAY)
    ages = {1: timedelta(days=30), 2: updates.KEEP_FOR + timedelta(minutes=1), 3: updates.KEEP_FOR - timedelta(minutes=1),
            4: timedelta(days=1, hours=1), 5: timedelta(seconds=5)}
    async with unit_of_work(session_factory) as uow:
        uow.session.add_all(ProcessedUpdate(update_id=n, processed_at=clock.now() - age) for n, age in ages.items())
        await uow.commit()
    settings = Settings(_env_file=None)
    monkeypatch.setattr(scheduler, "_runtime", scheduler.Runtime(
        bot=None, factory=session_factory, clock=clock, settings=settings, sender=OutboxSender(clock=clock, tz=TZ)))
    await scheduler.prune_updates_job()
    async with session_factory() as session:
        kept = set((await session.scalars(select(ProcessedUpdate.update_id))).all())
    assert kept == {3, 4, 5}  # a day and more: still more than Telegram redelivers
    assert timedelta(hours=24) < updates.KEEP_FOR  # Telegram keeps an unconfirmed update a day


# ---------------------------------------------------------------- SQLite's write lock

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the jobs' clock: Wednesday 10:00 in Shanghai
# The loop blocked on the lock stands still for the whole hold (before the fix: 10 s, the busy
# timeout); a turning loop never comes near half of it, however loaded the machine.
STALL_LIMIT = HOLD_SECONDS / 2


class _LoopWatch:
    """The longest the event loop went without turning while `watching`."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            self.longest = max(self.longest, now - last - 0.05)
            last = now

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        self._task = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            self._task.cancel()


@contextlib.asynccontextmanager
async def _running_scheduler(database_url: str, bot: Any, monkeypatch: pytest.MonkeyPatch,
                             ) -> AsyncIterator[AsyncIOScheduler]:
    """The bot's scheduler on `database_url`, its jobs on a clock held at NOW, without the report
    jobs (their cron times are real)."""
    settings = Settings(_env_file=None, database_url=database_url)
    engine = make_async_engine(database_url)
    clock = FixedClock(NOW)
    monkeypatch.setattr(scheduler_module, "_runtime", Runtime(bot, make_session_factory(engine), clock, settings,
                                                              OutboxSender(clock=clock, tz=TZ)))
    scheduler = build_scheduler(settings)
    running: list[int] = [0]  # runs submitted and not yet finished

    def count(event: JobEvent) -> None:
        running[0] += 1 if event.code == EVENT_JOB_SUBMITTED else -1

    scheduler.add_listener(count, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    for job_id in CATCH_UP:
        scheduler.remove_job(job_id)
    try:
        yield scheduler
    finally:
        # Shutting down cancels a run in progress (logged as its error): let it end first.
        scheduler.pause()
        async with asyncio.timeout(30):
            while running[0]:
                await asyncio.sleep(0.05)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a callback of the loop
        await engine.dispose()


async def _overdue_officer(database_url: str) -> None:
    """An officer on Telegram (chat 501) with an enterprise not visited for 31 days: the sweep
    queues one reminder for her."""
    engine = make_async_engine(database_url)
    async with unit_of_work(make_session_factory(engine)) as uow:
        officer = User(name="王芳", role="officer", region="宜昌市/枝江市", chat_id=501, telegram_user_id=501,
                       created_at=NOW)
        late = Enterprise(name="楚韵纺织", credit_code="A" * 18, region="宜昌市/枝江市", visit_cadence_days=30)
        uow.session.add_all([officer, late])
        await uow.session.flush()
        uow.session.add_all([
            Assignment(enterprise_id=late.id, officer_id=officer.id, started_on=date(2026, 1, 1)),
            Visit(enterprise_id=late.id, officer_id=officer.id, visit_date=date(2026, 10, 25)),
        ])
        await uow.commit()
    await engine.dispose()


def _no_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines at ERROR or above, and any with a traceback."""
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info]


async def test_the_jobs_wait_out_another_process_holding_the_write_lock_and_the_bot_goes_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator's command writing for longer than the busy timeout was, while the sweep and the
    sender are due: they wait for the lock and then do their work; the event loop (every
    officer's update) never stands still meanwhile; nothing is logged as an error."""
    await _overdue_officer(sqlite_url)
    path = make_url(sqlite_url).database
    assert path is not None
    watch = _LoopWatch()
    async with BotApiEmulator() as emulator:
        emulator.user(501, "王芳").send_text("/start")
        async with Bot("1000001:SANDBOX-offline-token", base_url=emulator.base_url) as bot, \
                _running_scheduler(sqlite_url, bot, monkeypatch) as scheduler:
            # The sweep falls due a moment into the other process's transaction, the sender
            # every 5 seconds of it.
            scheduler.modify_job("sweep", next_run_time=datetime.now(TZ) + timedelta(seconds=2))
            async with watch.watching():
                holder = await asyncio.to_thread(hold_write_lock, path)
                await asyncio.to_thread(holder.wait)
                reminder = await emulator.wait_for_call(lambda c: c.method == "sendMessage", timeout=30)
    assert holder.returncode == 0
    assert "楚韵纺织" in reminder.params["text"] and emulator.violations == []
    assert watch.longest < STALL_LIMIT
    assert _no_errors(caplog) == []


async def test_a_transaction_of_the_bot_open_when_the_sender_is_due_does_not_stop_the_scheduler(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """One of the bot's own transactions that has written, open across awaits (an officer's step,
    the sweep, the weekly job between two ledgers) while the job store records a run."""
    engine = make_async_engine(sqlite_url)
    watch = _LoopWatch()
    async with _running_scheduler(sqlite_url, None, monkeypatch) as scheduler:
        async with watch.watching(), unit_of_work(make_session_factory(engine)) as uow:
            uow.session.add(InviteAttempt(telegram_user_id=7, attempted_at=NOW))
            await uow.session.flush()  # the write lock is this transaction's from here
            for _ in range(int(scheduler_module.DRAIN_SECONDS / 0.1) + 10):  # past the sender's next run
                await asyncio.sleep(0.1)
            await uow.commit()
        outbox = scheduler.get_job("outbox")
        assert outbox is not None and outbox.next_run_time > datetime.now(TZ)  # still planning runs
    await engine.dispose()
    assert watch.longest < STALL_LIMIT
    assert _no_errors(caplog) == []


async def test_a_sweep_that_finds_the_database_unavailable_leaves_it_to_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """Locked past the busy timeout, or PostgreSQL restarting: a warning, not a job's traceback
    (the next sweep, 15 minutes later, queues what this one would have)."""
    database_url = f"sqlite:///{tmp_path / 'no such directory' / 'liaison.db'}"  # cannot be opened
    engine = make_async_engine(database_url)
    clock = FixedClock(NOW)
    settings = Settings(_env_file=None, database_url=database_url)
    monkeypatch.setattr(scheduler_module, "_runtime", Runtime(None, make_session_factory(engine), clock, settings,
                                                              OutboxSender(clock=clock, tz=TZ)))
    await scheduler_module.sweep_job()
    await engine.dispose()
    assert [r.levelname for r in caplog.records if r.name == "bot.scheduler"] == ["WARNING"]
    assert _no_errors(caplog) == []
