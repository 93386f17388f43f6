"""SQLite writers of one engine wait their turn in asyncio (storage.db.SqliteWriteQueue) instead of
meeting SQLITE_BUSY and the busy handler's sleeps; readers never wait for it.

The engines here have `busy_timeout=0`: without the queue the second writer would fail at once
with "database is locked", so a second writer that succeeds has waited in the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import SqliteWriteQueue, make_async_engine, make_session_factory, write_queue
from storage.models import InviteAttempt
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(sqlite_url)
    event.listen(engine.sync_engine, "connect", _no_busy_wait)  # after the project's pragmas
    yield engine
    await engine.dispose()


async def _in_line(queue: SqliteWriteQueue, writers: int) -> None:
    async with asyncio.timeout(10):
        while queue.waiting != writers:
            await asyncio.sleep(0.001)


async def _count(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(InviteAttempt)) or 0)


async def _write(factory: async_sessionmaker[AsyncSession], user: int, done: list[str]) -> None:
    async with unit_of_work(factory) as uow:
        uow.session.add(InviteAttempt(telegram_user_id=user, attempted_at=NOW))
        await uow.session.flush()
        done.append(f"{user} wrote")
        await uow.commit()


async def test_a_second_writer_waits_for_the_first_to_commit_and_readers_do_not_wait(engine: AsyncEngine) -> None:
    queue = write_queue(engine)
    assert queue is not None
    factory = make_session_factory(engine)
    done: list[str] = []
    wrote, may_commit = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with unit_of_work(factory) as uow:
            uow.session.add(InviteAttempt(telegram_user_id=1, attempted_at=NOW))
            await uow.session.flush()  # the write transaction is open from here
            wrote.set()
            await may_commit.wait()
            await uow.commit()
            done.append("1 committed")

    async def second_writer() -> None:
        async with unit_of_work(factory) as uow:
            uow.session.add(InviteAttempt(telegram_user_id=2, attempted_at=NOW))
            await uow.session.flush()
            # Its write went in after the first one's commit, whose row is there already (the
            # first's caller may resume after this: its commit hands on the turn on the way out).
            done.append(f"2 wrote after {await _count(factory)} committed")
            await uow.commit()

    writing = asyncio.create_task(first())
    await wrote.wait()
    second = asyncio.create_task(second_writer())
    await _in_line(queue, 1)
    assert done == [] and not second.done()
    # A reader goes on meanwhile (WAL), seeing what was committed: nothing yet.
    async with asyncio.timeout(10):
        assert await _count(factory) == 0
    may_commit.set()
    await asyncio.gather(writing, second)
    assert sorted(done) == ["1 committed", "2 wrote after 1 committed"]
    assert await _count(factory) == 2 and queue.waiting == 0


async def test_a_rolled_back_writer_hands_on_its_turn(engine: AsyncEngine) -> None:
    queue = write_queue(engine)
    assert queue is not None
    factory = make_session_factory(engine)
    done: list[str] = []
    wrote, give_up = asyncio.Event(), asyncio.Event()

    async def abandoned() -> None:
        async with unit_of_work(factory) as uow:  # left without commit(): rolled back
            uow.session.add(InviteAttempt(telegram_user_id=1, attempted_at=NOW))
            await uow.session.flush()
            wrote.set()
            await give_up.wait()

    writing = asyncio.create_task(abandoned())
    await wrote.wait()
    second = asyncio.create_task(_write(factory, 2, done))
    await _in_line(queue, 1)
    give_up.set()
    await asyncio.gather(writing, second)
    assert done == ["2 wrote"]
    async with factory() as session:
        assert list(await session.scalars(select(InviteAttempt.telegram_user_id))) == [2]


async def test_without_the_queue_the_second_writer_is_refused(sqlite_url: str) -> None:
    """The premise of the tests above: another engine on the same file has its own queue, so its
    writer meets SQLite's lock, and with busy_timeout=0 it is refused at once."""
    engines = [make_async_engine(sqlite_url) for _ in range(2)]
    for each in engines:
        event.listen(each.sync_engine, "connect", _no_busy_wait)
    try:
        first, other = (make_session_factory(each) for each in engines)
        async with unit_of_work(first) as uow:
            uow.session.add(InviteAttempt(telegram_user_id=1, attempted_at=NOW))
            await uow.session.flush()
            with pytest.raises(OperationalError, match="locked"):
                await _write(other, 2, [])
            await uow.commit()
        assert await _count(first) == 1
    finally:
        for each in engines:
            await each.dispose()
