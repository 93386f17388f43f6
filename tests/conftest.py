"""Shared fixtures: a fresh database per test, on SQLite and on the real PostgreSQL.

PostgreSQL tests run against 127.0.0.1:5432 (trust auth, user postgres). Each test run makes
its own database and drops it at the end; each test starts from empty tables. Without the
server the PostgreSQL variants skip, unless REQUIRE_POSTGRES=1 (CI), where they fail.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import WEEKDAYS
from storage.db import make_async_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Base

PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_SERVER, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_run_database() -> Iterator[str | None]:
    """A PostgreSQL database of this test run, migrated; None where no server runs."""
    if not _pg_available():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL answers at {PG_SERVER}")
        yield None
        return
    name = f"liaison_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def digest_cron_far_from_now(timezone: str = "Asia/Shanghai") -> str:
    """A DIGEST_CRON for a bot process a test starts on the real clock: half a week away, so the
    weekly digest neither falls due while the test runs nor was due within its catch-up grace."""
    far = datetime.now(ZoneInfo(timezone)) + timedelta(days=3, hours=12)
    return f"{WEEKDAYS[far.weekday()]} {far:%H:%M}"


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_run_database: str | None
) -> Iterator[str]:
    """An empty, migrated database: each storage test runs once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "liaison.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    _truncate_all(pg_run_database)
    yield pg_run_database


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated SQLite database, for tests that need one backend only."""
    path = tmp_path / "liaison.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


def _orm_objects(value: object, depth: int = 0) -> list[str]:
    """ORM instances in a template value: itself, or in its items or dataclass fields."""
    if isinstance(value, Base):
        return [type(value).__name__]
    if depth >= 3 or isinstance(value, str | bytes):
        return []
    if isinstance(value, dict):
        return [found for item in value.values() for found in _orm_objects(item, depth + 1)]
    if isinstance(value, list | tuple | set | frozenset):
        return [found for item in value for found in _orm_objects(item, depth + 1)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [found for item in dataclasses.fields(value)
                for found in _orm_objects(getattr(value, item.name), depth + 1)]
    return []


@pytest.fixture(autouse=True)
def templates_get_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every template of every test receives plain values (dicts, dataclasses), never an ORM
    object: a template that read a model would fetch lazily, see its session's state, and
    tie the wording to the schema."""
    original = jinja2.Template.render

    def render(self: jinja2.Template, *args: Any, **values: Any) -> str:
        found = _orm_objects([*args, values])
        assert not found, f"template {self.name} got ORM objects: {found}"
        return original(self, *args, **values)

    monkeypatch.setattr(jinja2.Template, "render", render)
