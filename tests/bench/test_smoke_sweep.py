"""`python -m bench.sweep` at a tiny scale (300 candidates), so the benchmark cannot rot: it
builds the candidates, sweeps (with a row limit of 120, so the 300 take three sweeps) and prints
its table with targets, CPU seconds, ratios to both baselines and the phases of each sweep, then
composes every queued row as the sender would."""

from __future__ import annotations

import re

import pytest

from bench import sweep
from bench.common import pg_server_available


def test_the_sweep_benchmark_queues_each_candidate_once_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backends = ["sqlite", *(["postgresql"] if pg_server_available() else [])]
    results = sweep.run(["--tiny", "--limit", "120", "--backend", *backends])
    out = capsys.readouterr().out

    assert [r.backend for r in results] == backends
    mix = sweep.plan(sweep.TINY)
    assert mix.candidates == 300 and mix.expected == {"overdue_visit": 180, "feedback": 60, "milestone": 54,
                                                      "draft": 6}
    for result in results:
        first, rest = result.run("first (all due)"), result.run("the rest")
        assert (first.queued, first.limited) == (120, True) and result.outbox_rows == 300
        assert (rest.queued, rest.sweeps, rest.limited) == (180, 2, False)
        assert result.run("again (dedupe)").queued == 0
        assert result.run("nothing due").queued == 0 and result.run("nothing due").due == 0
        assert result.baseline_rows == 300
        assert result.composing.rows == result.composing.composed == 300
    assert "machine: " in out and "sqlite: " in out and "postgresql: " in out
    for backend in backends:
        assert f"== {backend}: 300 candidates" in out
    assert len(re.findall(r"sweep: first \(all due\)\s+\d+\.\d{3}\s+\d+\.\d{3}\s+120 queued / 120 due\s+"
                          r"< 1 s (ok|MISSED)\s+\d+\.\d×\s+\d+\.\d\d×", out)) == len(backends)
    assert len(re.findall(r"sweep: the rest: 2 sweeps, the longest\s+\d+\.\d{3}\s+\d+\.\d{3}\s+180 queued", out)) \
        == len(backends)
    assert out.count("checks: the sweeps queued one row per candidate ok 300 in 3 sweeps; none over the limit ok 120; "
                     "outbox rows ok 300; second sweep queued nothing ok; nothing-due sweep found nothing ok; "
                     "every sampled row composed ok 300") == len(backends)
    assert out.count("composed when sent (the sender's renderer, batches of 100): 300 rows sampled") == len(backends)
    # The phases: the set-based queueing per kind, and the few rows Python decides.
    assert re.search(r"probe per kind \(read-only\)\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}", out)
    # The sweeps that find nothing new write nothing.
    assert re.search(r"INSERT … SELECT per kind\s+0\.000\s+\d+\.\d{3}\s+\d+\.\d{3}\s+0\.000", out)
    assert re.search(r"insert Python's rows\s+0\.000\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{3}", out)
