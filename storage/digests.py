"""The weekly digest of a supervisor's region and each officer's own summary (read-only views).

Every query is bounded by the week (or by the longest visit cadence before its end) and runs on
an indexed column — `visits.visit_date`, `feedback.created_at`, `foundings.founded_on` — so a
digest costs the same after ten years of history as after one. Coverage is decided in Python
from one grouped query over the visits of that window: a city has a few ten thousand
enterprises, and the rule (`storage.rules.overdue`) stays in one place.

A week runs Monday to Sunday in local time (`BOT_TIMEZONE`); `week_end` is its Sunday. For the
week in progress (`/digest` on a Wednesday) pass `today`: coverage and the idle officers are
then judged as of today, not as of a Sunday that has not come yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import development, rules
from storage.enums import Role, Stage
from storage.feedback import OPEN_STATUSES
from storage.models import Assignment, Enterprise, Feedback, Founding, Person, ReviewNote, User, Visit
from storage.people import pipeline
from storage.reports import sub_region_path
from storage.scope import in_scope

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


async def _visits_in(session: AsyncSession, scope: str, start: date, end: date) -> dict[str, int]:
    """Visits dated start..end (inclusive) per enterprise region."""
    stmt = (select(Enterprise.region, func.count(Visit.id))
            .join(Enterprise, Enterprise.id == Visit.enterprise_id)
            .where(Visit.visit_date >= start, Visit.visit_date <= end, in_scope(Enterprise.region, scope))
            .group_by(Enterprise.region))
    return {region: int(n) for region, n in (await session.execute(stmt)).tuples()}


async def supervisor_digest(
    session: AsyncSession, scope: str, week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> SupervisorDigest:
    week_end = week_start + timedelta(days=6)
    as_of = min(week_end, today) if today is not None else week_end
    opened, closes = _midnight(week_start, tz), _midnight(week_end + timedelta(days=1), tz)
    as_of_instant = _midnight(as_of + timedelta(days=1), tz)

    this_week = await _visits_in(session, scope, week_start, week_end)
    last_week = await _visits_in(session, scope, week_start - timedelta(days=7), week_start - timedelta(days=1))

    new_activists = await _count(session, select(func.count(Person.id))
                                 .join(Enterprise, Enterprise.id == Person.enterprise_id)
                                 .where(Person.activist_on >= week_start, Person.activist_on <= week_end,
                                        in_scope(Enterprise.region, scope)))
    new_organisations = await _count(session, select(func.count(Founding.id))
                                     .join(Enterprise, Enterprise.id == Founding.enterprise_id)
                                     .where(Founding.founded_on >= week_start, Founding.founded_on <= week_end,
                                            in_scope(Enterprise.region, scope)))
    scoped_feedback = select(func.count(Feedback.id)).join(Enterprise, Enterprise.id == Feedback.enterprise_id)
    feedback_new = await _count(session, scoped_feedback.where(
        Feedback.created_at >= opened, Feedback.created_at < closes, in_scope(Enterprise.region, scope)))
    feedback_resolved = await _count(session, scoped_feedback.where(
        Feedback.closed_at >= opened, Feedback.closed_at < closes, in_scope(Enterprise.region, scope)))
    # Overdue: still open at the end of the period and raised more than 14 days before it.
    feedback_overdue = await _count(session, scoped_feedback.where(
        Feedback.created_at < as_of_instant - timedelta(days=rules.FEEDBACK_ESCALATE_DAYS),
        or_(Feedback.status.in_(OPEN_STATUSES), Feedback.closed_at >= as_of_instant),
        or_(Feedback.closed_at.is_(None), Feedback.closed_at >= as_of_instant),
        in_scope(Enterprise.region, scope)))

    enterprises = list((await session.execute(
        select(Enterprise.id, Enterprise.region, Enterprise.visit_cadence_days, Enterprise.employees,
               Enterprise.party_members, Enterprise.party_org)
        .where(in_scope(Enterprise.region, scope)))).tuples())
    longest = max((row[2] for row in enterprises), default=0)
    last_visit = dict((await session.execute(
        select(Visit.enterprise_id, func.max(Visit.visit_date))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(Visit.visit_date >= as_of - timedelta(days=longest), Visit.visit_date <= as_of,
               in_scope(Enterprise.region, scope))
        .group_by(Visit.enterprise_id))).tuples().all())

    per_region: dict[str, list[int]] = {}  # sub-region -> [enterprises, covered]
    covered = ready = priority = 0
    for eid, region, cadence, employees, members, org in enterprises:
        visited = not rules.overdue(last_visit.get(eid), cadence, as_of)
        counts = per_region.setdefault(sub_region_path(region, scope), [0, 0])
        counts[0] += 1
        counts[1] += visited
        covered += visited
        ready += rules.ready_to_form(members, org)
        priority += rules.priority(employees, org)
    def per_sub_region(by_region: dict[str, int]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for region, n in by_region.items():
            key = sub_region_path(region, scope)
            totals[key] = totals.get(key, 0) + n
        return totals

    now_visits, then_visits = per_sub_region(this_week), per_sub_region(last_week)
    regions = [SubRegion(path, n, c, now_visits.get(path, 0), then_visits.get(path, 0))
               for path, (n, c) in sorted(per_region.items())]

    idle_since = as_of - timedelta(days=IDLE_DAYS - 1)
    recent = select(Visit.officer_id).where(Visit.visit_date >= idle_since, Visit.visit_date <= as_of)
    # Sorted here, not in SQL: collations of Chinese names differ between SQLite and PostgreSQL.
    idle = sorted((await session.execute(
        select(User.name).where(User.role == Role.OFFICER.value, User.active.is_(True), in_scope(User.region, scope),
                                or_(User.away_until.is_(None), User.away_until < as_of),
                                User.id.not_in(recent)))).scalars())

    return SupervisorDigest(
        scope=scope, week_start=week_start, week_end=week_end, as_of=as_of,
        visits=sum(this_week.values()), visits_last_week=sum(last_week.values()),
        new_activists=new_activists, new_organisations=new_organisations,
        feedback_new=feedback_new, feedback_resolved=feedback_resolved, feedback_overdue=feedback_overdue,
        enterprises=len(enterprises), covered=covered, ready_to_form=ready, priority=priority,
        regions=regions, idle_officers=idle,
    )


async def officer_summary(
    session: AsyncSession, officer_id: int, week_start: date, tz: ZoneInfo, *, today: date | None = None
) -> OfficerSummary:
    """The officer's own week; `today` (default: the Monday after the week) dates what is overdue."""
    week_end = week_start + timedelta(days=6)
    now_day = today if today is not None else week_end + timedelta(days=1)
    officer = await session.get(User, officer_id)
    name = officer.name if officer is not None else ""

    def visits(start: date, end: date) -> object:
        return select(func.count(Visit.id)).where(Visit.officer_id == officer_id, Visit.visit_date >= start,
                                                  Visit.visit_date <= end)

    this_week = await _count(session, visits(week_start, week_end))
    last_week = await _count(session, visits(week_start - timedelta(days=7), week_start - timedelta(days=1)))

    assigned = list((await session.execute(
        select(Enterprise.id, Enterprise.visit_cadence_days)
        .join(Assignment, Assignment.enterprise_id == Enterprise.id)
        .where(Assignment.officer_id == officer_id, Assignment.ended_on.is_(None)))).tuples())
    ids = [eid for eid, _ in assigned]
    last = dict((await session.execute(
        select(Visit.enterprise_id, func.max(Visit.visit_date))
        .where(Visit.enterprise_id.in_(ids), Visit.visit_date <= now_day)
        .group_by(Visit.enterprise_id))).tuples().all()) if ids else {}
    overdue_enterprises = sum(rules.overdue(last.get(eid), cadence, now_day) for eid, cadence in assigned)

    reviewed = (select(ReviewNote.person_id, func.max(ReviewNote.written_on).label("last_review"))
                .group_by(ReviewNote.person_id).subquery())
    people = (await session.execute(
        select(Person, reviewed.c.last_review)
        .outerjoin(reviewed, reviewed.c.person_id == Person.id)
        .where(Person.officer_id == officer_id,
               Person.stage.in_((Stage.APPLICANT.value, Stage.ACTIVIST.value, Stage.PROBATIONARY.value))))).tuples()
    overdue_people = sum(
        any(m.overdue for m in development.milestones(pipeline(person, last_review), now_day))
        for person, last_review in people)

    open_feedback = await _count(session, select(func.count(Feedback.id)).where(
        Feedback.status.in_(OPEN_STATUSES),
        or_(Feedback.officer_id == officer_id,
            Feedback.enterprise_id.in_(select(Assignment.enterprise_id).where(
                Assignment.officer_id == officer_id, Assignment.ended_on.is_(None))))))

    return OfficerSummary(officer_id=officer_id, name=name, week_start=week_start, week_end=week_end,
                          visits=this_week, visits_last_week=last_week, overdue_enterprises=overdue_enterprises,
                          overdue_people=overdue_people, open_feedback=open_feedback)
