from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select

from storage.db import make_sync_engine
from storage.migrate import upgrade
from storage.models import Base, SchedulerStart
from tests.conftest import PG_SERVER


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            # APScheduler's job store shares the database (its table appears once `run` has run).
            context = MigrationContext.configure(connection, opts={
                "include_name": lambda name, kind, _parent: not (kind == "table" and name == "apscheduler_jobs")})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_run_database: str | None) -> Iterator[str]:
    """A database without any table, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"liaison_blank_{secrets.token_hex(4)}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _scheduler_start(database_url: str) -> list[tuple[int, datetime]]:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(select(SchedulerStart.id, SchedulerStart.started_at))]
    finally:
        engine.dispose()


async def test_a_database_whose_scheduler_ran_before_the_upgrade_counts_as_scheduled_always(
    blank_database_url: str, tmp_path: Path
) -> None:
    """Migration 007 on a database whose job store exists (the bot ran on it): the report runs it
    missed are still made up after the upgrade. On a new database the first start is recorded
    by the scheduler itself."""
    upgrade(blank_database_url, "006")
    # The job store as `python -m bot run` kept it before 007: in the database itself (on SQLite
    # it has a file of its own since; on PostgreSQL it still is the database's).
    engine = make_sync_engine(blank_database_url)
    SQLAlchemyJobStore(engine=engine).start(None, "default")  # type: ignore[arg-type]  # creates apscheduler_jobs
    engine.dispose()
    upgrade(blank_database_url)
    [(row_id, started_at)] = _scheduler_start(blank_database_url)
    assert row_id == 1 and started_at == datetime(1970, 1, 1, tzinfo=UTC)

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh)
    assert _scheduler_start(fresh) == []
