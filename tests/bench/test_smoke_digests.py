"""`python -m bench.digests` at a tiny scale, so the benchmark cannot rot: it builds the tiny city
for one and two years of history, computes every digest (and one county's chart and ledger), and prints its
table with the targets and the ratios to the one-year baseline."""

from __future__ import annotations

import re

import pytest

from bench import digests
from bench.common import pg_server_available


def _run(capsys: pytest.CaptureFixture[str], backend: str, attachments: str) -> str:
    code = digests.main(["--tiny", "--years", "1", "2", "--backend", backend, "--repeat", "1",
                         "--attachments", attachments])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_the_digests_benchmark_prints_its_figures_on_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "sqlite", "one")

    assert "machine: " in out and "sqlite: " in out
    # Both cities were built, with the counts the tiny scale asks for.
    assert "sqlite 1y: built in" in out and "2,000 visits" in out
    assert "sqlite 2y: built in" in out and "4,000 visits" in out
    # Every supervisor digest (2 admins, 2 city supervisors, 2 county supervisors) and officer summary.
    assert re.search(r"sqlite\s+1y\s+supervisor digests, all 6, one call each\s+\d+\.\d{3} s\s+< 1 s\s+\d+\.\d\d×"
                     r"\s+\(baseline\)", out)
    assert re.search(r"sqlite\s+2y\s+supervisor digests, all 6, one call each\s+\d+\.\d{3} s\s+< 1 s\s+\d+\.\d\d×"
                     r"\s+\d+\.\d\d×", out)
    assert re.search(r"sqlite\s+2y\s+supervisor digests, all 6 in one batch\s+\d+\.\d{3} s\s+< 1 s\s+\d+\.\d\d×"
                     r"\s+\d+\.\d\d×", out)
    assert re.search(r"officer summaries, all 20, one call each\s+\d+\.\d{3} s", out)
    assert re.search(r"officer summaries, all 20 in one batch\s+\d+\.\d{3} s", out)
    # Attachments apart: the chart and the ledger of one county's supervisor.
    assert re.search(r"charts \(chart_png\), all 1\s+\d+\.\d{3} s", out)
    assert re.search(r"ledgers \(XLSX\), all 1\s+\d+\.\d{3} s", out)
    assert re.search(r"biggest ledger \(宜昌市/西陵区, \d+\.\d MB\)", out)
    # The verdicts against both targets.
    assert re.search(r"sqlite 1y: all supervisor digests one call each \d+\.\d{3} s \(runs: [\d., ]+\) — "
                     r"(meets|MISSES) the 1 s target", out)
    assert re.search(r"sqlite 2y/1y in one batch: \d+\.\d\d× — (meets|MISSES) the ≤ 1.2× target", out)


@pytest.mark.postgres
def test_the_digests_benchmark_runs_on_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    if not pg_server_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    out = _run(capsys, "postgresql", "none")

    assert "postgresql 2y: built in" in out
    assert re.search(r"postgresql\s+2y\s+supervisor digests, all 6, one call each\s+\d+\.\d{3} s", out)
    assert re.search(r"postgresql 2y/1y one call each: \d+\.\d\d× — (meets|MISSES)", out)
    assert "charts (chart_png)" not in out
