"""Enterprise queries: an officer's own enterprises, search within a scope, visit recency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import rules
from storage.models import Assignment, Enterprise, Feedback, PartyOrganisation, Person, User, Visit
from storage.pinyin import normalize_query
from storage.scope import in_scope


@dataclass(frozen=True)
class EnterpriseRow:
    """An enterprise with its visit recency, as lists and buttons show it."""

    id: int
    name: str
    region: str
    cadence_days: int
    last_visit: date | None
    days_since: int | None
    overdue: bool


def _last_visit_subquery() -> Select[tuple[int, date]]:
    return select(Visit.enterprise_id, func.max(Visit.visit_date).label("last_visit")).group_by(Visit.enterprise_id)


def _rows(result: list[tuple[Enterprise, date | None]], today: date) -> list[EnterpriseRow]:
    return [
        EnterpriseRow(
            id=enterprise.id,
            name=enterprise.name,
            region=enterprise.region,
            cadence_days=enterprise.visit_cadence_days,
            last_visit=last,
            days_since=rules.days_since(last, today),
            overdue=rules.overdue(last, enterprise.visit_cadence_days, today),
        )
        for enterprise, last in result
    ]


def overdue_first(rows: list[EnterpriseRow]) -> list[EnterpriseRow]:
    """Overdue first (never visited, then the longest ago), then the rest by name."""
    return sorted(
        rows,
        key=lambda r: (not r.overdue, -(r.days_since if r.days_since is not None else 10**6), r.name),
    )


async def assigned_to(session: AsyncSession, officer_id: int, today: date,
                      scope: str | None = None) -> list[EnterpriseRow]:
    """The officer's current enterprises, overdue first; with `scope` (the officer's region, for
    anything shown to them) only those in it: an enterprise moved to another region by an import
    that named no officers keeps its open assignment, but has left the officer's reach."""
    last = _last_visit_subquery().subquery()
    stmt = (
        select(Enterprise, last.c.last_visit)
        .join(Assignment, Assignment.enterprise_id == Enterprise.id)
        .outerjoin(last, last.c.enterprise_id == Enterprise.id)
        .where(Assignment.officer_id == officer_id, Assignment.ended_on.is_(None))
    )
    if scope is not None:
        stmt = stmt.where(in_scope(Enterprise.region, scope))
    result = (await session.execute(stmt)).tuples().all()
    return overdue_first(_rows(list(result), today))


async def search(
    session: AsyncSession, scope: str, query: str, today: date, limit: int = 8
) -> list[EnterpriseRow]:
    """Enterprises in scope whose name contains the text or whose pinyin initials match it."""
    text = query.strip()
    if not text:
        return []
    conditions = [Enterprise.name.contains(text, autoescape=True)]
    letters = normalize_query(text)
    if letters and letters == text.lower().replace(" ", ""):
        conditions.append(Enterprise.name_initials.contains(letters, autoescape=True))
    last = _last_visit_subquery().subquery()
    stmt = (
        select(Enterprise, last.c.last_visit)
        .outerjoin(last, last.c.enterprise_id == Enterprise.id)
        .where(in_scope(Enterprise.region, scope), or_(*conditions))
        .order_by(func.length(Enterprise.name), Enterprise.name)
        .limit(limit)
    )
    return _rows(list((await session.execute(stmt)).tuples().all()), today)


async def get_in_scope(session: AsyncSession, enterprise_id: int, scope: str) -> Enterprise | None:
    """The enterprise if it lies in the scope; None for another region's id (forged or stale)."""
    return await session.scalar(
        select(Enterprise).where(Enterprise.id == enterprise_id, in_scope(Enterprise.region, scope))
    )


async def in_scope_by_id(session: AsyncSession, ids: Sequence[int], scope: str) -> dict[int, Enterprise]:
    """Those of the enterprises that lie in the scope, by id (the others are left out)."""
    if not ids:
        return {}
    found = await session.scalars(select(Enterprise).where(Enterprise.id.in_(list(ids)), in_scope(Enterprise.region,
                                                                                                   scope)))
    return {enterprise.id: enterprise for enterprise in found}


async def last_visit(session: AsyncSession, enterprise_id: int) -> date | None:
    return await session.scalar(select(func.max(Visit.visit_date)).where(Visit.enterprise_id == enterprise_id))


async def row(session: AsyncSession, enterprise: Enterprise, today: date) -> EnterpriseRow:
    return _rows([(enterprise, await last_visit(session, enterprise.id))], today)[0]


@dataclass(frozen=True)
class VisitLine:
    visit_date: date
    officer: str
    activities: list[str]


@dataclass(frozen=True)
class EnterpriseFacts:
    """The enterprise as its card shows it: plain values read off the record."""

    id: int
    name: str
    kind: str
    region: str
    industry: str | None
    employees: int | None
    party_members: int | None
    unformed_reason: str | None

    @classmethod
    def of(cls, enterprise: Enterprise) -> EnterpriseFacts:
        return cls(enterprise.id, enterprise.name, enterprise.kind, enterprise.region, enterprise.industry,
                   enterprise.employees, enterprise.party_members, enterprise.unformed_reason)


@dataclass(frozen=True)
class OrganisationFacts:
    """A party organisation as a card names it."""

    id: int
    name: str
    name_inferred: bool
    category: str
    formation: str
    founded_on: date | None
    secretary: str | None
    members: int | None
    enterprises: int  # how many it covers now
    parent: str | None = None  # 隶属 (挂靠: the organisation it is attached to)

    @classmethod
    def of(cls, organisation: PartyOrganisation, enterprises: int, parent: str | None = None) -> OrganisationFacts:
        return cls(organisation.id, organisation.name, organisation.name_inferred, organisation.category,
                   organisation.formation, organisation.founded_on, organisation.secretary, organisation.members,
                   enterprises, parent or organisation.parent_name)


@dataclass(frozen=True)
class EnterpriseCard:
    """What an officer or supervisor needs to see about one enterprise at a glance."""

    enterprise: EnterpriseFacts
    row: EnterpriseRow
    ready_to_form: bool
    priority: bool
    officers: list[str]
    recent_visits: list[VisitLine]
    people_by_stage: dict[str, int]
    open_feedback: int
    overdue_feedback: int
    # Its organisation, or without one the class it is in (应建未建 / 有党员 / 无党员).
    organisation: OrganisationFacts | None
    unorganised_class: str | None



async def card(session: AsyncSession, enterprise_id: int, scope: str, today: date,
               now: datetime) -> EnterpriseCard | None:
    """The enterprise's card, or None when it is not in the scope (forged or stale buttons)."""
    enterprise = await get_in_scope(session, enterprise_id, scope)
    if enterprise is None:
        return None
    officers = list(await session.scalars(
        select(User.name).join(Assignment, Assignment.officer_id == User.id)
        .where(Assignment.enterprise_id == enterprise_id, Assignment.ended_on.is_(None)).order_by(User.name)
    ))
    visits = (await session.execute(
        select(Visit.visit_date, User.name, Visit.activities).join(User, User.id == Visit.officer_id)
        .where(Visit.enterprise_id == enterprise_id).order_by(Visit.visit_date.desc(), Visit.id.desc()).limit(3)
    )).tuples().all()
    stages = (await session.execute(
        select(Person.stage, func.count(Person.id)).where(Person.enterprise_id == enterprise_id)
        .group_by(Person.stage)
    )).tuples().all()
    open_items = (await session.execute(
        select(Feedback.created_at).where(Feedback.enterprise_id == enterprise_id,
                                          Feedback.status.in_(("open", "in_progress")))
    )).scalars().all()
    organisation = None
    if enterprise.party_org_id is not None:
        org = await session.get_one(PartyOrganisation, enterprise.party_org_id)
        covering = await session.scalar(select(func.count(Enterprise.id)).where(Enterprise.party_org_id == org.id))
        parent = await session.get(PartyOrganisation, org.parent_id) if org.parent_id is not None else None
        organisation = OrganisationFacts.of(org, int(covering or 0), parent.name if parent else None)
    members = rules.founding_members(enterprise.party_members, enterprise.members_here)
    organised = organisation is not None
    return EnterpriseCard(
        enterprise=EnterpriseFacts.of(enterprise),
        row=await row(session, enterprise, today),
        ready_to_form=rules.ready_to_form(members, organised),
        priority=rules.priority(enterprise.employees, organised),
        officers=officers,
        recent_visits=[VisitLine(d, name, list(acts)) for d, name, acts in visits],
        people_by_stage={stage: count for stage, count in stages},
        open_feedback=len(open_items),
        overdue_feedback=sum(1 for created in open_items if (now - created).days > rules.FEEDBACK_REMIND_DAYS),
        organisation=organisation,
        unorganised_class=None if organised else rules.unorganised_class(members).value,
    )
