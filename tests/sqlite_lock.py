"""Another process holding an SQLite database's write lock, as an operator's command does while
the bot runs (or the bot while an operator's command runs)."""

from __future__ import annotations

import subprocess
import sys

# Longer than SQLite writers used to wait for the lock (a busy timeout of 10 s).
HOLD_SECONDS = 12.0

_SCRIPT = """\
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def hold_write_lock(path: str, seconds: float = HOLD_SECONDS) -> subprocess.Popen[str]:
    """Starts a process that holds the write lock of the SQLite file `path` for `seconds` in one
    transaction (BEGIN IMMEDIATE … COMMIT); returns once it holds it."""
    process = subprocess.Popen([sys.executable, "-c", _SCRIPT, path, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    return process
