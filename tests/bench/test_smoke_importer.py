"""`python -m bench.importer` at a tiny scale (300 rows), so the benchmark cannot rot: the county
file it generates imports without a rejected row, with its organisations (joint branches shared
by several rows) created once, changes nothing the second time, and the table is printed."""

from __future__ import annotations

import re

import pytest

from bench import importer
from bench.common import pg_server_available


def test_the_importer_benchmark_imports_its_county_file_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backends = ["sqlite", *(["postgresql"] if pg_server_available() else [])]
    results = importer.run(["--tiny", "--backend", *backends])
    out = capsys.readouterr().out

    assert [r.backend for r in results] == backends
    county = re.search(r"county file: 300 rows, 90 with an organisation, (\d+) organisations \(\d+ joint branches\)",
                       out)
    assert county is not None
    organisations = int(county[1])
    for result in results:
        first, again = result.run("organisations: first").report, result.run("organisations: again").report
        assert (first.created, first.errors, first.organisations_created) == (300, [], organisations)
        assert (again.created, again.updated, again.unchanged, again.organisations_created) == (0, 0, 300, 0)
        assert result.run("organisations: dry run").report.organisations_created == organisations
        baseline = result.run("baseline: first").report
        assert (baseline.created, baseline.organisations_created) == (300, 0)
    assert "machine: " in out and "reading alone" in out
    assert len(re.findall(r"organisations cost [-+]\d+\.\d\d s per 10,000 rows over the baseline", out)) == len(backends)
