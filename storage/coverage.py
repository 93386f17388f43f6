"""The 两个覆盖 figures of non-public enterprises, in the official definitions (read-only views).

Definitions, from OFFICIAL-FORMATS.md § 1 and the sources it cites:

- **非公有制企业（法人单位）数**, the denominator: legal-person enterprises (统一社会信用代码 `91…`,
  `rules.market_entity` = enterprise) that operate (经营状态 在营). 个体工商户 (`92…`) and 农民专业
  合作社 (`93…`) are counted apart, as the statistics do; 停业 and 注销 firms leave the denominator
  (实体运营, 剔除空壳、僵尸企业: ahzsxh; the 2019 bulletin's 法人单位; info.nvu.edu.cn).
- **党组织覆盖率** = enterprises covered by an organisation formed 单独 or 联合 ÷ the denominator
  (ahzsxh; the 2017 bulletin's 73.1%).
- **单独组建率** = enterprises covered by their own (单独组建) organisation ÷ the denominator (ahzsxh).
- **应建已建率** (the 2011/2012 bulletins' 具备条件企业组建率) = of the denominator's enterprises
  with 3 or more formal members (counting those whose 组织关系 is in the enterprise where that is
  known, `rules.founding_members`), those covered 单独 or 联合 ÷ those.
- **党的工作覆盖率** = enterprises covered by any organisation (挂靠 included), or looked after by
  an assigned 党建工作指导员（联系员）(an open assignment), or with a 工会 or 共青团 ÷ the
  denominator (ahzsxh's 工作覆盖; local wording varies).
- **规上覆盖率** = 规模以上 enterprises of the denominator covered 单独 or 联合 ÷ those 规上 enterprises
  (bulletins since 2007).

**挂靠**: an enterprise whose members belong to another unit's organisation has neither an
organisation of its own nor a joint one. It is *not* in 党组织覆盖率, 单独组建率, 应建已建率 or
规上覆盖率, and it *is* in 党的工作覆盖率; it is counted on a line of its own (`attached`), so
单独 + 联合 + 挂靠 + 未覆盖 add up to the denominator.

**The state on a day** `day` (the end of that day: everything dated on or before it): an
enterprise is covered when one of its coverage rows (`PartyOrgCoverage`) has `started_on` ≤ day
(or none: since before the registry knew) and `ended_on` > day (or none), of an organisation not
dissolved by then; an officer looks after it when an assignment has `started_on` ≤ day and
`ended_on` > day (or none). What the registry keeps without history (market entity, operating
status, 规上, party members, 工会/共青团, 示范点) is read as it is now.

Figures are grouped by region one level below the scope (`storage.reports.sub_region_path`), so
a scope's figures are the sum of its regions' (`total`). Organisations are counted where they
are counted in the registry (`PartyOrganisation.region`, 隶属): a joint organisation of firms in
two counties counts at the city's own level, while the firms it covers count as covered in their
counties. Distinct officers do not add up over regions and are counted for the scope
(`officers_sent`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Integer, Text, and_, case, cast, distinct, func, literal, not_, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Subquery

from storage import rules
from storage.enums import Formation, MarketEntity, MassOrg, OperatingStatus, OrgCategory, SecretarySource
from storage.models import Assignment, Enterprise, PartyOrganisation, PartyOrgCoverage
from storage.scope import normalize_region, scope_filter, sub_region_path

FORMAL = (Formation.SINGLE.value, Formation.JOINT.value)  # 建立党组织: 单独 or 联合, not 挂靠
# 群团组织 that carry party work where there is no organisation (中办发〔2012〕11号): 工会, 共青团.
WORKING_MASS_ORGS = (MassOrg.UNION, MassOrg.YOUTH_LEAGUE)
KINDS = tuple((category.value, formation.value) for category in OrgCategory for formation in Formation)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Coverage:
    """The 两个覆盖 figures of one region (or, summed, of a scope) on one day."""

    region: str
    enterprises: int = 0  # 非公有制企业（法人单位）数: operating legal persons, the denominator
    single: int = 0  # covered by their own organisation (单独组建)
    joint: int = 0  # covered by a joint one (联合组建)
    attached: int = 0  # members attached to another unit's organisation (挂靠)
    eligible: int = 0  # 3 or more formal members (具备建立条件)
    eligible_covered: int = 0  # of them, covered 单独 or 联合
    work_covered: int = 0  # 党的工作覆盖: an organisation of any kind, an officer, or 工会/共青团
    above_scale: int = 0  # 规模以上
    above_scale_covered: int = 0
    mass_first: int = 0  # no organisation of any kind, but a 工会 or 共青团 (先建群团)
    members: int = 0  # 正式党员 in the denominator's enterprises
    members_here: int = 0  # of them, 组织关系在本企业 (where reported)
    members_elsewhere: int = 0  # 组织关系不在本企业 (流动、口袋党员; where reported)
    demonstration_points: int = 0  # 示范点 among every operating market entity
    individuals: int = 0  # operating 个体工商户, counted apart
    individuals_covered: int = 0
    cooperatives: int = 0  # operating 农民专业合作社, counted apart
    cooperatives_covered: int = 0
    others: int = 0  # operating entities of other kinds (社会组织, 事业单位 …), not counted
    suspended: int = 0  # legal persons 停业: out of the denominator
    deregistered: int = 0  # legal persons 注销: out of the denominator

    @property
    def covered(self) -> int:
        """已建立党组织的企业数: 单独 + 联合."""
        return self.single + self.joint

    @property
    def uncovered(self) -> int:
        """Neither 单独, 联合 nor 挂靠."""
        return self.enterprises - self.covered - self.attached

    @property
    def members_unreported(self) -> int:
        """Members whose 组织关系 (here or elsewhere) is not reported."""
        return self.members - self.members_here - self.members_elsewhere

    @property
    def org_rate(self) -> float | None:
        """党组织覆盖率; None without enterprises."""
        return _rate(self.covered, self.enterprises)

    @property
    def single_rate(self) -> float | None:
        """单独组建率."""
        return _rate(self.single, self.enterprises)

    @property
    def eligible_rate(self) -> float | None:
        """应建已建率."""
        return _rate(self.eligible_covered, self.eligible)

    @property
    def work_rate(self) -> float | None:
        """党的工作覆盖率."""
        return _rate(self.work_covered, self.enterprises)

    @property
    def above_scale_rate(self) -> float | None:
        """规上覆盖率."""
        return _rate(self.above_scale_covered, self.above_scale)

    @property
    def name(self) -> str:
        return self.region.rsplit("/", 1)[-1]


_COUNTS = tuple(f.name for f in fields(Coverage) if f.name != "region")


def total(rows: Iterable[Coverage], region: str) -> Coverage:
    """The figures of `region` as the sum of its sub-regions' `rows`."""
    sums = dict.fromkeys(_COUNTS, 0)
    for row in rows:
        for name in _COUNTS:
            sums[name] += getattr(row, name)
    return Coverage(region, **sums)


@dataclass(frozen=True)
class OrgCounts:
    """Party organisations of one region (or, summed, of a scope): by category × way of forming,
    and those whose secretary was sent by the higher committee (上级选派, "干部任书记")."""

    region: str
    kinds: dict[tuple[str, str], int] = field(default_factory=dict)  # (OrgCategory, Formation) → count
    secretaries_sent: int = 0

    def count(self, category: str, formation: str | None = None) -> int:
        """Organisations of a category (党委, 党总支, 党支部), of one way of forming or all."""
        return sum(n for (c, f), n in self.kinds.items() if c == category and formation in (None, f))

    def formed(self, formation: str) -> int:
        return sum(n for (_c, f), n in self.kinds.items() if f == formation)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    @property
    def name(self) -> str:
        return self.region.rsplit("/", 1)[-1]


def org_total(rows: Iterable[OrgCounts], region: str) -> OrgCounts:
    kinds: dict[tuple[str, str], int] = defaultdict(int)
    sent = 0
    for row in rows:
        for kind, n in row.kinds.items():
            kinds[kind] += n
        sent += row.secretaries_sent
    return OrgCounts(region, dict(kinds), sent)


@dataclass(frozen=True)
class Officers:
    """选派党建工作指导员（联系员）: 人数, the distinct officers with an assignment meeting the
    period, and 人次 as person-years: each officer once for each calendar year in which they
    held an assignment, summed over every year up to the period's end (the practice's "1,697
    人次" is such a running total)."""

    officers: int
    person_years: int


def _active(started: Any, ended: Any, day: date) -> ColumnElement[bool]:
    """A span (start inclusive, end exclusive, either open) that holds on `day`."""
    return and_(or_(started.is_(None), started <= day), or_(ended.is_(None), ended > day))


def _covered_on(day: date) -> Subquery:
    """The enterprises covered on `day`, one row each, with how: `single` 1 when by an organisation
    of their own, `formal` 1 when by one formed 单独 or 联合 (0 for 挂靠 only).

    Joined to the enterprises once, rather than an EXISTS per figure: ten correlated
    subqueries made PostgreSQL's cost estimate cross its JIT thresholds, and compiling them
    took 1.4 s of the 1.5 s the city's figures took."""
    formation = PartyOrganisation.formation
    return (
        select(PartyOrgCoverage.enterprise_id.label("enterprise_id"),
               func.max(case((formation == Formation.SINGLE.value, 1), else_=0)).label("single"),
               func.max(case((formation.in_(FORMAL), 1), else_=0)).label("formal"))
        .join(PartyOrganisation, PartyOrganisation.id == PartyOrgCoverage.organisation_id)
        .where(_active(PartyOrgCoverage.started_on, PartyOrgCoverage.ended_on, day),
               or_(PartyOrganisation.dissolved_on.is_(None), PartyOrganisation.dissolved_on > day),
               formation.in_([f.value for f in Formation]))
        .group_by(PartyOrgCoverage.enterprise_id)
        .subquery("covered")
    )


def _looked_after_on(day: date) -> Subquery:
    """The enterprises an officer looks after on `day` (an open assignment), one row each."""
    return (
        select(Assignment.enterprise_id.label("enterprise_id"))
        .where(_active(Assignment.started_on, Assignment.ended_on, day))
        .group_by(Assignment.enterprise_id)
        .subquery("looked_after")
    )


def _market_entity() -> ColumnElement[str]:
    prefix = func.substr(Enterprise.credit_code, 1, 2)
    return case(*((prefix == code, entity.value) for entity, code in rules.market_entity_prefixes().items()),
                else_=MarketEntity.OTHER.value)


def _has_mass_org() -> ColumnElement[bool]:
    # `mass_orgs` is a JSON list of codes (["union", "women"]): its text holds each code quoted,
    # on SQLite (TEXT) and PostgreSQL (JSONB) alike, and no code is a part of another.
    text = cast(Enterprise.mass_orgs, Text)
    return or_(*(text.like(f'%"{org.value}"%') for org in WORKING_MASS_ORGS))


async def coverage_by_region(session: AsyncSession, scope: str, day: date) -> list[Coverage]:
    """The figures on `day` of each region one level below `scope` with at least one enterprise
    (enterprises at the scope's own level form a row named by the scope)."""
    scope = normalize_region(scope)
    covered, looked_after = _covered_on(day), _looked_after_on(day)
    single = func.coalesce(covered.c.single, 0) == 1
    formal = func.coalesce(covered.c.formal, 0) == 1
    any_org = covered.c.enterprise_id.is_not(None)
    assigned = looked_after.c.enterprise_id.is_not(None)
    mass = _has_mass_org()
    eligible = func.coalesce(Enterprise.members_here, Enterprise.party_members, 0) >= rules.READY_TO_FORM_MIN_MEMBERS
    above = Enterprise.above_scale.is_(True)
    entity = _market_entity().label("entity")
    count = func.count(Enterprise.id)
    stmt = (
        select(
            Enterprise.region, entity, Enterprise.operating_status, count,
            count.filter(single), count.filter(and_(formal, not_(single))),
            count.filter(and_(any_org, not_(formal))),
            count.filter(eligible), count.filter(and_(eligible, formal)),
            count.filter(or_(any_org, assigned, mass)),
            count.filter(above), count.filter(and_(above, formal)),
            count.filter(and_(not_(any_org), mass)),
            func.coalesce(func.sum(Enterprise.party_members), 0),
            func.coalesce(func.sum(Enterprise.members_here), 0),
            func.coalesce(func.sum(Enterprise.members_elsewhere), 0),
            count.filter(Enterprise.demonstration_point.is_(True)),
        )
        .select_from(Enterprise)
        .outerjoin(covered, covered.c.enterprise_id == Enterprise.id)
        .outerjoin(looked_after, looked_after.c.enterprise_id == Enterprise.id)
        .where(scope_filter(Enterprise.region, scope))
        .group_by(Enterprise.region, entity, Enterprise.operating_status)
    )
    sums: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    for (region, kind, status, n, n_single, n_joint, n_attached, n_eligible, n_eligible_covered, n_work, n_above,
         n_above_covered, n_mass_first, n_members, n_here, n_elsewhere, n_demo) in (await session.execute(stmt)).tuples():
        row = sums[sub_region_path(region, scope)]
        operating = status == OperatingStatus.OPERATING.value
        if operating:
            row["demonstration_points"] += n_demo
        if kind == MarketEntity.ENTERPRISE.value and not operating:
            row["suspended" if status == OperatingStatus.SUSPENDED.value else "deregistered"] += n
        elif kind == MarketEntity.ENTERPRISE.value:
            for name, value in (("enterprises", n), ("single", n_single), ("joint", n_joint), ("attached", n_attached),
                                ("eligible", n_eligible), ("eligible_covered", n_eligible_covered),
                                ("work_covered", n_work), ("above_scale", n_above),
                                ("above_scale_covered", n_above_covered), ("mass_first", n_mass_first),
                                ("members", n_members), ("members_here", n_here),
                                ("members_elsewhere", n_elsewhere)):
                row[name] += int(value)
        elif operating and kind == MarketEntity.INDIVIDUAL.value:
            row["individuals"] += n
            row["individuals_covered"] += n_single + n_joint
        elif operating and kind == MarketEntity.COOPERATIVE.value:
            row["cooperatives"] += n
            row["cooperatives_covered"] += n_single + n_joint
        elif operating:
            row["others"] += n
    # Sorted here rather than in SQL: PostgreSQL and SQLite collate Chinese differently.
    return [Coverage(region, **sums[region]) for region in sorted(sums)]


async def coverage(session: AsyncSession, scope: str, day: date) -> Coverage:
    """The figures of the whole `scope` on `day`: the sum of its regions'."""
    scope = normalize_region(scope)
    return total(await coverage_by_region(session, scope, day), scope)


async def _organisations(session: AsyncSession, scope: str, where: ColumnElement[bool],
                         regions: Iterable[str] = ()) -> list[OrgCounts]:
    scope = normalize_region(scope)
    sent = func.count(PartyOrganisation.id).filter(PartyOrganisation.secretary_source == SecretarySource.SENT.value)
    stmt = (
        select(PartyOrganisation.region, PartyOrganisation.category, PartyOrganisation.formation,
               func.count(PartyOrganisation.id), sent)
        .where(scope_filter(PartyOrganisation.region, scope), where)
        .group_by(PartyOrganisation.region, PartyOrganisation.category, PartyOrganisation.formation)
    )
    kinds: dict[str, dict[tuple[str, str], int]] = {region: {} for region in regions}
    secretaries: dict[str, int] = defaultdict(int)
    for region, category, formation, n, n_sent in (await session.execute(stmt)).tuples():
        path = sub_region_path(region, scope)
        per_region = kinds.setdefault(path, {})
        per_region[(category, formation)] = per_region.get((category, formation), 0) + n
        secretaries[path] += n_sent
    return [OrgCounts(region, kinds[region], secretaries[region]) for region in sorted(kinds)]


async def organisations_by_region(session: AsyncSession, scope: str, day: date,
                                  regions: Iterable[str] = ()) -> list[OrgCounts]:
    """Organisations existing on `day` (founded by then or on an unknown date, not dissolved),
    per region one level below `scope`; `regions` get a row even without any."""
    existing = and_(or_(PartyOrganisation.founded_on.is_(None), PartyOrganisation.founded_on <= day),
                    or_(PartyOrganisation.dissolved_on.is_(None), PartyOrganisation.dissolved_on > day))
    return await _organisations(session, scope, existing, regions)


async def new_organisations_by_region(session: AsyncSession, scope: str, start: date, end: date,
                                      regions: Iterable[str] = ()) -> list[OrgCounts]:
    """Organisations founded in [start, end) per region one level below `scope`; one without a
    founding date is new in no period."""
    founded = and_(PartyOrganisation.founded_on >= start, PartyOrganisation.founded_on < end)
    return await _organisations(session, scope, founded, regions)


async def officers_sent(session: AsyncSession, scope: str, start: date, end: date) -> Officers:
    """选派党建工作指导员（联系员）in `scope` for the period [start, end): 人数 and 人次 (person-
    years up to the period's end). An assignment meets a stretch of time as in
    `storage.reports.officers_dispatched`: started before its end, not ended before its start."""
    in_scope = scope_filter(Enterprise.region, normalize_region(scope))
    meets = (Assignment.started_on < end, or_(Assignment.ended_on.is_(None), Assignment.ended_on >= start))
    officers = await session.scalar(
        select(func.count(distinct(Assignment.officer_id)))
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id).where(in_scope, *meets))
    first = await session.scalar(
        select(func.min(Assignment.started_on)).join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(in_scope, Assignment.started_on < end))
    if first is None:
        return Officers(officers=officers or 0, person_years=0)
    last_year = (end - timedelta(days=1)).year
    # One row per calendar year up to the period's end, the last one cut at the period's end.
    years = union_all(*(
        select(literal(year, Integer).label("year"), literal(date(year, 1, 1), Date).label("starts"),
               literal(min(date(year + 1, 1, 1), end), Date).label("ends"))
        for year in range(first.year, last_year + 1)
    )).subquery()
    held = (
        select(Assignment.officer_id, years.c.year)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .join(years, and_(Assignment.started_on < years.c.ends,
                          or_(Assignment.ended_on.is_(None), Assignment.ended_on >= years.c.starts)))
        .where(in_scope)
        .distinct()
        .subquery()
    )
    person_years = await session.scalar(select(func.count()).select_from(held))
    return Officers(officers=officers or 0, person_years=person_years or 0)
