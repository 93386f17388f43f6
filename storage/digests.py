"""The weekly digest of a supervisor's region and each officer's own summary (read-only views).

Every query is bounded by the week (or by the longest visit cadence before its end), by what is
still open, or by one officer's rows, and runs on an index — `visits.visit_date`,
`people.activist_on`, `feedback.created_at` and `.closed_at`, `foundings.founded_on`, an
officer's visits, assignments, people and feedback — so a digest costs the same after ten years
of history as after one (bench/digests.py measures it on a synthetic city). Coverage is decided
in Python from one grouped query over the visits of that window: a city has a few ten thousand
enterprises, and the rule (`storage.rules.overdue`) stays in one place.

`supervisor_digests` and `officer_summaries` compute many digests of one week together: each
figure is read once, grouped by region (or by officer), for all of them. The weekly job's 17
digests of a city (its supervisors and admins) then cost about what one city-wide digest costs;
`supervisor_digest` and `officer_summary` are the same for one scope or one officer.

A week runs Monday to Sunday in local time (`BOT_TIMEZONE`); `week_end` is its Sunday. For the
week in progress (`/digest` on a Wednesday) pass `today`: coverage and the idle officers are
then judged as of today, not as of a Sunday that has not come yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import development, rules
from storage.enums import FoundingAction, Role, Stage
from storage.feedback import OPEN_STATUSES
from storage.models import Assignment, Enterprise, Feedback, Founding, Person, ReviewNote, User, Visit
from storage.people import pipeline
from storage.reports import sub_region_path
from storage.scope import covers, in_scope

LAGGING_COVERAGE = 0.6  # a sub-region below 60 % coverage is flagged
IDLE_DAYS = 14  # an officer without a visit for this long is listed


@dataclass(frozen=True)
class SubRegion:
    region: str
    enterprises: int
    covered: int
    visits: int
    last_week: int = 0  # visits the week before

    @property
    def coverage(self) -> float:
        return self.covered / self.enterprises if self.enterprises else 0.0

    @property
    def lagging(self) -> bool:
        return self.coverage < LAGGING_COVERAGE

    @property
    def name(self) -> str:
        return self.region.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SupervisorDigest:
    scope: str
    week_start: date
    week_end: date
    as_of: date
    visits: int
    visits_last_week: int
    new_activists: int
    new_organisations: int
    feedback_new: int
    feedback_resolved: int
    feedback_overdue: int
    enterprises: int
    covered: int
    ready_to_form: int
    priority: int
    regions: list[SubRegion] = field(default_factory=list)
    idle_officers: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.covered / self.enterprises if self.enterprises else 0.0

    @property
    def visits_change(self) -> int:
        return self.visits - self.visits_last_week

    @property
    def visits_change_pct(self) -> int | None:
        """Week-over-week change in whole percent; None when last week had no visits."""
        if not self.visits_last_week:
            return None
        return round(self.visits_change * 100 / self.visits_last_week)

    @property
    def lagging(self) -> list[SubRegion]:
        return [r for r in self.regions if r.lagging]

    @property
    def week(self) -> int:
        return self.week_start.isocalendar()[1]


@dataclass(frozen=True)
class OfficerSummary:
    officer_id: int
    name: str
    week_start: date
    week_end: date
    visits: int
    visits_last_week: int
    overdue_enterprises: int
    overdue_people: int
    open_feedback: int

    @property
    def visits_change(self) -> int:
        return self.visits - self.visits_last_week

    @property
    def week(self) -> int:
        return self.week_start.isocalendar()[1]


def week_of(day: date) -> date:
    """The Monday of the week `day` lies in."""
    return day - timedelta(days=day.weekday())


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


async def _count(session: AsyncSession, statement: object) -> int:
    return int((await session.execute(statement)).scalar_one() or 0)  # type: ignore[call-overload]


def _outermost(scopes: Iterable[str]) -> list[str]:
    """The scopes no other one covers: what the queries of a batch must read."""
    unique = sorted(set(scopes), key=len)
    kept: list[str] = []
    for scope in unique:
        if not any(covers(outer, scope) for outer in kept):
            kept.append(scope)
    return kept


@dataclass
class _Region:
    """The week's figures of one region path (a township, or wherever enterprises are registered)."""

    enterprises: int = 0
    covered: int = 0
    ready: int = 0
    priority: int = 0
    visits: int = 0
    last_week: int = 0
    new_activists: int = 0
    new_organisations: int = 0
    feedback_new: int = 0
    feedback_resolved: int = 0
    feedback_overdue: int = 0


async def _per_region(session: AsyncSession, statement: Any) -> list[tuple[str, int]]:
    return [(region, int(n)) for region, n in (await session.execute(statement)).tuples()]


async def supervisor_digest(
    session: AsyncSession, scope: str, week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> SupervisorDigest:
    return (await supervisor_digests(session, [scope], week_start, tz, today=today))[scope]


async def supervisor_digests(
    session: AsyncSession, scopes: Iterable[str], week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> dict[str, SupervisorDigest]:
    """The digests of several scopes for one week, from one pass over what they cover.

    Every figure is read once, grouped by region path, for all the scopes together (the weekly
    job's supervisors and admins: the city several times, each county once); each scope's digest
    then adds up the regions it covers. So the city's 17 digests cost about what one costs.
    """
    wanted = list(dict.fromkeys(scopes))
    week_end = week_start + timedelta(days=6)
    as_of = min(week_end, today) if today is not None else week_end
    opened, closes = _midnight(week_start, tz), _midnight(week_end + timedelta(days=1), tz)
    as_of_instant = _midnight(as_of + timedelta(days=1), tz)
    outer = _outermost(wanted)

    def scoped(column: Any) -> ColumnElement[bool]:
        return or_(*(in_scope(column, scope) for scope in outer))

    regions: dict[str, _Region] = defaultdict(_Region)

    enterprises = list((await session.execute(
        select(Enterprise.id, Enterprise.region, Enterprise.visit_cadence_days, Enterprise.employees,
               Enterprise.party_members, Enterprise.members_here, Enterprise.party_org_id)
        .where(scoped(Enterprise.region)))).tuples())
    longest = max((row[2] for row in enterprises), default=0)
    # The last visit within the longest cadence: what decides coverage (visits of these few weeks
    # lie together on disk and in ix_visits_date, whatever the length of the history).
    last_visit = dict((await session.execute(
        select(Visit.enterprise_id, func.max(Visit.visit_date))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(Visit.visit_date >= as_of - timedelta(days=longest), Visit.visit_date <= as_of,
               scoped(Enterprise.region))
        .group_by(Visit.enterprise_id))).tuples().all())
    for eid, region, cadence, employees, members, here, org in enterprises:
        figures = regions[region]
        figures.enterprises += 1
        figures.covered += not rules.overdue(last_visit.get(eid), cadence, as_of)
        figures.ready += rules.ready_to_form(rules.founding_members(members, here), org is not None)
        figures.priority += rules.priority(employees, org is not None)

    def visits(start: date, end: date) -> Any:
        return (select(Enterprise.region, func.count(Visit.id))
                .join(Enterprise, Enterprise.id == Visit.enterprise_id)
                .where(Visit.visit_date >= start, Visit.visit_date <= end, scoped(Enterprise.region))
                .group_by(Enterprise.region))

    def counted(model: Any, *where: ColumnElement[bool]) -> Any:
        return (select(Enterprise.region, func.count(model.id))
                .join(Enterprise, Enterprise.id == model.enterprise_id)
                .where(*where, scoped(Enterprise.region))
                .group_by(Enterprise.region))

    # Overdue feedback: still open at the end of the period and raised more than 14 days before
    # it — open now, or closed only after the period. Two counts that cannot overlap (closed_at
    # empty in one, set in the other), each on an index: the open items (ix_feedback_status), the
    # items closed since (ix_feedback_closed_at); not every item ever raised before the cut-off.
    raised_before = Feedback.created_at < as_of_instant - timedelta(days=rules.FEEDBACK_ESCALATE_DAYS)
    queries: tuple[tuple[str, Any], ...] = (
        ("visits", visits(week_start, week_end)),
        ("last_week", visits(week_start - timedelta(days=7), week_start - timedelta(days=1))),
        ("new_activists", counted(Person, Person.activist_on >= week_start, Person.activist_on <= week_end)),
        ("new_organisations", counted(Founding, Founding.action == FoundingAction.FOUND,
                                                Founding.founded_on >= week_start, Founding.founded_on <= week_end)),
        ("feedback_new", counted(Feedback, Feedback.created_at >= opened, Feedback.created_at < closes)),
        ("feedback_resolved", counted(Feedback, Feedback.closed_at >= opened, Feedback.closed_at < closes)),
        ("feedback_overdue", counted(Feedback, Feedback.status.in_(OPEN_STATUSES), Feedback.closed_at.is_(None),
                                     raised_before)),
        ("feedback_overdue", counted(Feedback, Feedback.closed_at >= as_of_instant, raised_before)),
    )
    for name, statement in queries:
        for region, n in await _per_region(session, statement):
            figures = regions[region]
            setattr(figures, name, getattr(figures, name) + n)

    idle_since = as_of - timedelta(days=IDLE_DAYS - 1)
    recent = select(Visit.officer_id).where(Visit.visit_date >= idle_since, Visit.visit_date <= as_of)
    idle_officers = list((await session.execute(
        select(User.name, User.region).where(
            User.role == Role.OFFICER.value, User.active.is_(True), scoped(User.region),
            or_(User.away_until.is_(None), User.away_until < as_of), User.id.not_in(recent)))).tuples())

    digests = {}
    for scope in wanted:
        mine = {region: figures for region, figures in regions.items() if covers(scope, region)}
        per_sub: dict[str, list[int]] = {}  # sub-region -> [enterprises, covered, visits, last week]
        for region, figures in mine.items():
            sub = per_sub.setdefault(sub_region_path(region, scope), [0, 0, 0, 0])
            sub[0] += figures.enterprises
            sub[1] += figures.covered
            sub[2] += figures.visits
            sub[3] += figures.last_week

        def total(name: str, mine: dict[str, _Region] = mine) -> int:
            return sum(getattr(figures, name) for figures in mine.values())

        digests[scope] = SupervisorDigest(
            scope=scope, week_start=week_start, week_end=week_end, as_of=as_of,
            visits=total("visits"), visits_last_week=total("last_week"),
            new_activists=total("new_activists"), new_organisations=total("new_organisations"),
            feedback_new=total("feedback_new"), feedback_resolved=total("feedback_resolved"),
            feedback_overdue=total("feedback_overdue"),
            enterprises=total("enterprises"), covered=total("covered"), ready_to_form=total("ready"),
            priority=total("priority"),
            # Sub-regions with enterprises, as the ledger lists them.
            regions=[SubRegion(path, n, c, v, w) for path, (n, c, v, w) in sorted(per_sub.items()) if n],
            # Sorted here, not in SQL: collations of Chinese names differ between SQLite and PostgreSQL.
            idle_officers=sorted(name for name, region in idle_officers if covers(scope, region)),
        )
    return digests


async def officer_summary(
    session: AsyncSession, officer_id: int, week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> OfficerSummary:
    """The officer's own week; `today` (default: the Monday after the week) dates what is overdue."""
    return (await officer_summaries(session, [officer_id], week_start, tz, today=today))[officer_id]


async def officer_summaries(
    session: AsyncSession, officer_ids: Iterable[int], week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> dict[int, OfficerSummary]:
    """The summaries of several officers for one week, each figure read once for all of them."""
    ids = list(dict.fromkeys(officer_ids))
    week_end = week_start + timedelta(days=6)
    now_day = today if today is not None else week_end + timedelta(days=1)
    names = dict((await session.execute(select(User.id, User.name).where(User.id.in_(ids)))).tuples().all())

    this_week: dict[int, int] = defaultdict(int)
    last_week: dict[int, int] = defaultdict(int)
    for officer_id, day, n in (await session.execute(
            select(Visit.officer_id, Visit.visit_date, func.count(Visit.id))
            .where(Visit.officer_id.in_(ids), Visit.visit_date >= week_start - timedelta(days=7),
                   Visit.visit_date <= week_end)
            .group_by(Visit.officer_id, Visit.visit_date))).tuples():
        (this_week if day >= week_start else last_week)[officer_id] += int(n)

    open_assignment = (Assignment.officer_id.in_(ids), Assignment.ended_on.is_(None))
    assigned = list((await session.execute(
        select(Assignment.officer_id, Enterprise.id, Enterprise.visit_cadence_days)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id).where(*open_assignment))).tuples())
    # Only visits within the longest cadence can keep an enterprise from being overdue, so the
    # last visit is looked for there (a range of ix_visits_enterprise_date per enterprise), not
    # in the enterprise's whole history.
    longest = max((cadence for _, _, cadence in assigned), default=0)
    last = dict((await session.execute(
        select(Visit.enterprise_id, func.max(Visit.visit_date))
        .join(Assignment, Assignment.enterprise_id == Visit.enterprise_id)
        .where(*open_assignment, Visit.visit_date >= now_day - timedelta(days=longest), Visit.visit_date <= now_day)
        .group_by(Visit.enterprise_id))).tuples().all()) if assigned else {}
    overdue_enterprises: dict[int, int] = defaultdict(int)
    for officer_id, eid, cadence in assigned:
        overdue_enterprises[officer_id] += rules.overdue(last.get(eid), cadence, now_day)

    # The last review of each person, looked up per person (an index search), not grouped over
    # every review note of the city.
    last_review = (select(func.max(ReviewNote.written_on)).where(ReviewNote.person_id == Person.id)
                   .correlate(Person).scalar_subquery())
    overdue_people: dict[int, int] = defaultdict(int)
    for person, reviewed_on in (await session.execute(
            select(Person, last_review)
            .where(Person.officer_id.in_(ids),
                   Person.stage.in_((Stage.APPLICANT.value, Stage.ACTIVIST.value, Stage.PROBATIONARY.value))))).tuples():
        overdue_people[person.officer_id] += any(
            m.overdue for m in development.milestones(pipeline(person, reviewed_on), now_day))

    # Open items each officer recorded or of the enterprises they look after now: two index
    # searches (ix_feedback_officer_status, and ix_feedback_enterprise_status from the
    # assignments), where one query with OR reads every open item of the city; an item in both
    # counts once.
    open_items: dict[int, set[int]] = defaultdict(set)
    recorded = select(Feedback.officer_id, Feedback.id).where(Feedback.officer_id.in_(ids),
                                                              Feedback.status.in_(OPEN_STATUSES))
    looked_after = (select(Assignment.officer_id, Feedback.id)
                    .join(Feedback, Feedback.enterprise_id == Assignment.enterprise_id)
                    .where(*open_assignment, Feedback.status.in_(OPEN_STATUSES)))
    for statement in (recorded, looked_after):
        for officer_id, feedback_id in (await session.execute(statement)).tuples():
            if officer_id is not None:
                open_items[officer_id].add(feedback_id)

    return {
        officer_id: OfficerSummary(
            officer_id=officer_id, name=names.get(officer_id, ""), week_start=week_start, week_end=week_end,
            visits=this_week[officer_id], visits_last_week=last_week[officer_id],
            overdue_enterprises=overdue_enterprises[officer_id], overdue_people=overdue_people[officer_id],
            open_feedback=len(open_items[officer_id]))
        for officer_id in ids
    }
