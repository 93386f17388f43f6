"""`python -m bench.reports` at a tiny scale, so the benchmark cannot rot: it builds the tiny city
for one and two years of history, computes the 两个覆盖, the 季报 and the 年终统计 of every
supervisor's scope, and prints its table with the ratios to the one-year baseline."""

from __future__ import annotations

import re

import pytest

from bench import reports


def test_the_reports_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code = reports.main(["--tiny", "--years", "1", "2", "--backend", "sqlite", "--repeat", "1"])
    out = capsys.readouterr().out
    assert code == 0, out

    assert "machine: " in out and "季报 2026-Q3, 年终统计 2026" in out
    assert re.search(r"sqlite 1y: built in \d+\.\d s: 200 enterprises, \d+ organisations, 6 founding records", out)
    assert re.search(r"sqlite 2y: built in \d+\.\d s: 200 enterprises, \d+ organisations, 12 founding records", out)
    # Every scope (2 admins, 2 city supervisors, 2 county supervisors), each figure, with its verdict.
    for figure in ("coverage", "quarterly", "year-end"):
        assert re.search(rf"sqlite\s+1y\s+{figure}, all 6 scopes\s+\d+\.\d{{3}} s\s+\d+\.\d{{3}} s\s+\(baseline\)"
                         rf"\s+\d+\.\d{{3}} s\s+< 1 s (met|MISSED)", out)
        assert re.search(rf"sqlite\s+2y\s+{figure}, all 6 scopes\s+\d+\.\d{{3}} s\s+\d+\.\d{{3}} s\s+\d+\.\d\d×", out)
