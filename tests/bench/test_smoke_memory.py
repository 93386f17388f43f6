"""`python -m bench.memory` at a tiny scale, so the benchmark cannot rot: a bare application and
the bot are each started in a child process against the emulator, and their resident sizes are
printed with the ratio to the bare one."""

from __future__ import annotations

import re

import pytest

from bench import memory


def test_the_memory_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code = memory.main(["--tiny"])
    out = capsys.readouterr().out
    assert code == 0, out

    assert "machine: " in out
    bare = re.search(r"baseline\s+bare python-telegram-bot Application, idle\s+(\d+\.\d) MiB\s+1\.00×", out)
    idle = re.search(r"sqlite 1y\s+the bot, started against the emulator, idle\s+(\d+\.\d) MiB\s+(\d+\.\d\d)×", out)
    after = re.search(r"sqlite 1y\s+the bot after every digest and summary of the city\s+(\d+\.\d) MiB\s+(\d+\.\d\d)×"
                      r"\s+(\d+\.\d) MiB", out)
    assert bare and idle and after, out
    # Plausible sizes: a Python process with python-telegram-bot is tens of MiB, and the bot
    # (SQLAlchemy, the forms, the templates) is bigger than the bare application.
    assert 10 < float(bare[1]) < float(idle[1]) < 2000
    assert float(after[3]) >= float(after[1])  # the peak is at least the current size
    assert "digests computed in the measured process: 6 supervisor digests, 20 officer summaries" in out


def test_resident_size_is_read_from_proc() -> None:
    before = memory.memory()
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    after = memory.memory()
    assert after["rss"] - before["rss"] > 48 * 1024 * 1024
    assert after["peak"] >= after["rss"]
    del block
