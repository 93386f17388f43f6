"""`python -m bench.sweep` at a tiny scale (300 candidates), so the benchmark cannot rot: it
builds the candidates, sweeps three times and prints its table with targets, ratios to both
baselines and the phases of each sweep."""

from __future__ import annotations

import re

import pytest

from bench import sweep
from bench.common import pg_server_available


def test_the_sweep_benchmark_queues_each_candidate_once_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backends = ["sqlite", *(["postgresql"] if pg_server_available() else [])]
    results = sweep.run(["--tiny", "--backend", *backends])
    out = capsys.readouterr().out

    assert [r.backend for r in results] == backends
    mix = sweep.plan(sweep.TINY)
    assert mix.candidates == 300 and mix.expected == {"overdue_visit": 180, "feedback": 60, "milestone": 54,
                                                      "draft": 6}
    for result in results:
        assert result.run("first (all due)").queued == 300 and result.outbox_rows == 300
        assert result.run("again (dedupe)").queued == 0
        assert result.run("nothing due").queued == 0 and result.run("nothing due").due == 0
        assert result.baseline_rows == 300
    assert "machine: " in out and "sqlite: " in out and "postgresql: " in out
    for backend in backends:
        assert f"== {backend}: 300 candidates" in out
    assert len(re.findall(r"sweep: first \(all due\)\s+\d+\.\d{3}\s+300 queued / 300 due\s+< 1 s (ok|MISSED)\s+"
                          r"\d+\.\d×\s+\d+\.\d\d×", out)) == len(backends)
    assert out.count("checks: first sweep queued one row per candidate ok 300; outbox rows ok 300; "
                     "second sweep queued nothing ok; nothing-due sweep found nothing ok") == len(backends)
    assert re.search(r"compose texts \(templates\)\s+0\.000\s+\d+\.\d{3}\s+0\.000", out)
