"""Small read-only summaries for greetings and lists."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Enterprise
from storage.scope import in_scope


async def enterprises_in_scope(session: AsyncSession, scope: str) -> int:
    return await session.scalar(select(func.count(Enterprise.id)).where(in_scope(Enterprise.region, scope))) or 0
