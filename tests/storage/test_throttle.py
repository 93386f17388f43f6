"""The invite-code throttle on SQLite and PostgreSQL: blocked after five failures within the
hour, until the fifth newest leaves it; old attempts pruned; an account's forgotten on joining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import throttle
from storage.models import InviteAttempt
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def _fail(factory: async_sessionmaker[AsyncSession], user: int, at: datetime) -> None:
    async with unit_of_work(factory) as uow:
        await throttle.record_failure(uow.session, user, at)
        await uow.commit()


async def _blocked(factory: async_sessionmaker[AsyncSession], user: int, at: datetime) -> datetime | None:
    async with factory() as session:
        return await throttle.blocked_until(session, user, at)


async def test_five_failures_within_the_hour_block_until_the_oldest_leaves_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    for minute in (0, 10, 20, 30):
        await _fail(session_factory, 42, NOW + timedelta(minutes=minute))
        assert await _blocked(session_factory, 42, NOW + timedelta(minutes=minute)) is None, minute
    await _fail(session_factory, 42, NOW + timedelta(minutes=40))
    assert await _blocked(session_factory, 42, NOW + timedelta(minutes=40)) == NOW + throttle.WINDOW
    assert await _blocked(session_factory, 43, NOW + timedelta(minutes=40)) is None  # per account
    assert await _blocked(session_factory, 42, NOW + throttle.WINDOW - timedelta(seconds=1)) == NOW + throttle.WINDOW
    assert await _blocked(session_factory, 42, NOW + throttle.WINDOW) is None
    # A sixth failure (after the lock) blocks again until the then fifth newest leaves the window.
    await _fail(session_factory, 42, NOW + timedelta(minutes=60))
    assert await _blocked(session_factory, 42, NOW + timedelta(minutes=60)) == NOW + timedelta(minutes=70)


async def test_recording_prunes_attempts_older_than_the_window_and_joining_forgets_them(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _fail(session_factory, 1, NOW)
    await _fail(session_factory, 2, NOW + timedelta(minutes=30))
    await _fail(session_factory, 3, NOW + throttle.WINDOW)
    async with session_factory() as session:
        left = sorted((a.telegram_user_id, a.attempted_at) for a in await session.scalars(select(InviteAttempt)))
    assert left == [(2, NOW + timedelta(minutes=30)), (3, NOW + throttle.WINDOW)]
    async with unit_of_work(session_factory) as uow:
        await throttle.forget(uow.session, 2)
        await uow.commit()
    async with session_factory() as session:
        assert list(await session.scalars(select(InviteAttempt.telegram_user_id))) == [3]
