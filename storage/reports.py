"""The quarterly report 季报 and the year-end figures 年终统计, computed from what is stored.

Read-only query functions returning plain dataclasses, like cosmicpython's `views.py`: nothing
here writes, commits or logs a name. Every function takes `session, scope, start, end`, with
`end` exclusive, and counts only records whose enterprise lies in `scope` (an empty scope is
the whole database, as for the operator's export).

The official figures (两个覆盖, organisations, 选派党建工作指导员) are defined and computed in
`storage.coverage`; this module bundles them with the practice's lines into the two reports.

Which query answers which line of the 年终统计 (`year_end`, of a calendar year, the state on
31 December):

- the official lines, on 31 December: `.coverage` (per region; `.total_coverage` the scope) —
  非公有制企业（法人单位）数, 党组织覆盖率, 单独组建率, 应建已建率, 党的工作覆盖率, 规上覆盖率, 个体工商户
  and 合作社 apart, 党员数 (组织关系在/不在本企业); `.organisations` (per region) — 党组织数 by
  category × way of forming, 上级选派书记; `.founded` — organisations founded in the year.
- 选派党建工作指导员（联系员） officers sent: `.officers` (`coverage.officers_sent`) — 人数 (distinct
  officers with an assignment meeting the year) and 人次 counted as person-years up to the
  year's end. `officers_dispatched(...)` still gives the officer-enterprise assignments (户次).
- 培养入党积极分子 activists cultivated: `activists_cultivated(...).activists` — people whose
  `activist_on` falls in the period (withdrawn later or not; `.owners` of them are owners).
- 指导新建党组织 organisations guided: `organisations_guided(...).total` — the officers' founding
  records (action `found`, not a change of an existing one) dated in the period, `.by_officer`
  per guiding officer.
- 业主递交入党申请 owners who applied: `owners_applied(...).owners` — people with `is_owner` and
  `applied_on` in the period (`.applicants` counts every applicant, owners included).
- 业主提出建立党组织 owners who asked for an organisation: `owners_asked(...)` — 业主诉求 of the
  category 党建工作 registered in the period, and the enterprises they came from. Every 业主诉求 is
  the owner's (raised through the officer or the owner's own link); 党建工作 is the category in
  which an owner asks for party work in the firm, an organisation first of all.
- 示范点 demonstration points and 先建群团 mass organisations first: `.total_coverage`
  `.demonstration_points` (operating market entities marked 示范点) and `.mass_first` (enterprises
  of the denominator with no organisation of any kind that have a 工会 or 共青团, the practice's
  response where there are no members).
- 走访企业（次） visits made: `visits_made(...)` — visit reports dated in the period.
- 办结业主诉求 owner feedback resolved: `feedback_resolved(...)` — status resolved, `closed_at`
  (UTC) within the period's local days.

The 季报 (`quarterly`, of one quarter): organisations founded in the quarter per region ×
category × way of forming; the running totals (organisations existing at the quarter's end,
and founded since 1 January); 党组织覆盖率 at the quarter's start (the state at the end of the
day before it) and at its end. `foundings_by_region` counts the officers' founding records per
region instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import coverage
from storage.coverage import Coverage, Officers, OrgCounts
from storage.enums import FeedbackCategory, FeedbackStatus, FoundingAction
from storage.models import Assignment, Enterprise, Feedback, Founding, Person, User, Visit
from storage.scope import normalize_region, scope_filter, sub_region_path


@dataclass(frozen=True)
class Dispatched:
    """选派联系员: assignments active in the period (人次) and the officers behind them (人数)."""

    person_times: int
    officers: int


@dataclass(frozen=True)
class Cultivated:
    """培养入党积极分子: people who became activists in the period; `owners` of them are owners."""

    activists: int
    owners: int


@dataclass(frozen=True)
class OfficerCount:
    officer_id: int
    name: str
    count: int


@dataclass(frozen=True)
class Guided:
    """指导新建党组织: foundings dated in the period, in total and per guiding officer."""

    total: int
    by_officer: tuple[OfficerCount, ...]


@dataclass(frozen=True)
class Applied:
    """入党申请: owners who applied in the period, and every applicant for comparison."""

    owners: int
    applicants: int


@dataclass(frozen=True)
class Asked:
    """业主提出建立党组织: 业主诉求 about party work (党建工作) registered in the period, and the
    enterprises they came from."""

    requests: int
    enterprises: int


@dataclass(frozen=True)
class Visits:
    """走访: visit reports dated in the period, the enterprises and officers they cover."""

    visits: int
    enterprises: int
    officers: int


@dataclass(frozen=True)
class Resolved:
    """办结业主诉求: feedback resolved in the period, and the owners' ratings of those items."""

    resolved: int
    rated: int
    average_rating: float | None


@dataclass(frozen=True)
class YearEnd:
    """年终统计 of one calendar year in one scope: the official lines on 31 December (per region
    one level below the scope) and the practice's lines of the year."""

    year: int
    scope: str
    dispatched: Dispatched
    activists: Cultivated
    guided: Guided
    applied: Applied
    visits: Visits
    resolved: Resolved
    officers: Officers
    asked: Asked
    coverage: tuple[Coverage, ...]
    organisations: tuple[OrgCounts, ...]
    founded: tuple[OrgCounts, ...]

    @property
    def total_coverage(self) -> Coverage:
        return coverage.total(self.coverage, self.scope)

    @property
    def total_organisations(self) -> OrgCounts:
        return coverage.org_total(self.organisations, self.scope)

    @property
    def total_founded(self) -> OrgCounts:
        return coverage.org_total(self.founded, self.scope)


@dataclass(frozen=True)
class Quarter:
    """季报 of one quarter in one scope, per region one level below it."""

    year: int
    quarter: int
    scope: str
    start: date
    end: date  # exclusive
    founded: tuple[OrgCounts, ...]  # founded in the quarter
    founded_this_year: tuple[OrgCounts, ...]  # founded from 1 January to the quarter's end
    existing: tuple[OrgCounts, ...]  # existing at the quarter's end
    coverage_before: tuple[Coverage, ...]  # at the end of the day before the quarter
    coverage_after: tuple[Coverage, ...]  # at the end of its last day

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def name(self) -> str:
        return f"{self.year}-Q{self.quarter}"

    def total(self, rows: tuple[OrgCounts, ...]) -> OrgCounts:
        return coverage.org_total(rows, self.scope)

    @property
    def before(self) -> Coverage:
        return coverage.total(self.coverage_before, self.scope)

    @property
    def after(self) -> Coverage:
        return coverage.total(self.coverage_after, self.scope)


class RegionCount(NamedTuple):
    """One row of the 季报: a region one level below the scope (its full path) and the
    organisations founded there.

    Enterprises registered at the scope's own level form a row of their own, named by the
    scope itself."""

    region: str
    founded: int


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC-comparable instant a local calendar day starts (Asia/Shanghai has no DST,
    but `ZoneInfo` handles zones that do)."""
    return datetime.combine(day, time(), tzinfo=tz)


async def officers_dispatched(session: AsyncSession, scope: str, start: date, end: date) -> Dispatched:
    """选派联系员（人次）: assignments whose span meets the period — started before `end`, and not
    ended or ended on or after `start` — counted once per assignment (an officer who looks after
    three enterprises is three person-times); `officers` counts the distinct officers."""
    stmt = (
        select(func.count(Assignment.id), func.count(distinct(Assignment.officer_id)))
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(
            scope_filter(Enterprise.region, scope),
            Assignment.started_on < end,
            or_(Assignment.ended_on.is_(None), Assignment.ended_on >= start),
        )
    )
    person_times, officers = (await session.execute(stmt)).one()
    return Dispatched(person_times=person_times, officers=officers)


async def activists_cultivated(session: AsyncSession, scope: str, start: date, end: date) -> Cultivated:
    """培养入党积极分子: people whose `activist_on` lies in the period, whatever their stage now
    (a person who became an activist and later withdrew was still cultivated that year)."""
    stmt = (
        select(func.count(Person.id), func.count(Person.id).filter(Person.is_owner.is_(True)))
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .where(scope_filter(Enterprise.region, scope), Person.activist_on >= start, Person.activist_on < end)
    )
    activists, owners = (await session.execute(stmt)).one()
    return Cultivated(activists=activists, owners=owners)


async def organisations_guided(session: AsyncSession, scope: str, start: date, end: date) -> Guided:
    """指导新建党组织: the officers' records of organisations founded (not changed) with
    `founded_on` in the period, per guiding officer (most first)."""
    stmt = (
        select(Founding.officer_id, User.name, func.count(Founding.id))
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .join(User, User.id == Founding.officer_id)
        .where(scope_filter(Enterprise.region, scope), Founding.founded_on >= start, Founding.founded_on < end,
               Founding.action == FoundingAction.FOUND.value)
        .group_by(Founding.officer_id, User.name)
    )
    rows = [OfficerCount(officer_id, name, count) for officer_id, name, count in (await session.execute(stmt)).tuples()]
    # Ordered here: PostgreSQL and SQLite collate Chinese names differently.
    rows.sort(key=lambda row: (-row.count, row.name, row.officer_id))
    return Guided(total=sum(row.count for row in rows), by_officer=tuple(rows))


async def owners_applied(session: AsyncSession, scope: str, start: date, end: date) -> Applied:
    """业主递交入党申请: people with `is_owner` whose `applied_on` lies in the period."""
    stmt = (
        select(func.count(Person.id).filter(Person.is_owner.is_(True)), func.count(Person.id))
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .where(scope_filter(Enterprise.region, scope), Person.applied_on >= start, Person.applied_on < end)
    )
    owners, applicants = (await session.execute(stmt)).one()
    return Applied(owners=owners, applicants=applicants)


async def owners_asked(session: AsyncSession, scope: str, start: date, end: date, tz: ZoneInfo) -> Asked:
    """业主提出建立党组织: 业主诉求 of the category 党建工作 registered (`created_at`, UTC) on a
    local day of the period, and the distinct enterprises they came from."""
    stmt = (
        select(func.count(Feedback.id), func.count(distinct(Feedback.enterprise_id)))
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .where(
            scope_filter(Enterprise.region, scope),
            Feedback.category == FeedbackCategory.PARTY.value,
            Feedback.created_at >= _local_midnight(start, tz),
            Feedback.created_at < _local_midnight(end, tz),
        )
    )
    requests, enterprises = (await session.execute(stmt)).one()
    return Asked(requests=requests, enterprises=enterprises)


async def visits_made(session: AsyncSession, scope: str, start: date, end: date) -> Visits:
    """走访企业（次）: visit reports whose `visit_date` (a local date) lies in the period."""
    stmt = (
        select(func.count(Visit.id), func.count(distinct(Visit.enterprise_id)), func.count(distinct(Visit.officer_id)))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(scope_filter(Enterprise.region, scope), Visit.visit_date >= start, Visit.visit_date < end)
    )
    visits, enterprises, officers = (await session.execute(stmt)).one()
    return Visits(visits=visits, enterprises=enterprises, officers=officers)


async def feedback_resolved(
    session: AsyncSession, scope: str, start: date, end: date, tz: ZoneInfo
) -> Resolved:
    """办结业主诉求: items with status resolved whose `closed_at` falls on a local day of the
    period. `closed_at` is UTC, the period is local dates in `tz`: an item resolved at 00:30 on
    1 January in Yichang is 16:30 UTC on 31 December, and counts for the new year. Closed
    (dropped) items are not resolved and are not counted."""
    stmt = (
        select(func.count(Feedback.id), func.count(Feedback.rating), func.avg(Feedback.rating))
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .where(
            scope_filter(Enterprise.region, scope),
            Feedback.status == FeedbackStatus.RESOLVED.value,
            Feedback.closed_at >= _local_midnight(start, tz),
            Feedback.closed_at < _local_midnight(end, tz),
        )
    )
    resolved, rated, average = (await session.execute(stmt)).one()
    return Resolved(resolved=resolved, rated=rated, average_rating=float(average) if average is not None else None)


async def year_end(session: AsyncSession, scope: str, year: int, tz: ZoneInfo) -> YearEnd:
    """年终统计 of the calendar `year` (1 January to 31 December, local dates): every figure above,
    the official ones as they stood on 31 December."""
    scope = normalize_region(scope)
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    last = end - timedelta(days=1)
    regions = await coverage.coverage_by_region(session, scope, last)
    names = [row.region for row in regions]
    return YearEnd(
        year=year,
        scope=scope,
        dispatched=await officers_dispatched(session, scope, start, end),
        activists=await activists_cultivated(session, scope, start, end),
        guided=await organisations_guided(session, scope, start, end),
        applied=await owners_applied(session, scope, start, end),
        visits=await visits_made(session, scope, start, end),
        resolved=await feedback_resolved(session, scope, start, end, tz),
        officers=await coverage.officers_sent(session, scope, start, end),
        asked=await owners_asked(session, scope, start, end, tz),
        coverage=tuple(regions),
        organisations=tuple(await coverage.organisations_by_region(session, scope, last, names)),
        founded=tuple(await coverage.new_organisations_by_region(session, scope, start, end, names)),
    )


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """The first day of the quarter and the first day after it."""
    if not 1 <= quarter <= 4:
        raise ValueError(f"no quarter {quarter}")
    start = date(year, 3 * quarter - 2, 1)
    return start, (date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1))


async def quarterly(session: AsyncSession, scope: str, year: int, quarter: int) -> Quarter:
    """季报 of `quarter` (1–4) of `year`: see the module's docstring."""
    scope = normalize_region(scope)
    start, end = quarter_bounds(year, quarter)
    before = await coverage.coverage_by_region(session, scope, start - timedelta(days=1))
    after = await coverage.coverage_by_region(session, scope, end - timedelta(days=1))
    names = sorted({row.region for row in (*before, *after)})
    return Quarter(
        year=year, quarter=quarter, scope=scope, start=start, end=end,
        founded=tuple(await coverage.new_organisations_by_region(session, scope, start, end, names)),
        founded_this_year=tuple(await coverage.new_organisations_by_region(session, scope, date(year, 1, 1), end,
                                                                           names)),
        existing=tuple(await coverage.organisations_by_region(session, scope, end - timedelta(days=1), names)),
        coverage_before=tuple(_padded(before, names)), coverage_after=tuple(_padded(after, names)),
    )


def _padded(rows: list[Coverage], regions: list[str]) -> list[Coverage]:
    """`rows` with an empty row for each of `regions` it lacks, in the order of `regions`."""
    by_region = {row.region: row for row in rows}
    return [by_region.get(region, Coverage(region)) for region in regions]


async def foundings_by_region(session: AsyncSession, scope: str, start: date, end: date) -> list[RegionCount]:
    """季报 新建党组织: foundings dated in the period per region one level below the scope.

    Every sub-region with at least one enterprise gets a row, with 0 when nothing was founded
    there: a region that founded nothing is exactly what the report must show. Two grouped
    queries (the distinct regions of enterprises, the foundings per region) whatever the size."""
    scope = normalize_region(scope)
    regions = await session.scalars(select(distinct(Enterprise.region)).where(scope_filter(Enterprise.region, scope)))
    counts: Counter[str] = Counter({sub_region_path(region, scope): 0 for region in regions})
    founded = (
        select(Enterprise.region, func.count(Founding.id))
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .where(scope_filter(Enterprise.region, scope), Founding.action == FoundingAction.FOUND.value,
               Founding.founded_on >= start, Founding.founded_on < end)
        .group_by(Enterprise.region)
    )
    for region, count in (await session.execute(founded)).tuples():
        counts[sub_region_path(region, scope)] += count
    # Sorted here rather than in SQL: PostgreSQL and SQLite collate Chinese differently.
    return [RegionCount(region, counts[region]) for region in sorted(counts)]
