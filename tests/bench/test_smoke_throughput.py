"""`python -m bench.throughput` at a tiny scale, so the benchmark cannot rot: the bot and the echo
bot each run in a child process polling their emulator, one and then two officers file a visit
report through every step, and every visit the harness filed is found saved in the database."""

from __future__ import annotations

import re

import pytest

from bench import throughput


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_the_throughput_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str], client: str) -> None:
    """The echo bot with PTB's own client (the bare baseline) and with the bot's (bot.transport)."""
    code = throughput.main(["--tiny", "--echo-client", client])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"echo bot's HTTP client: {client}" in out

    assert "machine: " in out and "sqlite: " in out
    # backend, officers, steps, bot steps/s, echo steps/s, ratio, bot p50, bot p99, echo p50, echo p99
    rows = re.findall(r"^sqlite\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+\.\d\d) (?:ok|MISS)\s+(\d+\.\d)\s+(\d+\.\d)\s+"
                      r"(\d+\.\d)\s+(\d+\.\d)", out, re.MULTILINE)
    assert [(int(row[0]), int(row[1])) for row in rows] == [(1, 10), (2, 20)], out  # ten steps a visit
    for _officers, _steps, bot_rate, echo_rate, ratio, bot_p50, bot_p99, echo_p50, echo_p99 in rows:
        assert int(bot_rate) > 0 and int(echo_rate) > 0 and float(ratio) > 0
        assert 0 < float(bot_p50) <= float(bot_p99) and 0 < float(echo_p50) <= float(echo_p99)
    # The bot's database work is counted in its process: every step reads and writes.
    work = re.findall(r"^sqlite\s+(\d+)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+\d+\.\d\d\s+(\d+\.\d\d)", out, re.MULTILINE)
    assert [int(officers) for officers, *_ in work] == [1, 2], out
    assert all(float(statements) >= 2 and float(checkouts) >= 1 and float(commits) == 1.0
               for _, statements, checkouts, commits in work), out
    # One visit each at both levels, and the warm-up visit: all four in the database.
    assert "sqlite: visits saved 4 of 4 filed" in out and "MISMATCH" not in out
