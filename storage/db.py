"""Engines and session factories for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import weakref
from collections import deque
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

logger = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database backend: {backend}")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The same database with the async driver: aiosqlite or psycopg 3."""
    return _with_driver(url, {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"})


def sync_url(url: str) -> str:
    """The same database with a synchronous driver, for Alembic and the scheduler's job store
    (psycopg 3 serves both ways: one PostgreSQL driver)."""
    return _with_driver(url, {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"})


# How long an SQLite writer waits for the database's one write lock before "database is locked",
# in seconds (it was 10). Another process holds it for a whole transaction: an operator's
# `import-enterprises` writes the registry in one (20,000 rows: 3 s on this machine, more when it
# is loaded), the bot's sweep while it queues thousands of reminders. And SQLite's busy handler
# polls (every 100 ms at most): a command waiting behind a busy bot, whose writers
# `SqliteWriteQueue` hands the lock to one after the other, can miss it more than once. A longer
# wait costs only the wait.
SQLITE_BUSY_TIMEOUT = 60.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; busy_timeout makes a writer wait for
    # the lock instead of failing at once; SQLite leaves foreign keys off unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
    cursor.close()


def _execute_in_thread(connection: sqlite3.Connection, operation: str, parameters: Any) -> tuple[Any, ...]:
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1
        return None, (), cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, running a statement in one hand-off to aiosqlite's thread.

    aiosqlite runs every call on the connection in its own thread, and each call is a round trip
    between the event loop and that thread (a queue put, a wake-up, a call_soon_threadsafe).
    SQLAlchemy's adapter makes four per statement — cursor(), execute(), fetchall(), close() —
    where one does: `_execute_in_thread` makes the same four calls in the thread. Same results,
    same errors (the adapter's `_handle_exception` maps them to SQLAlchemy's)."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            description, rows, lastrowid, rowcount = self.await_(
                self._connection._execute(_execute_in_thread, self._connection._conn, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description, self.lastrowid, self.rowcount = description, lastrowid, rowcount
        self._rows = deque(rows)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else _OneTripCursor(self)


def _one_trip_cursors(dbapi_connection: Any, _record: Any) -> None:
    # The pool's new connection is SQLAlchemy's adapter; only its cursor() differs, so the class
    # is swapped on the object rather than a dialect registered for it.
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = _OneTripConnection


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class SqliteWriteQueue:
    """The writers of one engine wait in line for SQLite's single write lock, in asyncio.

    SQLite lets one connection write at a time. Another one that tries gets SQLITE_BUSY, and
    its busy handler sleeps and tries again 1, 2, 5, 10 … 100 ms later: so with many updates at
    once a writer mostly sleeps on after the lock came free (ten officers at once saw a p99 step
    latency of 1.4 s). Here a connection takes an asyncio lock before the first write of its
    transaction (where pysqlite begins the transaction) and hands it on as soon as the
    transaction ends, so this process's writers go one after the other without sleeping. Other
    processes (a CLI import) still meet SQLite's busy handler; a writer that does not get the
    lock within the busy timeout goes ahead and lets SQLite decide, as without the queue.
    """

    def __init__(self, timeout: float = SQLITE_BUSY_TIMEOUT) -> None:
        self.timeout = timeout
        self.waiting = 0  # writers in line now
        self._lock = asyncio.Lock()
        self._holder: object | None = None  # the DBAPI connection whose transaction writes

    def install(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine
        _WRITE_QUEUES[sync_engine] = self
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        event.listen(sync_engine, "close", lambda dbapi_connection, _record: self.release(dbapi_connection))
        dialect = sync_engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(connection: Any) -> None:
            try:
                commit(connection)
            finally:
                self.release(connection)

        def do_rollback(connection: Any) -> None:  # also the pool's reset of a returned connection
            try:
                rollback(connection)
            finally:
                self.release(connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if self._holder is dbapi_connection or not _WRITE.match(statement):
            return
        if await_only(self._acquire()):
            self._holder = dbapi_connection
        else:
            logger.warning("No turn to write within %.0f s; SQLite's busy handler decides", self.timeout)

    async def _acquire(self) -> bool:
        if not self._lock.locked():
            return await self._lock.acquire()  # free: taken without waiting
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self._lock.acquire()
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1

    def release(self, connection: Any) -> None:
        if self._holder is not None and self._holder is getattr(connection, "dbapi_connection", connection):
            self._holder = None
            self._lock.release()


_WRITE_QUEUES: weakref.WeakKeyDictionary[Engine, SqliteWriteQueue] = weakref.WeakKeyDictionary()


def write_queue(engine: AsyncEngine) -> SqliteWriteQueue | None:
    """The engine's queue of writers (SQLite), if it has one."""
    return _WRITE_QUEUES.get(engine.sync_engine)


# PostgreSQL connections kept open, and opened beyond that at busy moments (closed again when
# returned). Updates of up to 64 chats run at once (bot.processor); with SQLAlchemy's default of
# 5 kept, ten officers at once had the pool open and close a connection every ten steps, and
# with 20 kept (and 20 more at busy moments) fifty officers at once had it open and close one
# every eleven steps: a new connection and its close cost the bot more CPU than a step's
# statements. So the whole ceiling (40, as before) is kept once opened; an update that finds all
# 40 busy waits for one (the pool's timeout) instead of opening one more.
POOL_SIZE = 40
POOL_OVERFLOW = 0


def make_async_engine(url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """`pool_size`: PostgreSQL connections kept (DATABASE_POOL_SIZE); SQLite pools its own way."""
    # hide_parameters: an error's text (logged with its traceback) shows the SQL without the
    # values, which are people's names, political status and what they said.
    options: dict[str, Any] = ({"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}} if is_sqlite(url)
                               else {"pool_size": pool_size, "max_overflow": POOL_OVERFLOW})
    engine = create_async_engine(async_url(url), pool_pre_ping=not is_sqlite(url), hide_parameters=True, **options)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _one_trip_cursors)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        SqliteWriteQueue().install(engine)
    return engine


def make_sync_engine(url: str) -> Engine:
    # The connect timeout is the busy timeout until the pragma sets it: PRAGMA journal_mode waits too.
    sqlite = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}} if is_sqlite(url) else {}
    engine = create_engine(sync_url(url), pool_pre_ping=not is_sqlite(url), hide_parameters=True, **sqlite)
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
