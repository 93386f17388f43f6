"""A private PostgreSQL server for tests that stop, kill and restart the database.

The shared server on 127.0.0.1:5432 must never be stopped by a test; tests of outages and of
several instances get a server of their own instead: `initdb` into a fresh directory under the
system temp dir, `pg_ctl start` on a free port (127.0.0.1 only, trust authentication, user
`postgres`), and `stop(immediate=True)` for a crash-like stop (`pg_ctl stop -m immediate`: no
checkpoint, crash recovery at the next start).

    with PostgresServer() as pg:            # initdb + start
        upgrade(pg.create_database("app"))  # a database URL
        pg.stop(immediate=True)
        pg.start()                          # same port, same data

The binaries are looked up under /usr/lib/postgresql/<version>/bin (the newest), then on PATH.
PostgreSQL refuses to run as root: under root the server runs as the `postgres` system user
(`runuser -u postgres --`), and its directory is handed to that user.

`require_binaries()` skips the calling test when no binaries are installed — or fails it when
REQUIRE_POSTGRES=1 (CI), like the shared-server fixtures in tests/conftest.py.

Durability: fsync is off (the tests never crash the machine, only the server: what PostgreSQL
wrote reaches the OS), synchronous_commit stays on, so every commit the bot was told about
survives `stop(immediate=True)`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
import pytest

SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def require_binaries() -> Path:
    """The binaries' directory; skips the test without them (fails it when REQUIRE_POSTGRES=1)."""
    found = find_binaries()
    if found is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(message)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.fail("running as root needs runuser to start PostgreSQL as the postgres user")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One private PostgreSQL cluster; `start()` creates it on first use."""

    def __init__(self, *, port: int | None = None, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_binaries()
        if found is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin_dir = found
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="liaison-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.running = False
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.base, user=SERVER_USER)

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The maintenance database `postgres` (create the application's databases from it)."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # ------------------------------------------------------------------ life cycle

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{log}")
        return result

    def _init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.base}'\nfsync = off\nfull_page_writes = off\n"
                       "max_connections = 50\n")

    def start(self) -> None:
        """Starts the server (creating the cluster first), waiting until it accepts connections."""
        if self.running:
            return
        if not (self.data / "PG_VERSION").exists():
            self._init()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")
        self.running = True

    def stop(self, immediate: bool = True) -> None:
        """Stops the server: `immediate` kills it the way a crash would (no checkpoint, open
        connections cut); otherwise a fast, clean shutdown."""
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "immediate" if immediate else "fast", "stop")
        self.running = False

    def cleanup(self) -> None:
        try:
            self.stop(immediate=True)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ databases

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Creates `name` (a copy of `template` when given) and returns its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url_for(name)
