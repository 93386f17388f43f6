"""`python -m bench.outbox` at a tiny scale (40 messages to 8 chats, one injected 429, SQLite), so
the benchmark cannot rot: every message goes out once through the rate-limited emulator, and
the table shows the rate against the ceiling and the pacing-alone baseline."""

from __future__ import annotations

import re

import pytest

from bench import outbox


def test_the_outbox_benchmark_sends_each_message_once_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [run] = outbox.run(["--tiny", "--backend", "sqlite", "--order", "clustered"])
    out = capsys.readouterr().out

    assert (run.messages, run.chats) == (40, 8)
    assert run.duplicates == 0 and run.missing == 0 and run.statuses == {"sent": 40}
    # The injected 429 was met (and waited out by bot.retry), and the pacing caused none.
    assert run.injected == 1 and run.throttled_emulator == 1 and run.violations == 0
    # Five messages per chat at one a second: the pacing alone needs exactly four seconds.
    assert run.ideal_seconds == pytest.approx(4.0, abs=0.01)
    assert run.seconds >= 4.0
    assert "machine: " in out and "ceiling: 30 messages/s" in out
    assert re.search(r"baseline: pacing alone \(clustered\)\s+-\s+4\.0\s+10\.0\s+33%", out)
    assert re.search(r"drain \(clustered\)\s+sqlite\s+\d+\.\d\s+\d+\.\d\s+\d+% \(≥ 90 % (ok|MISSED)\)\s+\d\.\d\d×\s+"
                     r"1 \(1 injected\)\s+0 / 0\s+sent 40", out)
