"""Benchmark 3: the reminder sweep over 100,000 candidates (target: under 1 s).

    python -m bench.sweep [--candidates 100000] [--backend sqlite postgresql] [--tiny] [--repeat 3]

A fresh database per backend is filled with bulk inserts (SQLAlchemy Core, executemany) with
`--candidates` reminders that are all due at NOW (2026-11-25 10:00 Asia/Shanghai), in the mix
of a city:

- 60 % overdue (enterprise, officer) pairs: enterprises with two open assignments each, last
  visited 40 days ago on a 30-day cadence, with `--visits` visits each in their history;
- 20 % open feedback older than 7 days: items on those enterprises, each reminding its two
  assigned officers (one of whom recorded it);
- 18 % development milestones due in 3 days: applicants (talk), activists (half-year review,
  each with an older review note), probationary members (end of probation);
- 2 % drafts untouched for two days (one per officer: 2,000 officers at 100,000).

Measured, each through `storage.sweep.sweep` in one unit of work with its commit:

- *nothing due*: the same rows, swept at NOW − 15 days, when none of them is due yet (visits
  25 days old, feedback not yet 7 days, milestones more than a week ahead, drafts fresh);
- *first*: everything is due: one outbox row per candidate (its key, kind, officer and chat:
  the text and buttons are composed when the row is sent), up to the sweep's row limit
  (`storage.sweep.ROWS_PER_SWEEP`, 27,000: what the sender can send before the next sweep);
- *the rest*: the sweeps after it, as the scheduler runs them every 15 minutes, until every
  candidate is queued (their number and the longest of them are shown);
- *again*: a sweep right after that, which must queue nothing (the dedupe).

Each sweep is shown with its wall-clock seconds and this process's CPU seconds (the database
server's own CPU is not in them on PostgreSQL). After the sweeps, what the composing cost moved
to: the sender's renderer (`output.reminders.render_reminders`, text from the templates with
the subject's values then) over an even sample of the queued rows (`--compose-sample`), in the
sender's batches of 100 — which also checks that every queued reminder composes (a row whose
key the SQL built differently from Python's milestones would be dropped as obsolete).

Baseline, in the same run: the bare read of the candidate set — one plain SELECT per kind of
the rows and columns the sweep reads (assignments, feedback × assignments, people, drafts, each
joined with the officer and the enterprise), without aggregates, filtering or rendering. Each
sweep is shown with its phases (the four kinds' queries with their Python, the snoozes, the
INSERT … SELECT per kind with its read-only probe, the snoozed subjects and the drafts decided in
Python, their insert) so one sees which statement dominates.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import typing
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import output.reminders as reminders
from bench.common import format_table, machine_lines, pg_server_available, scratch_database
from storage import development
from storage import sweep as sweeps
from storage.db import make_async_engine, make_session_factory, make_sync_engine
from storage.feedback import OPEN_STATUSES
from storage.models import Assignment, Draft, Enterprise, Feedback, OutboxMessage, Person, ReviewNote, User, Visit
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
TODAY = date(2026, 11, 25)
QUIET = NOW - timedelta(days=15)  # the same rows, none of them due yet
TARGET_SECONDS = 1.0
TINY = 300
CHUNK = 10_000  # rows per executemany


@dataclass(frozen=True)
class Mix:
    """How many of each kind of candidate `candidates` stands for."""

    officers: int
    drafts: int
    persons: int
    feedback_items: int  # each reminds two officers
    overdue_pairs: int
    visits_per_enterprise: int

    @property
    def enterprises(self) -> int:
        return (self.overdue_pairs + 1) // 2

    @property
    def candidates(self) -> int:
        return self.overdue_pairs + 2 * self.feedback_items + self.persons + self.drafts

    @property
    def expected(self) -> dict[str, int]:
        return {"overdue_visit": self.overdue_pairs, "feedback": 2 * self.feedback_items,
                "milestone": self.persons, "draft": self.drafts}


def plan(candidates: int, visits_per_enterprise: int = 4) -> Mix:
    officers = max(4, candidates // 50)
    drafts = min(officers, candidates * 2 // 100)
    persons = candidates * 18 // 100
    feedback_items = candidates * 10 // 100
    overdue = candidates - drafts - persons - 2 * feedback_items
    if feedback_items > overdue // 2:
        raise ValueError("too few candidates for the mix")
    return Mix(officers, drafts, persons, feedback_items, overdue, visits_per_enterprise)


def _date_before(target: date, rule: development.Rule) -> date:
    """The start date whose period under `rule` ends on `target`."""
    day = target - timedelta(days=400 * max(1, rule.years) + 40 * rule.months + rule.days)
    while development.add_period(day, rule) < target:
        day += timedelta(days=1)
    return day


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _load(conn: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _chunks(rows):
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def build(url: str, mix: Mix) -> dict[str, int]:
    """Fills the empty database with the candidates; returns the rows per table."""
    engine = make_sync_engine(url)
    rules = development.CURRENT
    due = TODAY + timedelta(days=3)
    applied, activist, probation = (_date_before(due, rules.talk_within), _date_before(due, rules.review_every),
                                    _date_before(due, rules.probation))
    created = NOW - timedelta(days=400)
    enterprises = mix.enterprises

    def officers_of(enterprise: int) -> list[int]:  # ids start at 1
        first = (2 * (enterprise - 1)) % mix.officers + 1
        second = (2 * (enterprise - 1) + 1) % mix.officers + 1
        last_single = mix.overdue_pairs % 2 == 1 and enterprise == enterprises
        return [first] if last_single else [first, second]

    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            counts["users"] = _load(conn, User.__table__, (
                {"id": i, "name": f"联络员{i}", "role": "officer", "region": f"宜昌市/县{i % 13}/镇{i % 97}",
                 "telegram_user_id": 10_000_000 + i, "chat_id": 10_000_000 + i,
                 "locale": "en" if i % 10 == 0 else None, "active": True, "blocked_bot": False,
                 "created_at": created, "updated_at": created}
                for i in range(1, mix.officers + 1)))
            counts["enterprises"] = _load(conn, Enterprise.__table__, (
                {"id": e, "name": f"宜昌测试企业{e:06d}有限公司", "name_initials": "ycqsqy",
                 "credit_code": f"91420500{e:010d}", "kind": "private", "region": f"宜昌市/县{e % 13}/镇{e % 97}",
                 "visit_cadence_days": 30, "party_org": "none", "mass_orgs": [], "demonstration_point": False,
                 "created_at": created, "updated_at": created}
                for e in range(1, enterprises + 1)))
            counts["assignments"] = _load(conn, Assignment.__table__, (
                {"enterprise_id": e, "officer_id": o, "started_on": date(2025, 1, 1), "ended_on": None}
                for e in range(1, enterprises + 1) for o in officers_of(e)))
            counts["visits"] = _load(conn, Visit.__table__, (
                {"enterprise_id": e, "officer_id": officers_of(e)[0], "visit_date": TODAY - timedelta(days=40 + 30 * k),
                 "activities": [], "media": [], "summary": "例行走访", "created_at": created, "updated_at": created}
                for e in range(1, enterprises + 1) for k in range(mix.visits_per_enterprise)))
            counts["feedback"] = _load(conn, Feedback.__table__, (
                {"enterprise_id": f % enterprises + 1, "raised_by": "业主", "channel": "officer",
                 "category": "hiring", "content": "招工难", "urgency": "normal", "status": "open",
                 "officer_id": officers_of(f % enterprises + 1)[0],
                 "created_at": NOW - timedelta(days=10), "updated_at": NOW - timedelta(days=10)}
                for f in range(mix.feedback_items)))
            stages = ("applicant", "activist", "probationary")

            def person(p: int) -> dict[str, Any]:
                stage = stages[p % 3]
                row: dict[str, Any] = {
                    "id": p + 1, "enterprise_id": p % enterprises + 1, "officer_id": officers_of(p % enterprises + 1)[0],
                    "name": f"发展对象{p}", "gender": "male", "birth_date": date(1995, 1, 1), "stage": stage,
                    "applied_on": applied, "talked_on": None, "activist_on": None, "probation_on": None,
                    "is_owner": False, "contacts": [], "created_at": created, "updated_at": created}
                if stage != "applicant":
                    row.update(applied_on=date(2023, 1, 1), talked_on=date(2023, 1, 20))
                if stage == "activist":
                    row["activist_on"] = activist
                if stage == "probationary":
                    row.update(activist_on=date(2023, 3, 1), candidate_on=date(2024, 3, 1), probation_on=probation)
                return row

            counts["people"] = _load(conn, Person.__table__, (person(p) for p in range(mix.persons)))
            counts["review_notes"] = _load(conn, ReviewNote.__table__, (
                {"person_id": p + 1, "written_on": activist - timedelta(days=30), "content": "表现良好",
                 "author_id": officers_of(p % enterprises + 1)[0], "created_at": created}
                for p in range(mix.persons) if p % 3 == 1))
            idle = NOW - timedelta(days=2)
            counts["drafts"] = _load(conn, Draft.__table__, (
                {"user_id": u, "form": "visit", "step": "visit_date", "editing": False, "seq": 3,
                 "answers": {"enterprise": (u - 1) % enterprises + 1}, "created_at": idle, "updated_at": idle}
                for u in range(1, mix.drafts + 1)))
        if engine.dialect.name == "postgresql":
            # Autovacuum would have analysed tables grown over a year; a bulk load has not.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return counts


# ---------------------------------------------------------------- measuring


@dataclass
class Phases:
    """Seconds spent per phase of the sweep, by wrapping the sweep module's functions."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def installed(self) -> Iterator[None]:
        originals: list[tuple[Any, str, Any]] = []

        def wrap_async(module: Any, name: str, phase: str) -> None:
            original = getattr(module, name)

            async def timed(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.seconds[phase] += time.perf_counter() - began

            originals.append((module, name, original))
            setattr(module, name, timed)

        def wrap_sync(module: Any, name: str, phase: str) -> None:
            original = getattr(module, name)

            def timed(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.seconds[phase] += time.perf_counter() - began

            originals.append((module, name, original))
            setattr(module, name, timed)

        for name, phase in (("_any", "probe per kind (read-only)"), ("_queue_unsnoozed", "INSERT … SELECT per kind"),
                            ("_snoozed", "snoozed subjects"), ("_touched", "find drafts"),
                            ("_snoozes", "snoozes of drafts"), ("_existing", "dedupe look-up (Python's rows)"),
                            ("_queue_rows", "insert Python's rows")):
            wrap_async(sweeps, name, phase)
        try:
            yield
        finally:
            for module, name, original in reversed(originals):
                setattr(module, name, original)


@dataclass
class Run:
    label: str
    seconds: float
    queued: int
    due: int
    phases: dict[str, float]
    stall: float = 0.0  # longest time the event loop ran nothing else (the bot's users wait that long)
    cpu: float = 0.0  # this process's CPU seconds
    limited: bool = False  # stopped at the sweep's row limit
    sweeps: int = 1  # sweeps this figure stands for (the longest shown; queued is their sum)


async def _watch_loop(stalls: list[float], stop: asyncio.Event) -> None:
    """Wakes every 10 ms and notes how late it woke: what an update would have waited."""
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(0.01)
        stalls.append(time.perf_counter() - began - 0.01)


async def _sweep_once(factory: async_sessionmaker[AsyncSession], now: datetime, *, commit: bool,
                      label: str, limit: int = sweeps.ROWS_PER_SWEEP) -> Run:
    phases = Phases()
    stalls: list[float] = [0.0]
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_loop(stalls, stop))
    await asyncio.sleep(0)
    with phases.installed():
        async with unit_of_work(factory) as uow:
            began, cpu = time.perf_counter(), time.process_time()
            report = await sweeps.sweep(uow.session, now=now, tz=TZ, limit=limit)
            if commit:
                commit_began = time.perf_counter()
                await uow.commit()
                phases.seconds["commit"] += time.perf_counter() - commit_began
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    stop.set()
    await watcher
    named = dict(phases.seconds)
    named["rest (other SQL and Python)"] = max(0.0, seconds - sum(named.values()))
    return Run(label, seconds, report.total, sum(report.due.values()), named, max(stalls), cpu, report.limited)


async def _the_rest(factory: async_sessionmaker[AsyncSession], first: Run, limit: int) -> Run:
    """The sweeps after a limited one, until one is not limited: the longest, with the rows
    all of them queued."""
    runs: list[Run] = []
    while (runs[-1] if runs else first).limited and len(runs) < 1000:
        runs.append(await _sweep_once(factory, NOW, commit=True, label="the rest", limit=limit))
    if not runs:
        return Run("the rest", 0.0, 0, 0, {}, 0.0, 0.0, False, 0)
    longest = max(runs, key=lambda run: run.seconds)
    return Run("the rest", longest.seconds, sum(run.queued for run in runs), sum(run.due for run in runs),
               longest.phases, max(run.stall for run in runs), longest.cpu, runs[-1].limited, len(runs))


@dataclass
class Composing:
    rows: int  # sampled
    composed: int  # of them, with a text (not obsolete)
    seconds: float
    cpu: float


async def compose_sample(factory: async_sessionmaker[AsyncSession], sample: int, batch: int = 100) -> Composing:
    """The sender's renderer over `sample` queued rows spread evenly over the outbox, `batch`
    rows per call as the sender claims them; the rows are read outside the timing."""
    async with factory() as session:
        ids = list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
        step = max(1, len(ids) // max(1, sample))
        chosen = ids[::step][:sample]
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(chosen))))
        rows.sort(key=lambda row: row.id)
        began, cpu = time.perf_counter(), time.process_time()
        composed = 0
        for i in range(0, len(rows), batch):
            found = await reminders.render_reminders(session, rows[i : i + batch], NOW, TZ)
            composed += sum(1 for value in found.values() if value is not None)
        return Composing(len(rows), composed, time.perf_counter() - began, time.process_time() - cpu)


async def bare_read(factory: async_sessionmaker[AsyncSession]) -> tuple[float, int]:
    """The baseline: plain SELECTs of the candidate rows the sweep reads; (seconds, rows)."""
    statements: list[Select[Any]] = [
        select(Assignment.officer_id, User.chat_id, User.locale, Enterprise.id, Enterprise.name,
               Enterprise.visit_cadence_days)
        .join(User, User.id == Assignment.officer_id).join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(Assignment.ended_on.is_(None)),
        select(Assignment.officer_id, User.chat_id, User.locale, Feedback.id, Feedback.created_at, Feedback.category,
               Enterprise.name)
        .join(Assignment, Assignment.enterprise_id == Feedback.enterprise_id)
        .join(User, User.id == Assignment.officer_id).join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .where(Feedback.status.in_(OPEN_STATUSES), Assignment.ended_on.is_(None)),
        select(User.chat_id, User.locale, *Person.__table__.c, Enterprise.name)
        .join(User, User.id == Person.officer_id).join(Enterprise, Enterprise.id == Person.enterprise_id),
        select(User.id, User.chat_id, User.locale, Draft.id, Draft.form, Draft.answers, Draft.updated_at)
        .join(User, User.id == Draft.user_id),
    ]
    async with factory() as session:
        began = time.perf_counter()
        rows = 0
        for statement in statements:
            rows += len((await session.execute(statement)).all())
        return time.perf_counter() - began, rows


async def bare_write(factory: async_sessionmaker[AsyncSession], count: int) -> float:
    """The second baseline: `count` reminder-sized outbox rows written with one executemany
    (SQLAlchemy Core, the ordinary way to bulk insert), then rolled back; seconds."""
    rows = [{"dedupe_key": f"bare:{i}", "chat_id": 10_000_000 + i % 2000, "user_id": None, "kind": "overdue_visit",
             "text": f"⏰ 宜昌测试企业{i:06d}有限公司已 40 天未走访（周期 30 天）。",
             "buttons": [[{"text": "立即填报", "callback_data": f"visit:start:{i}"}],
                         [{"text": "明天提醒", "callback_data": f"remind:later:{i}"},
                          {"text": "本期不再提醒", "callback_data": f"remind:skip:{i}"}]],
             "attachments": [], "not_before": NOW, "status": "pending", "attempts": 0, "created_at": NOW}
            for i in range(count)]
    async with factory() as session:
        began = time.perf_counter()
        await session.execute(insert(typing.cast(Table, OutboxMessage.__table__)), rows)
        seconds = time.perf_counter() - began
        await session.rollback()
    return seconds


async def _median(make: Callable[[], Awaitable[Run]], repeat: int) -> Run:
    runs = [await make() for _ in range(repeat)]
    runs.sort(key=lambda run: run.seconds)
    return runs[len(runs) // 2]


@dataclass
class BackendResult:
    backend: str
    build_seconds: float
    rows: dict[str, int]
    baseline_seconds: float
    baseline_rows: int
    write_seconds: float
    runs: list[Run]
    outbox_rows: int
    expected: dict[str, int]
    composing: Composing
    limit: int  # rows a sweep queues at most

    def run(self, label: str) -> Run:
        return next(run for run in self.runs if run.label == label)


async def measure(url: str, mix: Mix, repeat: int, sample: int,
                  limit: int) -> tuple[float, int, float, list[Run], int, Composing]:
    engine = make_async_engine(url)
    factory = make_session_factory(engine)
    try:
        await bare_read(factory)  # warm the caches and the connection, like the sweeps below
        baseline = sorted([await bare_read(factory) for _ in range(repeat)])[len(range(repeat)) // 2]
        write = await bare_write(factory, mix.candidates)
        quiet = await _median(lambda: _sweep_once(factory, QUIET, commit=True, label="nothing due", limit=limit),
                              repeat)
        first = await _sweep_once(factory, NOW, commit=True, label="first (all due)", limit=limit)
        rest = await _the_rest(factory, first, limit)
        again = await _median(lambda: _sweep_once(factory, NOW, commit=True, label="again (dedupe)", limit=limit),
                              repeat)
        async with factory() as session:
            outbox_rows = int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
        composing = await compose_sample(factory, sample)
    finally:
        await engine.dispose()
    return baseline[0], baseline[1], write, [quiet, first, rest, again], outbox_rows, composing


def run_backend(backend: str, mix: Mix, repeat: int, sample: int, limit: int) -> BackendResult:
    with scratch_database(backend, "sweep") as url:
        began = time.perf_counter()
        rows = build(url, mix)
        build_seconds = time.perf_counter() - began
        baseline, baseline_rows, write, runs, outbox_rows, composing = asyncio.run(measure(url, mix, repeat, sample, limit))
    return BackendResult(backend, build_seconds, rows, baseline, baseline_rows, write, runs, outbox_rows,
                         mix.expected, composing, limit)


def report(result: BackendResult, mix: Mix) -> str:
    lines = [f"== {result.backend}: {mix.candidates:,} candidates "
             f"({', '.join(f'{k} {v:,}' for k, v in mix.expected.items())}); built in {result.build_seconds:.1f} s "
             f"({', '.join(f'{k} {v:,}' for k, v in result.rows.items())})"]
    base, write = result.baseline_seconds, result.write_seconds
    table = [["baseline: bare read of the candidates", f"{base:.3f}", "", f"{result.baseline_rows:,} read", "",
              "1.0×", f"{base / write:.2f}×"],
             ["baseline: bare write of as many outbox rows", f"{write:.3f}", "", f"{mix.candidates:,} written", "",
              f"{write / base:.1f}×", "1.0×"]]
    for run in result.runs:
        verdict = "ok" if run.seconds < TARGET_SECONDS else "MISSED"
        label = run.label if run.sweeps == 1 else f"{run.label}: {run.sweeps} sweeps, the longest"
        table.append([f"sweep: {label}", f"{run.seconds:.3f}", f"{run.cpu:.3f}",
                      f"{run.queued:,} queued / {run.due:,} due", f"< {TARGET_SECONDS:.0f} s {verdict}",
                      f"{run.seconds / base:.1f}×", f"{run.seconds / write:.2f}×"])
    lines.append(format_table(["measure", "seconds", "cpu s", "rows", "target", "× bare read", "× bare write"],
                              table))
    c = result.composing
    per = 1000 / c.rows if c.rows else 0.0
    lines.append(f"composed when sent (the sender's renderer, batches of 100): {c.rows:,} rows sampled in "
                 f"{c.seconds:.3f} s, cpu {c.cpu:.3f} s ({c.seconds * per:.3f} s per 1,000 rows)")
    lines.append("longest event-loop stall (what a user's update waits): "
                 + ", ".join(f"{run.label} {run.stall:.3f} s" for run in result.runs))
    first, rest = result.run("first (all due)"), result.run("the rest")
    checks = [
        ("the sweeps queued one row per candidate", first.queued + rest.queued == mix.candidates,
         f"{first.queued + rest.queued:,} in {1 + rest.sweeps} sweeps"),
        ("none over the limit", first.queued <= result.limit and not rest.limited, f"{result.limit:,}"),
        ("outbox rows", result.outbox_rows == mix.candidates, f"{result.outbox_rows:,}"),
        ("second sweep queued nothing", result.run("again (dedupe)").queued == 0, ""),
        ("nothing-due sweep found nothing", result.run("nothing due").due == 0, ""),
        ("every sampled row composed", c.composed == c.rows, f"{c.composed:,}"),
    ]
    lines.append("checks: " + "; ".join(f"{name} {'ok' if good else 'FAILED'} {value}".rstrip()
                                        for name, good, value in checks))
    phase_names = list(dict.fromkeys(name for run in result.runs for name in run.phases))
    phase_rows = [[name, *(f"{run.phases.get(name, 0.0):.3f}" for run in result.runs)] for name in phase_names]
    lines.append("phases (seconds):")
    lines.append(format_table(["phase", *(run.label for run in result.runs)], phase_rows))
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> list[BackendResult]:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=4, help="visits in each enterprise's history")
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the cheap measures (median shown)")
    parser.add_argument("--compose-sample", type=int, default=10_000,
                        help="queued rows composed by the sender's renderer afterwards (all of them with --tiny)")
    parser.add_argument("--limit", type=int, default=sweeps.ROWS_PER_SWEEP,
                        help="rows one sweep queues at most (default: storage.sweep.ROWS_PER_SWEEP)")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY} candidates, one run each (the smoke test)")
    args = parser.parse_args(argv)
    candidates, repeat = (TINY, 1) if args.tiny else (args.candidates, args.repeat)
    sample = TINY if args.tiny else args.compose_sample
    mix = plan(candidates, args.visits)
    print("\n".join(machine_lines()))
    print(f"reminder sweep, target < {TARGET_SECONDS:.0f} s for 100,000 candidates; "
          f"at most {args.limit:,} rows a sweep")
    results = []
    for backend in args.backend:
        if backend == "postgresql" and not pg_server_available():
            print("== postgresql: skipped, no server answers at 127.0.0.1:5432")
            continue
        result = run_backend(backend, mix, repeat, sample, args.limit)
        print(report(result, mix), flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    results = run(argv)
    good = all(r.run("first (all due)").queued + r.run("the rest").queued == r.outbox_rows == sum(r.expected.values())
               and r.run("again (dedupe)").queued == 0 and r.run("nothing due").due == 0
               and r.composing.composed == r.composing.rows for r in results)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
