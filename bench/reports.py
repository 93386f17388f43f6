"""The official figures of the city: the 两个覆盖 (`storage.coverage`), the 季报 and the 年终统计
(`output.reports`) of every supervisor's and admin's scope (no target in DESIGN.md; each report
should take about a second at most, as the report job computes one per supervisor in one unit of
work).

    python -m bench.reports [--years 1 10] [--backend sqlite postgresql] [--tiny] [--repeat 3]
                            [--rebuild] [--seed 2026]

The city is `storage.city`, built or cached as for `bench.digests` (bench/city.py), on
2026-11-25. Measured for each scope, each figure in a unit of work of its own:

- *coverage* (两个覆盖): `storage.coverage.coverage_by_region` on 2026-11-25 (the figures by sub-region);
- *quarterly* (季报): `output.reports.quarter_report` of 2026-Q3 (what the job sent on 2026-10-08), text and
  workbook;
- *year-end* (年终统计): `output.reports.year_end` of 2026, text and workbook (the 1-year city's history
  covers the year as the 10-year city's does; `python -m bot report year-end` computes it so).

Each is shown as the total over the scopes, the slowest scope, CPU (this process and, on
PostgreSQL, the server backend serving it), and the ten-year city's ratio to the one-year city.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from bench.city import city_database, describe, scale_for
from bench.common import format_table, machine_lines, pg_server_available
from bench.digests import Timing, _measured, _users
from output import reports
from storage import coverage
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 25)
QUARTER = (2026, 3)
YEAR = 2026
LOCALE = "zh_CN"
TARGET_SECONDS = 1.0  # per scope: what "about a second at most" means here
# The figures, named in English in the table (its columns are padded by characters).
FIGURES = ("coverage", "quarterly", "year-end")


@dataclass
class Run:
    """One pass over every scope: per figure, the seconds and CPU of each scope."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Figures:
    backend: str
    years: int
    scopes: list[str]
    runs: list[Run]

    def total(self, figure: str, what: str = "seconds") -> float:
        """Median over the runs of the sum over the scopes."""
        return statistics.median(sum(getattr(run, what)[figure]) for run in self.runs)

    def slowest(self, figure: str) -> tuple[float, str]:
        """The slowest scope (median over the runs of its time) and its name."""
        medians = [statistics.median(run.seconds[figure][i] for run in self.runs) for i in range(len(self.scopes))]
        worst = max(range(len(medians)), key=medians.__getitem__)
        return medians[worst], self.scopes[worst] or "(all)"


def _makers(scope: str) -> dict[str, Callable[..., Awaitable[object]]]:
    return {
        "coverage": lambda session: coverage.coverage_by_region(session, scope, TODAY),
        "quarterly": lambda session: reports.quarter_report(session, scope, *QUARTER, LOCALE),
        "year-end": lambda session: reports.year_end(session, scope, YEAR, TZ, LOCALE),
    }


async def measure(url: str, backend: str, years: int, repeat: int) -> Figures:
    engine = make_async_engine(url)
    try:
        factory = make_session_factory(engine)
        scopes = [region for _, region, _ in await _users(factory, (Role.SUPERVISOR.value, Role.ADMIN.value))]
        runs = []
        for _ in range(repeat):
            run = Run()
            for figure in FIGURES:
                run.seconds[figure], run.cpu[figure] = [], []
                for scope in scopes:
                    timing = Timing()
                    async with _measured(factory, timing) as session:
                        await _makers(scope)[figure](session)
                    run.seconds[figure].append(timing.wall)
                    run.cpu[figure].append(timing.cpu)
            runs.append(run)
        return Figures(backend, years, scopes, runs)
    finally:
        await engine.dispose()


def table(figures: list[Figures]) -> str:
    rows = []
    for f in figures:
        base = next((b for b in figures if b.backend == f.backend and b.years == 1), None)
        for figure in FIGURES:
            total, cpu = f.total(figure), f.total(figure, "cpu")
            worst, scope = f.slowest(figure)
            ratio = "(baseline)" if base is f else "—" if base is None else f"{total / base.total(figure):.2f}×"
            verdict = "met" if worst < TARGET_SECONDS else "MISSED"
            rows.append([f.backend, f"{f.years}y", f"{figure}, all {len(f.scopes)} scopes", f"{total:.3f} s",
                         f"{cpu:.3f} s", ratio, f"{worst:.3f} s", f"< {TARGET_SECONDS:g} s {verdict}", scope])
    return format_table(("backend", "history", "figure", "total", "CPU", "vs 1y", "slowest scope", "target (each)",
                         "which"), rows)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    p.add_argument("--years", type=int, nargs="+", default=[1, 10], help="histories to measure (default: 1 10)")
    p.add_argument("--backend", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    p.add_argument("--tiny", action="store_true", help="a tiny city (2 counties, 200 enterprises): the smoke test")
    p.add_argument("--repeat", type=int, default=3, help="runs over every scope (the median is shown)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite city")
    p.add_argument("--no-cache", action="store_true", help="build the SQLite city in a temporary file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = sys.stdout
    out.write("bench.reports — the 两个覆盖, 季报 and 年终统计 of every supervisor's scope; "
              f"each scope < {TARGET_SECONDS:g} s\n")
    for line in machine_lines():
        out.write(line + "\n")
    years = sorted(set(args.years))
    out.write(f"city: {describe(scale_for(args.tiny, 1))}; seed {args.seed}; on {TODAY}, "
              f"季报 {QUARTER[0]}-Q{QUARTER[1]}, 年终统计 {YEAR}\n")
    figures: list[Figures] = []
    for backend in args.backend:
        if backend == "postgresql" and not pg_server_available():
            out.write("postgresql: skipped, no server answers at 127.0.0.1:5432\n")
            continue
        for y in years:
            scale = scale_for(args.tiny, y)
            started = time.perf_counter()
            with city_database(backend, scale, today=TODAY, seed=args.seed, cache=not (args.tiny or args.no_cache),
                               rebuild=args.rebuild, name="reports") as db:
                if db.summary is not None:
                    out.write(f"{backend} {y}y: built in {db.build_seconds:.1f} s: "
                              f"{db.summary.enterprises:,} enterprises, {db.summary.organisations:,} organisations, "
                              f"{db.summary.foundings:,} founding records, {db.summary.visits:,} visits\n")
                else:
                    out.write(f"{backend} {y}y: cached city {db.cached_path} "
                              f"(ready in {time.perf_counter() - started:.1f} s)\n")
                out.flush()
                figures.append(asyncio.run(measure(db.url, backend, y, max(1, args.repeat))))
    if not figures:
        out.write("nothing measured\n")
        return 1
    out.write("\n" + table(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
