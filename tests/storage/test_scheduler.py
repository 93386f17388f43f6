"""The job store keeps the jobs and their next run times across a restart; on SQLite the jobs
wait for the database's write lock without stopping the bot or the scheduler."""

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
from sqlalchemy.engine import make_url
from telegram import Bot

from bot import scheduler as scheduler_module
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.scheduler import CATCH_UP, MISFIRE_GRACE_SECONDS, REPORT_MISFIRE_GRACE_SECONDS, Runtime, build_scheduler
from bot.sender import OutboxSender
from storage.clock import FixedClock
from storage.db import make_async_engine, make_session_factory
from storage.models import Assignment, Enterprise, InviteAttempt, User, Visit
from storage.uow import unit_of_work
from tests.sqlite_lock import hold_write_lock


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


# ---------------------------------------------------------------- SQLite's write lock

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the jobs' clock: Wednesday 10:00 in Shanghai
STALL_LIMIT = 3.0  # seconds the event loop may go without turning (a loaded test machine; before the fix: 10)


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
