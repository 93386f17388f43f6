"""One scheduler leader at a time: the PostgreSQL advisory lock, and one process per SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.backup import backup
from bot.leader import LEADER_LOCK_KEY, InstanceLock, InstanceRefused, LeaderElection
from tests.conftest import _truncate_all


class Instance:
    def __init__(self, url: str) -> None:
        self.events: list[str] = []
        self.election = LeaderElection(url, on_elected=self._elected, on_deposed=self._deposed, poll_seconds=3600)

    async def _elected(self) -> None:
        self.events.append("elected")

    async def _deposed(self) -> None:
        self.events.append("deposed")

    @property
    def leader(self) -> bool:
        return self.election.is_leader


@pytest.fixture
def pg_url(pg_run_database: str | None) -> Iterator[str]:
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    _truncate_all(pg_run_database)
    yield pg_run_database


@pytest.fixture
async def instances(pg_url: str) -> AsyncIterator[list[Instance]]:
    started = [Instance(pg_url) for _ in range(3)]
    yield started
    for instance in started:
        await instance.election.stop()


def _lock_holders(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND (classid::bigint << 32) + objid::bigint = %s", (LEADER_LOCK_KEY,)).fetchall()
    return [row[0] for row in rows]


@pytest.mark.postgres
async def test_exactly_one_of_several_instances_leads(instances: list[Instance], pg_url: str) -> None:
    for instance in instances:
        await instance.election.start()
    for _ in range(3):  # more rounds change nothing
        for instance in instances:
            await instance.election.check()
    assert [i.leader for i in instances] == [True, False, False]
    assert [i.events for i in instances] == [["elected"], [], []]
    assert len(_lock_holders(pg_url)) == 1


@pytest.mark.postgres
async def test_a_follower_takes_over_when_the_leader_stops(instances: list[Instance]) -> None:
    first, second, third = instances
    for instance in instances:
        await instance.election.start()
    await first.election.stop()
    assert first.events == ["elected", "deposed"]
    await second.election.check()
    await third.election.check()
    assert [i.leader for i in instances] == [False, True, False]


@pytest.mark.postgres
async def test_a_leader_whose_session_dies_steps_down_and_another_takes_over(
    instances: list[Instance], pg_url: str
) -> None:
    first, second, _ = instances
    await first.election.start()
    await second.election.start()
    [holder] = _lock_holders(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the server ends the leader's session
        conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
    await second.election.check()  # the lock went with the session: the follower gets it
    await first.election.check()  # the old leader notices and stops its scheduler
    assert (first.leader, second.leader) == (False, True)
    assert first.events == ["elected", "deposed"] and second.events == ["elected"]
    await first.election.check()
    assert (first.leader, second.leader) == (False, True)


@pytest.mark.postgres
async def test_a_killed_leader_process_releases_the_lock(instances: list[Instance], pg_url: str) -> None:
    script = ("import sys, psycopg; c = psycopg.connect(sys.argv[1], autocommit=True); "
              f"assert c.execute('SELECT pg_try_advisory_lock({LEADER_LOCK_KEY})').fetchone()[0]; "
              "print('locked', flush=True); sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", script, pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        follower = instances[0]
        await follower.election.start()
        assert not follower.leader
        process.kill()  # SIGKILL: no goodbye to the server
        process.wait()
        for _ in range(50):  # the server notices the closed socket at once; give it a few rounds
            await follower.election.check()
            if follower.leader:
                break
            await __import__("asyncio").sleep(0.05)
        assert follower.leader
    finally:
        process.kill()


async def test_sqlite_elects_the_only_instance_at_once(tmp_path: Path) -> None:
    instance = Instance(f"sqlite:///{tmp_path / 'liaison.db'}")
    await instance.election.start()
    assert instance.leader and instance.events == ["elected"]
    await instance.election.stop()
    assert instance.events == ["elected", "deposed"]


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'liaison.db'}"
    first = InstanceLock(url)
    first.acquire()
    try:
        with pytest.raises(InstanceRefused, match=r"in use by another bot process \(pid \d+\)"):
            InstanceLock(url).acquire()
        # Another file is another bot: allowed.
        other = InstanceLock(f"sqlite:///{tmp_path / 'other.db'}")
        other.acquire()
        other.release()
    finally:
        first.release()
    again = InstanceLock(url)
    again.acquire()  # free once the first let go
    again.release()


def test_the_lock_goes_with_a_killed_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'liaison.db'}"
    script = ("import sys; from bot.leader import InstanceLock; InstanceLock(sys.argv[1]).acquire(); "
              "print('locked', flush=True); sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", script, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        with pytest.raises(InstanceRefused, match=str(process.pid)):
            InstanceLock(url).acquire()
        process.kill()
        process.wait()
        lock = InstanceLock(url)
        lock.acquire()
        lock.release()
    finally:
        process.kill()


def test_backup_is_a_consistent_copy_while_a_writer_keeps_writing(tmp_path: Path) -> None:
    source = tmp_path / "liaison.db"
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL)")
        db.executemany("INSERT INTO ledger (a, b) VALUES (?, ?)", [(i, -i) for i in range(20_000)])
    stop = threading.Event()

    def writer() -> None:
        # Each transaction moves 1 from a to b in two rows: a torn copy would break the sums.
        db = sqlite3.connect(source, timeout=30)
        n = 0
        while not stop.is_set():
            with db:
                db.execute("UPDATE ledger SET a = a - 1 WHERE id = ?", (n % 20_000 + 1,))
                db.execute("UPDATE ledger SET b = b + 1 WHERE id = ?", ((n * 7) % 20_000 + 1,))
                db.execute("INSERT INTO ledger (a, b) VALUES (0, 0)")
            n += 1
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    said: list[str] = []
    try:
        code = backup(f"sqlite:///{source}", tmp_path / "copy.db", said.append)
    finally:
        stop.set()
        thread.join()
    assert code == 0 and "完整性检查通过" in said[0]
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        total = copy.execute("SELECT sum(a) + sum(b) FROM ledger").fetchone()[0]
        assert total == 0  # every transaction in the copy is whole
        assert copy.execute("SELECT count(*) FROM ledger").fetchone()[0] >= 20_000
    assert not (tmp_path / "copy.db.partial").exists()


def test_backup_of_postgresql_points_to_pg_dump_without_the_password(tmp_path: Path) -> None:
    said: list[str] = []
    code = backup("postgresql://liaison:s3cret@db:5432/liaison", tmp_path / "x.dump", said.append)
    assert code == 2 and "pg_dump --format=custom" in said[0] and "s3cret" not in said[0]
    assert not (tmp_path / "x.dump").exists()


def test_backup_refuses_a_missing_database_and_writing_over_itself(tmp_path: Path) -> None:
    said: list[str] = []
    assert backup(f"sqlite:///{tmp_path / 'none.db'}", tmp_path / "x.db", said.append) == 1
    source = tmp_path / "liaison.db"
    sqlite3.connect(source).close()
    assert backup(f"sqlite:///{source}", source, said.append) == 1
    assert "找不到" in said[0] and "不能与数据库相同" in said[1]
