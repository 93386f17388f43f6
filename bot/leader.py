"""Exactly one scheduler at a time, however many instances run.

APScheduler must never share a job store between two running schedulers (both would run every
job), so only the leader starts one:

- PostgreSQL: the leader is the instance holding a session-level advisory lock
  (`pg_try_advisory_lock`) on a connection of its own. The server releases the lock when that
  session ends, so when the leader dies (even SIGKILL: the kernel closes its socket) a follower,
  trying every `LEADER_POLL_SECONDS`, takes over and starts the scheduler from the job store.
  The leader checks its lock connection at the same pace and stops its scheduler as soon as
  the connection is gone. Between a leader's connection failing and it noticing, two schedulers
  may overlap for one poll interval; the jobs are safe to overlap (reminders and digests are
  deduplicated by key, outbox rows are claimed with SKIP LOCKED).
- SQLite: one process per database file (`InstanceLock`), which is therefore the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import async_url, is_sqlite

logger = logging.getLogger(__name__)

# The advisory lock's key: any bigint agreed on by every instance ("liaison" in ASCII).
LEADER_LOCK_KEY = 0x6C6961697361_6F6E


class InstanceRefused(Exception):
    """Another process already runs the bot on this SQLite file."""


class InstanceLock:
    """An exclusive lock on `<database>.lock` next to an SQLite file, held while the bot runs.

    The operating system drops it when the process ends, however it ends, so a crash never
    leaves a stale lock behind. Operator commands (export, invite, backup) don't take it: they
    may run beside the bot.
    """

    def __init__(self, database_url: str) -> None:
        database = make_url(database_url).database
        self.path = Path(f"{database}.lock") if database and database != ":memory:" else None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise InstanceRefused(f"{self.path.with_suffix('')} is in use by another bot process (pid {holder})") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class LeaderElection:
    """Runs `on_elected` when this instance becomes leader and `on_deposed` when it stops being one."""

    def __init__(self, database_url: str, *, on_elected: Callable[[], Awaitable[None]],
                 on_deposed: Callable[[], Awaitable[None]], poll_seconds: float = 5.0) -> None:
        self.sqlite = is_sqlite(database_url)
        self.engine: AsyncEngine | None = None
        self._url = database_url
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.poll_seconds = poll_seconds
        self.is_leader = False
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.sqlite:  # the instance lock already made this process the only one
            await self._elected()
            return
        self.engine = create_async_engine(async_url(self._url), poolclass=NullPool)
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="leader-election")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check()
            except Exception:
                logger.exception("Leader election check failed")

    async def check(self) -> None:
        """One round: a follower tries to take the lock; the leader verifies it still holds it."""
        if self.is_leader:
            if await self._still_connected():
                return
            logger.warning("Lost the leader lock connection; stopping the scheduler")
            await self._deposed()
        if await self._try_lock():
            await self._elected()

    async def _try_lock(self) -> bool:
        assert self.engine is not None
        try:
            connection = await self.engine.connect()
        except Exception as error:
            logger.warning("Database unreachable for leader election: %s", type(error).__name__)
            return False
        try:
            got = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}))
            await connection.commit()  # end the transaction; the session-level lock stays
        except Exception:
            await _close_quietly(connection)
            raise
        if not got:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def _still_connected(self) -> bool:
        if self._connection is None:
            return False
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
            return True
        except Exception:
            return False

    async def _elected(self) -> None:
        self.is_leader = True
        logger.info("This instance is the scheduler leader")
        await self.on_elected()

    async def _deposed(self) -> None:
        self.is_leader = False
        if self._connection is not None:
            await _close_quietly(self._connection)
            self._connection = None
        await self.on_deposed()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader:
            await self._deposed()  # closing the session releases the advisory lock
        if self.engine is not None:
            await self.engine.dispose()


async def _close_quietly(connection: Any) -> None:
    with contextlib.suppress(Exception):
        await connection.close()
