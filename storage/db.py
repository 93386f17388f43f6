"""Engines and session factories for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

logger = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def async_url(url: str) -> str:
    """The same database with the async driver: aiosqlite or psycopg 3."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database backend: {backend}")


def sync_url(url: str) -> str:
    """The same database with a synchronous driver, for Alembic and the scheduler's job store."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database backend: {backend}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; busy_timeout makes a writer wait for
    # the lock instead of failing at once; SQLite leaves foreign keys off unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_async_engine(url: str) -> AsyncEngine:
    # hide_parameters: an error's text (logged with its traceback) shows the SQL without the
    # values, which are people's names, political status and what they said.
    engine = create_async_engine(async_url(url), pool_pre_ping=not is_sqlite(url), hide_parameters=True)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sync_engine(url: str) -> Engine:
    engine = create_engine(sync_url(url), pool_pre_ping=not is_sqlite(url), hide_parameters=True)
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers render from objects after the commit that saved them.
    return async_sessionmaker(engine, expire_on_commit=False)


def unavailable(error: BaseException | None) -> bool:
    """True when `error`, or an error it came from, says the database was away for a moment: not
    reachable, the connection dropped (PostgreSQL restarted), the pool exhausted, SQLite locked.
    The transaction did not commit; the same change can be made again once it is back."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sa_exc.DBAPIError) and (
            error.connection_invalidated or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        ):
            return True
        if isinstance(error, sa_exc.TimeoutError):  # no connection free in the pool
            return True
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return False
