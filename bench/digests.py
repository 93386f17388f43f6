"""Benchmark 2: every digest of the city (target: all supervisor digests together under 1 s, and
ten years of history at most 1.2× one year).

    python -m bench.digests [--years 1 10] [--backend sqlite postgresql] [--tiny] [--repeat 3]
                            [--attachments all|counties|one|none] [--rebuild] [--seed 2026]

The city is `storage.city` (13 counties, 20,000 enterprises, 2,000 officers; per year of history
200,000 visits, 5,000 people in development, 10,000 feedback items), built on PostgreSQL for the
run and cached on SQLite (bench/city.py). The week is the one the Monday job sends on
Wednesday 2026-11-25: Monday 2026-11-16 to Sunday 2026-11-22.

Measured, as the weekly job (`output.digests.queue_weekly`) does it, each in one unit of work:

- *supervisor digests*: for every supervisor and admin (the city's, each county's), their
  region's digest plus `output.digests.render_supervisor_digest`, from one
  `storage.digests.supervisor_digests` call over all their regions — what `queue_weekly` does,
  and the figure that carries the 1 s target — and, for comparison, one `supervisor_digest`
  call each (what each supervisor's /digest costs; p50 and max of one digest shown);
- *officer summaries*: rendered for each of the 2,000 officers, from one `officer_summaries`
  call (what `queue_weekly` does) and one `officer_summary` call each;
- *attachments*, apart: the chart (`chart_png`) and the ledger XLSX (`output.ledger.build_ledger`,
  with the last twelve months of visits, as the digest attaches it) of each supervisor's
  region. They go out with the digest and are built by the same weekly job, in the same unit of
  work, so their time adds to the job's (on SQLite, to the time it holds the write lock once the
  first outbox row is written). `--attachments counties` skips the city-wide ledgers (a year of
  the city's visits is 200,000 rows); `one` builds those of one county's supervisor only.

Baseline, in the same run: the one-year city on the same backend. Every figure of the ten-year
city is shown with its ratio to the one-year figure (target ≤ 1.2× for the supervisor digests).
Timings are the median of `--repeat` runs (the first run, with cold caches, is shown apart).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.city import city_database, describe, scale_for
from bench.common import format_table, machine_lines, pg_server_available
from output.digests import LEDGER_VISITS_DAYS, chart_png, render_officer_summary, render_supervisor_digest
from output.ledger import build_ledger
from storage import digests
from storage.db import make_async_engine, make_session_factory
from storage.digests import supervisor_digest, week_of
from storage.enums import Role
from storage.models import User
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 25)  # a Wednesday
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Yichang
WEEK_START = week_of(TODAY) - timedelta(days=7)  # the last full week, as the Monday job sends it
AS_OF = WEEK_START + timedelta(days=6)
LOCALE = "zh_CN"
TARGET_SECONDS = 1.0
TARGET_RATIO = 1.2


@dataclass
class Run:
    """One pass over every digest of the city."""

    supervisor: list[float] = field(default_factory=list)
    officer: list[float] = field(default_factory=list)
    supervisor_total: float = 0.0
    batch_total: float = 0.0  # the same digests from one supervisor_digests call
    officer_total: float = 0.0
    # CPU seconds of this process (all its threads: SQLite runs in aiosqlite's) and of the
    # PostgreSQL backend serving it, which other programs on a busy machine do not inflate.
    supervisor_cpu: float = 0.0
    batch_cpu: float = 0.0
    officer_cpu: float = 0.0
    officer_batch_total: float = 0.0  # the same summaries from one officer_summaries call
    officer_batch_cpu: float = 0.0
    parts: int = 0  # messages the supervisor digests render to


@dataclass
class Attachments:
    charts: list[float] = field(default_factory=list)
    ledgers: list[float] = field(default_factory=list)
    ledger_bytes: list[int] = field(default_factory=list)
    ledger_scopes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Figures:
    backend: str
    years: int
    build_seconds: float | None
    supervisors: int
    officers: int
    runs: list[Run]
    attachments: Attachments

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    def each(self, attribute: str) -> list[float]:
        """Per-digest times of the runs after the first (all of them when there is one run)."""
        runs = self.runs[1:] or self.runs
        return [t for run in runs for t in getattr(run, attribute)]


async def _users(factory: object, roles: Sequence[str]) -> list[tuple[int, str, str]]:
    async with unit_of_work(factory) as uow:  # type: ignore[arg-type]
        rows = await uow.session.execute(
            select(User.id, User.region, User.name)
            .where(User.role.in_(roles), User.active.is_(True)).order_by(User.id))
        return [(uid, region, name) for uid, region, name in rows.tuples()]


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


def _backend_ticks(pid: int) -> float | None:
    """CPU seconds the PostgreSQL backend process `pid` has used (it runs on this machine)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@asynccontextmanager
async def _measured(factory: object, timing: Timing) -> AsyncIterator[AsyncSession]:
    """A unit of work, timed: wall clock, and CPU of this process plus, on PostgreSQL, of the
    server process that serves the connection — CPU a busy machine does not inflate."""
    started, cpu = time.perf_counter(), time.process_time()
    async with unit_of_work(factory) as uow:  # type: ignore[arg-type]
        session = uow.session
        pid = None
        if session.get_bind().dialect.name == "postgresql":
            pid = int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        backend = _backend_ticks(pid) if pid is not None else None
        yield session
        after = _backend_ticks(pid) if pid is not None else None
    timing.wall = time.perf_counter() - started
    timing.cpu = time.process_time() - cpu + (after - backend if after is not None and backend is not None else 0.0)


async def one_run(factory: object, supervisors: list[tuple[int, str, str]], officers: list[tuple[int, str, str]]) -> Run:
    run = Run()
    timing = Timing()
    async with _measured(factory, timing) as session:
        for _, region, _ in supervisors:
            t = time.perf_counter()
            digest = await digests.supervisor_digest(session, region, WEEK_START, TZ, today=AS_OF)
            run.parts += len(render_supervisor_digest(digest, LOCALE))
            run.supervisor.append(time.perf_counter() - t)
    run.supervisor_total, run.supervisor_cpu = timing.wall, timing.cpu
    # The batches, where this checkout has them (the benchmark also runs on older ones, for a before).
    batch_digests = getattr(digests, "supervisor_digests", None)
    if batch_digests is not None:
        async with _measured(factory, timing) as session:
            batch = await batch_digests(session, [region for _, region, _ in supervisors], WEEK_START, TZ,
                                        today=AS_OF)
            for _, region, _ in supervisors:
                render_supervisor_digest(batch[region], LOCALE)
        run.batch_total, run.batch_cpu = timing.wall, timing.cpu
    async with _measured(factory, timing) as session:
        for uid, _, _ in officers:
            t = time.perf_counter()
            summary = await digests.officer_summary(session, uid, WEEK_START, TZ, today=TODAY)
            render_officer_summary(summary, LOCALE)
            run.officer.append(time.perf_counter() - t)
    run.officer_total, run.officer_cpu = timing.wall, timing.cpu
    batch_summaries = getattr(digests, "officer_summaries", None)
    if batch_summaries is not None:
        async with _measured(factory, timing) as session:
            summaries = await batch_summaries(session, [uid for uid, _, _ in officers], WEEK_START, TZ, today=TODAY)
            for uid, _, _ in officers:
                render_officer_summary(summaries[uid], LOCALE)
        run.officer_batch_total, run.officer_batch_cpu = timing.wall, timing.cpu
    return run


async def attachments(factory: object, supervisors: list[tuple[int, str, str]], which: str) -> Attachments:
    result = Attachments()
    if which == "none":
        return result
    if which == "one":  # the first county's supervisor only: a quick look at the cost
        supervisors = [next(s for s in supervisors if s[1].count("/") == 1)]
    async with unit_of_work(factory) as uow:  # type: ignore[arg-type]
        for uid, region, name in supervisors:
            digest = await supervisor_digest(uow.session, region, WEEK_START, TZ, today=AS_OF)
            t = time.perf_counter()
            chart_png(digest, LOCALE)
            result.charts.append(time.perf_counter() - t)
            if which == "counties" and region.count("/") == 0:
                result.skipped.append(region)
                continue
            t = time.perf_counter()
            # As the digest attaches it: the last twelve months of visits (output.digests.supervisor_messages).
            data = await build_ledger(uow.session, scope=region, today=AS_OF, actor_label=name, actor_id=uid, tz=TZ,
                                      visits_since=AS_OF - timedelta(days=LEDGER_VISITS_DAYS))
            result.ledgers.append(time.perf_counter() - t)
            result.ledger_bytes.append(len(data))
            result.ledger_scopes.append(region)
        # Nothing is committed: the ledger's audit entries go with the rollback.
    return result


async def measure(url: str, backend: str, years: int, build_seconds: float | None, repeat: int,
                  which: str) -> Figures:
    engine = make_async_engine(url)
    try:
        factory = make_session_factory(engine)
        supervisors = await _users(factory, (Role.SUPERVISOR.value, Role.ADMIN.value))
        officers = await _users(factory, (Role.OFFICER.value,))
        runs = [await one_run(factory, supervisors, officers) for _ in range(repeat)]
        extra = await attachments(factory, supervisors, which)
        return Figures(backend, years, build_seconds, len(supervisors), len(officers), runs, extra)
    finally:
        await engine.dispose()


# --- report -----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def table(figures: list[Figures]) -> str:
    rows: list[list[object]] = []
    baselines = {f.backend: f for f in figures if f.years == 1}
    for f in figures:
        base = baselines.get(f.backend) if f.years != 1 else None

        def row(name: str, value: float, shown: str, baseline: float | None, target: str = "—",
                f: Figures = f, base: Figures | None = base) -> None:
            if f.years == 1:
                vs_1y = "(baseline)"
            elif base is not None and baseline:
                vs_1y = f"{value / baseline:.2f}×"
            else:
                vs_1y = "—"
            vs_target = f"{value / TARGET_SECONDS:.2f}×" if target != "—" else "—"
            rows.append([f.backend, f"{f.years}y", name, shown, target, vs_target, vs_1y])

        cpu_label = "  CPU (this process + PostgreSQL backend)" if f.backend == "postgresql" else "  CPU (this process)"
        sup_total, sup_each = f.median("supervisor_total"), f.each("supervisor")
        off_total, off_each = f.median("officer_total"), f.each("officer")
        if f.build_seconds is not None:
            row("build the city", f.build_seconds, f"{f.build_seconds:.1f} s", base.build_seconds if base else None)
        row(f"supervisor digests, all {f.supervisors}, one call each", sup_total, _s(sup_total),
            base.median("supervisor_total") if base else None, "< 1 s")
        row(cpu_label, f.median("supervisor_cpu"), _s(f.median("supervisor_cpu")),
            base.median("supervisor_cpu") if base else None)
        batch = f.median("batch_total")
        if batch:
            row(f"supervisor digests, all {f.supervisors} in one batch", batch, _s(batch),
                base.median("batch_total") if base else None, "< 1 s")
            row(cpu_label, f.median("batch_cpu"), _s(f.median("batch_cpu")),
                base.median("batch_cpu") if base else None)
        row("  first run (cold caches)", f.runs[0].supervisor_total, _s(f.runs[0].supervisor_total),
            base.runs[0].supervisor_total if base else None)
        row("  one supervisor digest, p50", _p50(sup_each), _ms(_p50(sup_each)),
            _p50(base.each("supervisor")) if base else None)
        row("  one supervisor digest, max", max(sup_each), _ms(max(sup_each)),
            max(base.each("supervisor")) if base else None)
        row(f"officer summaries, all {f.officers}, one call each", off_total, _s(off_total),
            base.median("officer_total") if base else None)
        row(cpu_label, f.median("officer_cpu"), _s(f.median("officer_cpu")),
            base.median("officer_cpu") if base else None)
        officer_batch = f.median("officer_batch_total")
        if officer_batch:
            row(f"officer summaries, all {f.officers} in one batch", officer_batch, _s(officer_batch),
                base.median("officer_batch_total") if base else None)
            row(cpu_label, f.median("officer_batch_cpu"), _s(f.median("officer_batch_cpu")),
                base.median("officer_batch_cpu") if base else None)
        row("  one officer summary, p50", _p50(off_each), _ms(_p50(off_each)),
            _p50(base.each("officer")) if base else None)
        row("  one officer summary, max", max(off_each, default=0.0), _ms(max(off_each, default=0.0)),
            max(base.each("officer"), default=0.0) if base else None)
        a = f.attachments
        b = base.attachments if base is not None else None
        if a.charts:
            row(f"charts (chart_png), all {len(a.charts)}", sum(a.charts), _s(sum(a.charts)),
                sum(b.charts) if b else None)
            row("  one chart, p50", _p50(a.charts), _ms(_p50(a.charts)), _p50(b.charts) if b else None)
            row("  one chart, max (the first loads the font)", max(a.charts), _ms(max(a.charts)),
                max(b.charts, default=0.0) if b else None)
        if a.ledgers:
            row(f"ledgers (XLSX), all {len(a.ledgers)}", sum(a.ledgers), _s(sum(a.ledgers)),
                sum(b.ledgers) if b and len(b.ledgers) == len(a.ledgers) else None)
            row("  one ledger, p50", _p50(a.ledgers), _ms(_p50(a.ledgers)), _p50(b.ledgers) if b else None)
            big = max(range(len(a.ledgers)), key=lambda i: a.ledger_bytes[i])
            same = b.ledger_scopes.index(a.ledger_scopes[big]) if b and a.ledger_scopes[big] in b.ledger_scopes else None
            row(f"  biggest ledger ({a.ledger_scopes[big]}, {a.ledger_bytes[big] / 1e6:.1f} MB)", a.ledgers[big],
                _s(a.ledgers[big]), b.ledgers[same] if b and same is not None else None)
        if a.skipped:
            rows.append([f.backend, f"{f.years}y", f"  ledgers not built: {', '.join(a.skipped)}", "", "", "", ""])
        if a.charts or a.ledgers:
            # The job's own digests: the batch where this checkout has it.
            digests_of_job = "batch_total" if batch else "supervisor_total"
            job = f.median(digests_of_job) + sum(a.charts) + sum(a.ledgers)
            base_job = (base.median(digests_of_job) + sum(b.charts) + sum(b.ledgers)) if base and b else None
            row("digests with chart and ledger", job, _s(job), base_job, "< 1 s")
    return format_table(("backend", "history", "figure", "value", "target", "vs target", "vs 1y"), rows)


def verdict(figures: list[Figures]) -> list[str]:
    lines = []
    for f in figures:
        base = next((b for b in figures if b.backend == f.backend and b.years == 1), None)
        # The batch is what the weekly job does: it carries the targets. One call each is what
        # every supervisor's /digest costs together, shown for comparison (and on checkouts
        # from before the batch).
        for attribute, how in (("batch_total", "in one batch"), ("supervisor_total", "one call each")):
            total = f.median(attribute)
            if not total:
                continue
            runs = ", ".join(f"{getattr(run, attribute):.3f}" for run in f.runs)
            lines.append(f"{f.backend} {f.years}y: all supervisor digests {how} {total:.3f} s (runs: {runs}) — "
                         f"{'meets' if total < TARGET_SECONDS else 'MISSES'} the 1 s target")
            if base is not None and f.years != 1:
                ratio = total / base.median(attribute)
                lines.append(f"{f.backend} {f.years}y/1y {how}: {ratio:.2f}× — "
                             f"{'meets' if ratio <= TARGET_RATIO else 'MISSES'} the ≤ {TARGET_RATIO}× target")
    return lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.digests", description=__doc__.split("\n\n")[0])
    p.add_argument("--years", type=int, nargs="+", default=[1, 10], help="histories to measure (default: 1 10)")
    p.add_argument("--backend", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    p.add_argument("--tiny", action="store_true", help="a tiny city (2 counties, 200 enterprises): the smoke test")
    p.add_argument("--repeat", type=int, default=3, help="runs over every digest (the median is shown)")
    p.add_argument("--attachments", choices=["all", "counties", "one", "none"], default="all",
                   help="charts and ledgers: of every supervisor, without the city-wide ledgers, of one county's "
                        "supervisor, or none")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite city")
    p.add_argument("--no-cache", action="store_true", help="build the SQLite city in a temporary file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = sys.stdout
    out.write("bench.digests — every digest of the city; target: all supervisor digests < 1 s, "
              "10 years ≤ 1.2× 1 year\n")
    for line in machine_lines():
        out.write(line + "\n")
    years = sorted(set(args.years))
    out.write(f"city: {describe(scale_for(args.tiny, 1))}; seed {args.seed}; "
              f"week {WEEK_START}..{AS_OF}, computed on {TODAY}\n")
    if 1 not in years:
        out.write("note: without --years 1 there is no one-year baseline in this run\n")
    figures: list[Figures] = []
    for backend in args.backend:
        if backend == "postgresql" and not pg_server_available():
            out.write("postgresql: skipped, no server answers at 127.0.0.1:5432\n")
            continue
        for y in years:
            scale = scale_for(args.tiny, y)
            with city_database(backend, scale, today=TODAY, seed=args.seed, cache=not (args.tiny or args.no_cache),
                               rebuild=args.rebuild, name="digests") as db:
                if db.summary is not None:
                    out.write(f"{backend} {y}y: built in {db.build_seconds:.1f} s: {db.summary.visits:,} visits, "
                              f"{db.summary.people:,} people, {db.summary.feedback:,} feedback, "
                              f"{db.summary.assignments:,} assignments, {db.summary.review_notes:,} review notes\n")
                else:
                    out.write(f"{backend} {y}y: cached city {db.cached_path}\n")
                out.flush()
                figures.append(asyncio.run(measure(db.url, backend, y, db.build_seconds, max(1, args.repeat),
                                                   args.attachments)))
    if not figures:
        out.write("nothing measured\n")
        return 1
    out.write("\n" + table(figures) + "\n\n")
    for line in verdict(figures):
        out.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
