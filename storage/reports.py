"""The quarterly report 季报 and the year-end figures 年终统计, computed from what is stored.

Read-only query functions returning plain dataclasses, like cosmicpython's `views.py`: nothing
here writes, commits or logs a name. Every function takes `session, scope, start, end`, with
`end` exclusive, and counts only records whose enterprise lies in `scope` (an empty scope is
the whole database, as for the operator's export).

Which query answers which figure of the practice's year-end statistics (the Yichang practice
reports "officers dispatched 1,697 person-times, 997 activists cultivated, 150+ organisations
guided"):

- 选派联系员（人次） officers dispatched, in person-times: `officers_dispatched(...).person_times`
  — every officer-enterprise assignment active at any time in the period, once per assignment;
  `.officers` is the number of distinct officers behind them (人数).
- 培养入党积极分子 activists cultivated: `activists_cultivated(...).activists` — people whose
  `activist_on` falls in the period (withdrawn later or not; `.owners` of them are owners).
- 指导新建党组织 organisations guided: `organisations_guided(...).total` — foundings with
  `founded_on` in the period, `.by_officer` per guiding officer.
- 业主递交入党申请 owners who applied: `owners_applied(...).owners` — people with `is_owner` and
  `applied_on` in the period (`.applicants` counts every applicant, owners included).
- 走访企业（次） visits made: `visits_made(...)` — visit reports dated in the period.
- 办结业主诉求 owner feedback resolved: `feedback_resolved(...)` — status resolved, `closed_at`
  (UTC) within the period's local days.
- All of them for a calendar year: `year_end(session, scope, year, tz)`.
- 季报 new party organisations by region: `foundings_by_region(session, scope, start, end)`, one
  row per region one level below the scope, zeros included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, distinct, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from storage.enums import FeedbackStatus, FoundingAction
from storage.models import Assignment, Enterprise, Feedback, Founding, Person, User, Visit
from storage.scope import SEPARATOR, in_scope, normalize_region


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
    """年终统计 of one calendar year in one scope."""

    year: int
    scope: str
    dispatched: Dispatched
    activists: Cultivated
    guided: Guided
    applied: Applied
    visits: Visits
    resolved: Resolved


class RegionCount(NamedTuple):
    """One row of the 季报: a region one level below the scope (its full path) and the
    organisations founded there.

    Enterprises registered at the scope's own level form a row of their own, named by the
    scope itself."""

    region: str
    founded: int


def _scope_filter(column: Any, scope: str) -> ColumnElement[bool]:
    # An empty scope is the whole database (the operator's reports without --region).
    scope = normalize_region(scope)
    return in_scope(column, scope) if scope else true()


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
            _scope_filter(Enterprise.region, scope),
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
        .where(_scope_filter(Enterprise.region, scope), Person.activist_on >= start, Person.activist_on < end)
    )
    activists, owners = (await session.execute(stmt)).one()
    return Cultivated(activists=activists, owners=owners)


async def organisations_guided(session: AsyncSession, scope: str, start: date, end: date) -> Guided:
    """指导新建党组织: foundings with `founded_on` in the period, per guiding officer (most first)."""
    stmt = (
        select(Founding.officer_id, User.name, func.count(Founding.id))
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .join(User, User.id == Founding.officer_id)
        .where(_scope_filter(Enterprise.region, scope), Founding.action == FoundingAction.FOUND,
               Founding.founded_on >= start, Founding.founded_on < end)
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
        .where(_scope_filter(Enterprise.region, scope), Person.applied_on >= start, Person.applied_on < end)
    )
    owners, applicants = (await session.execute(stmt)).one()
    return Applied(owners=owners, applicants=applicants)


async def visits_made(session: AsyncSession, scope: str, start: date, end: date) -> Visits:
    """走访企业（次）: visit reports whose `visit_date` (a local date) lies in the period."""
    stmt = (
        select(func.count(Visit.id), func.count(distinct(Visit.enterprise_id)), func.count(distinct(Visit.officer_id)))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(_scope_filter(Enterprise.region, scope), Visit.visit_date >= start, Visit.visit_date < end)
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
            _scope_filter(Enterprise.region, scope),
            Feedback.status == FeedbackStatus.RESOLVED.value,
            Feedback.closed_at >= _local_midnight(start, tz),
            Feedback.closed_at < _local_midnight(end, tz),
        )
    )
    resolved, rated, average = (await session.execute(stmt)).one()
    return Resolved(resolved=resolved, rated=rated, average_rating=float(average) if average is not None else None)


async def year_end(session: AsyncSession, scope: str, year: int, tz: ZoneInfo) -> YearEnd:
    """年终统计 of the calendar `year` (1 January to 31 December, local dates): every figure above."""
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return YearEnd(
        year=year,
        scope=normalize_region(scope),
        dispatched=await officers_dispatched(session, scope, start, end),
        activists=await activists_cultivated(session, scope, start, end),
        guided=await organisations_guided(session, scope, start, end),
        applied=await owners_applied(session, scope, start, end),
        visits=await visits_made(session, scope, start, end),
        resolved=await feedback_resolved(session, scope, start, end, tz),
    )


def sub_region_path(region: str, scope: str) -> str:
    """The path one level below `scope` that `region` lies in: 宜昌市/枝江市 for
    宜昌市/枝江市/马家店街道 in 宜昌市; the scope itself for a region at the scope's own level."""
    if scope and region == scope:
        return scope
    rest = region[len(scope) + 1 :] if scope else region
    head = rest.split(SEPARATOR, 1)[0]
    return f"{scope}{SEPARATOR}{head}" if scope else head


async def foundings_by_region(session: AsyncSession, scope: str, start: date, end: date) -> list[RegionCount]:
    """季报 新建党组织: foundings dated in the period per region one level below the scope.

    Every sub-region with at least one enterprise gets a row, with 0 when nothing was founded
    there: a region that founded nothing is exactly what the report must show. Two grouped
    queries (the distinct regions of enterprises, the foundings per region) whatever the size."""
    scope = normalize_region(scope)
    regions = await session.scalars(select(distinct(Enterprise.region)).where(_scope_filter(Enterprise.region, scope)))
    counts: Counter[str] = Counter({sub_region_path(region, scope): 0 for region in regions})
    founded = (
        select(Enterprise.region, func.count(Founding.id))
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .where(_scope_filter(Enterprise.region, scope), Founding.action == FoundingAction.FOUND,
               Founding.founded_on >= start, Founding.founded_on < end)
        .group_by(Enterprise.region)
    )
    for region, count in (await session.execute(founded)).tuples():
        counts[sub_region_path(region, scope)] += count
    # Sorted here rather than in SQL: PostgreSQL and SQLite collate Chinese differently.
    return [RegionCount(region, counts[region]) for region in sorted(counts)]
