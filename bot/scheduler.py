"""APScheduler inside the bot process: the reminder sweep and the outbox sender.

Jobs live in a persistent job store in the same database, so a restart keeps them and their
next run times: fixed ids with `replace_existing=True`, `coalesce=True` (after downtime a job
runs once, not once per missed interval), and a misfire grace of an hour instead of the
default second, which would silently skip a run after a short outage.

A job in the store is a reference to a module-level function, so the functions here reach the
running bot through `_runtime`, set by `start_scheduler`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.sender import OutboxSender
from handlers.reminders import run_sweep
from storage.db import make_sync_engine
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

SWEEP_MINUTES = 15
DRAIN_SECONDS = 5
MISFIRE_GRACE_SECONDS = 3600


@dataclass
class Runtime:
    bot: Any
    factory: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    sender: OutboxSender


_runtime: Runtime | None = None


async def sweep_job() -> None:
    """Finds what is due and queues reminders (deduplicated) in the outbox."""
    if _runtime is None:
        return
    async with unit_of_work(_runtime.factory) as uow:
        report = await run_sweep(uow.session, now=_runtime.clock.now(), tz=_runtime.settings.timezone)
        await uow.commit()
    logger.info("Sweep queued %s", report)


async def drain_job() -> None:
    """Sends what the outbox holds, within Telegram's limits."""
    if _runtime is None:
        return
    report = await _runtime.sender.drain(_runtime.bot, _runtime.factory)
    if report.sent or report.failed:
        logger.info("Outbox: %s", report)


def build_scheduler(settings: Settings) -> AsyncIOScheduler:
    store = SQLAlchemyJobStore(engine=make_sync_engine(settings.database_url))
    scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone=settings.timezone,
                                 job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                                               "max_instances": 1})
    scheduler.add_job(sweep_job, "interval", minutes=SWEEP_MINUTES, id="sweep", replace_existing=True)
    scheduler.add_job(drain_job, "interval", seconds=DRAIN_SECONDS, id="outbox", replace_existing=True)
    return scheduler


def start_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    global _runtime
    _runtime = runtime
    scheduler = build_scheduler(runtime.settings)
    scheduler.start()
    return scheduler
