"""Small read-only summaries for greetings and lists."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Enterprise, User
from storage.scope import in_scope


async def enterprises_in_scope(session: AsyncSession, scope: str) -> int:
    return await session.scalar(select(func.count(Enterprise.id)).where(in_scope(Enterprise.region, scope))) or 0


async def own_enterprise_name(session: AsyncSession, owner_id: int) -> str | None:
    """The enterprise an owner speaks for."""
    return await session.scalar(
        select(Enterprise.name).join(User, User.enterprise_id == Enterprise.id).where(User.id == owner_id)
    )
