"""APScheduler inside the bot process: the reminder sweep and the outbox sender.

Jobs live in a persistent job store in the same database, so a restart keeps them and their
next run times: fixed ids with `replace_existing=True`, `coalesce=True` (after downtime a job
runs once, not once per missed interval), and a misfire grace of an hour instead of the
default second, which would silently skip a run after a short outage.

Re-adding a job at start plans it afresh from its trigger, and APScheduler plans a job's next
run before the run itself: so a run that fell due while the bot was down, or that a crash cut
short, would never happen. The report jobs (`CATCH_UP`) are therefore run once at start when
their last fire time is within their grace; their bodies are idempotent (dedupe keys), so a run
that did finish queues nothing twice. The interval jobs simply run again within minutes. Only
runs missed while the scheduler ran on this database are made up: the first start on a database
is recorded (`storage.schedule`), and a run due before it was never this database's to send.

APScheduler plans and fires by the real time; what the scheduler decides (which runs to make
up, what a job queues) goes by the injected clock (`Runtime.clock`), so tests decide it.

A job in the store is a reference to a module-level function, so the functions here reach the
running bot through `_runtime`, set by `start_scheduler`.

On SQLite the job store is a file of its own next to the database (`liaison.db` →
`liaison.jobs.db`, `job_store_url`). APScheduler writes its store synchronously, in the event
loop, after every run (the sender's every 5 seconds). In the database itself that write needs
SQLite's one write lock: while another process held it (an operator's import) the whole bot
stood still for as long, and while one of the bot's own transactions held it across an `await`
(an officer's step, the sweep, the weekly job) neither could go on, until the busy timeout
failed the store's write — a "database is locked" traceback, after which APScheduler planned no
further run. Nothing else writes the jobs' file (one bot process per SQLite database).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.context import Outbox
from output.digests import queue_weekly
from output.reports import is_first_working_day_of_quarter, is_first_working_day_of_year, queue_quarterly, queue_year_end
from storage import schedule, sweep, updates, workdays
from storage.clock import Clock
from storage.db import is_sqlite, make_sync_engine
from storage.db import unavailable as database_unavailable
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

SWEEP_MINUTES = 15
# The records of handled updates (`storage.updates`) are pruned once a day, at an hour of little
# traffic; a day more or less does not matter against `updates.KEEP_FOR`.
PRUNE_HOUR, PRUNE_MINUTE = 4, 10
DRAIN_SECONDS = 5
MISFIRE_GRACE_SECONDS = 3600
# The reports fire once a day: after a morning outage they should still go out that day.
REPORT_MISFIRE_GRACE_SECONDS = 12 * 3600
# Jobs whose last due run is made up at start (within their grace), see the module's docstring.
CATCH_UP = ("weekly_digest", "quarterly_report", "year_end_report")


@dataclass
class Runtime:
    bot: Any
    factory: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    sender: Outbox


_runtime: Runtime | None = None


async def sweep_job() -> None:
    """Finds what is due and queues reminders (deduplicated) in the outbox."""
    if _runtime is None:
        return
    try:
        async with unit_of_work(_runtime.factory) as uow:
            report = await sweep.sweep(uow.session, now=_runtime.clock.now(), tz=_runtime.settings.timezone)
            await uow.commit()
    except Exception as error:
        if not database_unavailable(error):
            raise
        # Not an error of the sweep: the next one, SWEEP_MINUTES later, queues what this one would have.
        logger.warning("Sweep put off to its next run, the database is unavailable: %s", error)
        return
    logger.info("Sweep queued %s", report)


async def drain_job() -> None:
    """Sends what the outbox holds, within Telegram's limits."""
    if _runtime is None:
        return
    report = await _runtime.sender.drain(_runtime.bot, _runtime.factory)
    if report.sent or report.failed:
        logger.info("Outbox: %s", report)


async def prune_updates_job() -> None:
    """Forgets handled updates Telegram can no longer redeliver (older than `updates.KEEP_FOR`)."""
    if _runtime is None:
        return
    async with unit_of_work(_runtime.factory) as uow:
        pruned = await updates.prune(uow.session, now=_runtime.clock.now())
        await uow.commit()
    logger.info("Pruned %s processed updates", pruned)


async def _report_job(name: str, on_day: Callable[[date], bool], queue: Callable[..., Awaitable[int]]) -> None:
    """Queues a report for every supervisor when today is its day (the triggers fire on a few
    days around it; the dedupe keys keep a second run from queuing twice)."""
    if _runtime is None:
        return
    now, tz = _runtime.clock.now(), _runtime.settings.timezone
    today = now.astimezone(tz).date()
    if not on_day(today):
        return
    if not workdays.known(today.year):
        # Sent all the same (never refused), but the operator should add the year's notice.
        logger.warning("%s: today is reckoned the first working day without the %s holiday notice (暂算: "
                       "Monday–Friday less fixed-date holidays); add it to storage/workday_schedule.py",
                       name, today.year)
    async with unit_of_work(_runtime.factory) as uow:
        queued = await queue(uow.session, now=now, tz=tz, locale=_runtime.settings.bot_locale)
        await uow.commit()
    logger.info("%s queued for %s supervisors", name, queued)


async def quarterly_report_job() -> None:
    """Queues the 季报 of the previous quarter, on the first working day of the quarter only."""
    await _report_job("Quarterly report", is_first_working_day_of_quarter, queue_quarterly)


async def year_end_report_job() -> None:
    """Queues the 年终统计 of the previous year, on the first working day of January only."""
    await _report_job("Year-end figures", is_first_working_day_of_year, queue_year_end)


# The first working day of a quarter falls within its first fortnight: the National Day week
# with its 调休 has pushed it to 10-08 (2026) and 10-09 (2020, 2025).
REPORT_DAYS = "1-14"


def quarterly_trigger(tz: tzinfo) -> CronTrigger:
    """09:00 on days 1–14 of each quarter's first month: the first working day is among them."""
    return CronTrigger(month="1,4,7,10", day=REPORT_DAYS, hour=9, minute=0, timezone=tz)


def year_end_trigger(tz: tzinfo) -> CronTrigger:
    """09:30 on days 1–14 of January (after the quarterly report of the same morning)."""
    return CronTrigger(month=1, day=REPORT_DAYS, hour=9, minute=30, timezone=tz)


async def weekly_digest_job() -> None:
    """Queues last week's digests (supervisors) and summaries (officers); the sender delivers them."""
    if _runtime is None:
        return
    async with unit_of_work(_runtime.factory) as uow:
        queued = await queue_weekly(uow.session, now=_runtime.clock.now(), tz=_runtime.settings.timezone,
                                    locale=_runtime.settings.bot_locale)
        await uow.commit()
    logger.info("Weekly digests: %s messages queued", queued)


def digest_trigger(settings: Settings) -> CronTrigger:
    """`DIGEST_CRON` (default Monday 08:30) in the bot's time zone."""
    day, hour, minute = settings.digest_schedule
    return CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=settings.timezone)


def job_store_url(database_url: str) -> str:
    """Where the jobs are kept: the database itself (PostgreSQL), or on SQLite a file of its own
    next to the database file (see the module's docstring)."""
    if not is_sqlite(database_url):
        return database_url
    url = make_url(database_url)
    if not url.database or url.database == ":memory:":
        return database_url
    path = Path(url.database)
    return url.set(database=str(path.with_name(f"{path.stem}.jobs{path.suffix or '.db'}"))).render_as_string(
        hide_password=False)


def build_scheduler(settings: Settings) -> AsyncIOScheduler:
    store = SQLAlchemyJobStore(engine=make_sync_engine(job_store_url(settings.database_url)))
    scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone=settings.timezone,
                                 job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                                               "max_instances": 1})
    scheduler.add_job(sweep_job, "interval", minutes=SWEEP_MINUTES, id="sweep", replace_existing=True)
    scheduler.add_job(drain_job, "interval", seconds=DRAIN_SECONDS, id="outbox", replace_existing=True)
    # A daily time, not a 24-hour interval: an interval restarts with each restart of the bot.
    scheduler.add_job(prune_updates_job, CronTrigger(hour=PRUNE_HOUR, minute=PRUNE_MINUTE, timezone=settings.timezone),
                      id="prune_updates", replace_existing=True)
    scheduler.add_job(quarterly_report_job, quarterly_trigger(settings.timezone), id="quarterly_report",
                      replace_existing=True, misfire_grace_time=REPORT_MISFIRE_GRACE_SECONDS)
    scheduler.add_job(year_end_report_job, year_end_trigger(settings.timezone), id="year_end_report",
                      replace_existing=True, misfire_grace_time=REPORT_MISFIRE_GRACE_SECONDS)
    scheduler.add_job(weekly_digest_job, digest_trigger(settings), id="weekly_digest", replace_existing=True,
                      misfire_grace_time=REPORT_MISFIRE_GRACE_SECONDS)
    return scheduler


def last_fire_time(trigger: Any, since: datetime, now: datetime) -> datetime | None:
    """The trigger's latest fire time between `since` and `now`, if any."""
    last = None
    fire = trigger.get_next_fire_time(None, since)
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def catch_up(scheduler: AsyncIOScheduler, now: datetime, since: datetime | None = None) -> list[str]:
    """Plans the `CATCH_UP` jobs whose last fire time is within their grace, and not before
    `since` (when the scheduler first ran on this database), to run now (a second apart, in the
    order of `CATCH_UP`, so the quarterly report still comes before the year's figures); returns
    their ids."""
    due: list[str] = []
    for job in filter(None, map(scheduler.get_job, CATCH_UP)):
        start = now - timedelta(seconds=job.misfire_grace_time or 0)
        if since is not None:
            start = max(start, since)
        if last_fire_time(job.trigger, start, now) is not None:
            job.modify(next_run_time=now + timedelta(seconds=len(due)))
            due.append(job.id)
    return due


async def start_scheduler(runtime: Runtime, *, paused: bool = False) -> AsyncIOScheduler:
    """Starts the jobs (`paused`: planned, none run) and makes up the report runs missed."""
    global _runtime
    _runtime = runtime
    now = runtime.clock.now().astimezone(runtime.settings.timezone)
    async with unit_of_work(runtime.factory) as uow:
        since = await schedule.first_started(uow.session, now=now)
        await uow.commit()
    scheduler = build_scheduler(runtime.settings)
    scheduler.start(paused=paused)
    made_up = catch_up(scheduler, now, since)
    if made_up:
        logger.info("Running %s now: due within their grace (missed, or cut short by a restart)", made_up)
    return scheduler
