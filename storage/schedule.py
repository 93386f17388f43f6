"""Since when the scheduler has run on this database: what it may make up at start begins there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SchedulerStart

ROW_ID = 1


async def first_started(session: AsyncSession, *, now: datetime) -> datetime:
    """When the scheduler first ran on this database; records `now` if it never ran here."""
    row = await session.get(SchedulerStart, ROW_ID)
    if row is None:
        row = SchedulerStart(id=ROW_ID, started_at=now)
        session.add(row)
    return row.started_at
