"""The scheduler: the job store keeps the jobs and their next run times across a restart; what
is made up at start; the daily pruning of handled updates."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import scheduler
from bot.config import Settings
from bot.scheduler import MISFIRE_GRACE_SECONDS, REPORT_MISFIRE_GRACE_SECONDS, build_scheduler
from bot.sender import OutboxSender
from storage import updates
from storage.clock import FixedClock
from storage.models import ProcessedUpdate, SchedulerStart
from storage.uow import unit_of_work


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
