"""`python -m bot backup --out FILE`: a consistent copy of the SQLite database.

SQLite's online backup API copies the database page by page inside read transactions, so the
copy is one consistent state even while the bot keeps writing (WAL mode lets the bot go on
writing meanwhile). The copy is checked (`PRAGMA integrity_check`) before it is reported.
PostgreSQL has its own tool for this: pg_dump, which also gives a consistent snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from storage.db import is_sqlite

# Copy this many pages per step, then let writers in: the bot is not held up by a long copy.
PAGES_PER_STEP = 1024


def backup(database_url: str, out: Path, say: Callable[[str], None]) -> int:
    if not is_sqlite(database_url):
        url = make_url(database_url)
        # Without the password: pg_dump reads it from PGPASSWORD or ~/.pgpass.
        safe = URL.create("postgresql", url.username, None, url.host, url.port, url.database).render_as_string()
        say(f"PostgreSQL 请用 pg_dump 备份（一致性快照，运行中也可）：\n"
            f"  pg_dump --format=custom --file {out} '{safe}'\n恢复：pg_restore --clean --dbname <目标库> {out}")
        return 2
    source = make_url(database_url).database
    if not source or source == ":memory:" or not Path(source).exists():
        say(f"找不到数据库文件：{source}")
        return 1
    out = Path(out)
    if out.resolve() == Path(source).resolve():
        say("备份文件不能与数据库相同。")
        return 1
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        with dst:
            src.backup(dst, pages=PAGES_PER_STEP)
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        say(f"备份校验失败：{check}")
        return 1
    partial.replace(out)  # only a checked, complete copy ever carries the requested name
    say(f"已备份到 {out}（{out.stat().st_size // 1024} KB，{tables} 张表，完整性检查通过）")
    return 0
