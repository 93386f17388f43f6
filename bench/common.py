"""Helpers shared by the benchmarks (add functions; do not rewrite others')."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

# ---------------------------------------------------------------- machine, databases, tables
# (added for bench.sweep and bench.outbox; other benchmarks may use them too)

PG_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_server_available(server_url: str = PG_SERVER_URL) -> bool:
    """True when the PostgreSQL server answers (benchmarks skip it with a message otherwise)."""
    import psycopg

    try:
        with psycopg.connect(server_url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def machine_lines(server_url: str = PG_SERVER_URL) -> list[str]:
    """Cores, CPU model, Python, SQLite and PostgreSQL versions and the date, one per line."""
    import datetime as _dt
    import platform
    import sqlite3

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    postgres = "not running"
    if pg_server_available(server_url):
        import psycopg

        with psycopg.connect(server_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            postgres = str(row[0]) if row else "?"
    return [
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} cores, {cpu}",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        f"sqlite: {sqlite3.sqlite_version}, postgresql: {postgres}",
    ]


@contextlib.contextmanager
def scratch_database(backend: str, name: str, server_url: str = PG_SERVER_URL) -> Iterator[str]:
    """A fresh, migrated database for one benchmark run, dropped afterwards: a temporary SQLite
    file, or `bench_<name>_<hex>` on the PostgreSQL server. Yields its URL."""
    import secrets
    import tempfile

    from storage.migrate import upgrade

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as directory:
            url = f"sqlite:///{directory}/bench.db"
            upgrade(url)
            yield url
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    import psycopg

    database = f"bench_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = server_url.rsplit("/", 1)[0] + f"/{database}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
