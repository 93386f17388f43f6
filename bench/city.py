"""The synthetic city (`storage.city`) as a database for the benchmarks: built once per run on
PostgreSQL (a database of its own, dropped afterwards), built once and kept on SQLite.

SQLite files are cached under `bench/.cache/` (or `BENCH_CACHE_DIR`), named after the scale,
the years, the seed, the day and a hash of the generator's source, so a changed generator builds
a new file. A cached file is brought to the current schema (`storage.migrate.upgrade`) before
use: a new migration (an index) applies to it like to any database.

On PostgreSQL the freshly built database is `ANALYZE`d, as autovacuum would do within a minute
of such a load; the benchmarks measure plans made with statistics. SQLite is left as a running
bot leaves it (no `ANALYZE`): its planner works from the schema alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.common import PG_SERVER_URL, scratch_database
from storage import city
from storage.db import make_async_engine, make_session_factory, make_sync_engine
from storage.migrate import upgrade
from storage.uow import unit_of_work

CACHE_DIR = Path(os.environ.get("BENCH_CACHE_DIR", Path(__file__).resolve().parent / ".cache"))
_SOURCES = ("storage/city.py", "storage/demo.py", "storage/divisions.py", "storage/pinyin.py")


@dataclass(frozen=True)
class CityDatabase:
    url: str
    backend: str
    years: int
    summary: city.CitySummary | None  # None when a cached file was reused
    build_seconds: float | None  # None when a cached file was reused
    cached_path: Path | None = None


def scale_for(tiny: bool, years: int) -> city.Scale:
    return (city.TINY if tiny else city.CITY).with_years(years)


def describe(scale: city.Scale) -> str:
    return (f"{scale.counties} counties, {scale.enterprises:,} enterprises, {scale.officers:,} officers, "
            f"per year {scale.visits_per_year:,} visits, {scale.people_per_year:,} people, "
            f"{scale.feedback_per_year:,} feedback items")


async def _build(url: str, scale: city.Scale, today: date, seed: int) -> tuple[city.CitySummary, float]:
    engine = make_async_engine(url)
    try:
        started = time.perf_counter()
        async with unit_of_work(make_session_factory(engine)) as uow:
            summary = await city.seed_city(uow.session, today=today, seed=seed, scale=scale)
            await uow.commit()
        return summary, time.perf_counter() - started
    finally:
        await engine.dispose()


def build(url: str, scale: city.Scale, today: date, seed: int) -> tuple[city.CitySummary, float]:
    """Fills the (migrated, empty) database at `url`; the summary and the seconds it took."""
    return asyncio.run(_build(url, scale, today, seed))


def _cache_key(scale: city.Scale, today: date, seed: int) -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(repr((scale, today, seed)).encode())
    for source in _SOURCES:
        digest.update((root / source).read_bytes())
    name = "tiny" if scale.enterprises < city.CITY.enterprises else "city"
    return f"{name}-{scale.years}y-seed{seed}-{today:%Y%m%d}-{digest.hexdigest()[:12]}"


def _analyze(url: str) -> None:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    finally:
        engine.dispose()


def _checkpoint(url: str) -> None:
    """Folds the WAL into the file, so the cached copy is one self-contained file."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


@contextlib.contextmanager
def city_database(backend: str, scale: city.Scale, *, today: date, seed: int = 2026, cache: bool = True,
                  rebuild: bool = False, name: str = "city", server_url: str = PG_SERVER_URL) -> Iterator[CityDatabase]:
    """A database holding the city: a cached SQLite file (built on first use), a temporary SQLite
    file (`cache=False`), or a PostgreSQL database of this run, dropped at the end."""
    if backend == "postgresql":
        with scratch_database("postgresql", name, server_url) as url:
            summary, seconds = build(url, scale, today, seed)
            _analyze(url)
            yield CityDatabase(url, backend, scale.years, summary, seconds)
        return
    if backend != "sqlite":
        raise ValueError(f"unknown backend {backend!r}")
    if not cache:
        with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as directory:
            url = f"sqlite:///{directory}/city.db"
            upgrade(url)
            summary, seconds = build(url, scale, today, seed)
            yield CityDatabase(url, backend, scale.years, summary, seconds)
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{_cache_key(scale, today, seed)}.db"
    summary_built: city.CitySummary | None = None
    took: float | None = None
    if rebuild or not path.exists():
        partial = path.with_suffix(".partial.db")
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
        url = f"sqlite:///{partial}"
        upgrade(url)
        summary_built, took = build(url, scale, today, seed)
        _checkpoint(url)
        shutil.move(partial, path)
    url = f"sqlite:///{path}"
    upgrade(url)  # a cached file gets the migrations added since it was built
    yield CityDatabase(url, backend, scale.years, summary_built, took, cached_path=path)
