"""The synthetic city (`storage.city`) at a tiny scale: counts, validity, reproducibility, and
that the rest of the code reads it (digests, summaries, the development rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import city, coverage, creditcode, development, divisions
from storage.digests import officer_summary, supervisor_digest, week_of
from storage.enums import FeedbackStatus, Formation, OrgCategory, Role, SecretarySource, Stage
from storage.models import (
    Assignment,
    AuditEntry,
    Enterprise,
    Feedback,
    Founding,
    HeadcountRecord,
    PartyOrganisation,
    PartyOrgCoverage,
    Person,
    ReviewNote,
    User,
    Visit,
)
from storage.people import pipeline
from storage.scope import covers
from storage.uow import unit_of_work

TODAY = date(2026, 11, 25)
TZ = ZoneInfo("Asia/Shanghai")
SCALE = city.TINY.with_years(2)
# In the order they can be emptied (the coverage and the enterprises refer to the organisations).
TABLES = (ReviewNote, Person, HeadcountRecord, Visit, Feedback, Founding, Assignment, PartyOrgCoverage, User, Enterprise,
          PartyOrganisation, AuditEntry)


async def _seed(factory: async_sessionmaker[AsyncSession], seed: int = 7, scale: city.Scale = SCALE) -> city.CitySummary:
    async with unit_of_work(factory) as uow:
        summary = await city.seed_city(uow.session, today=TODAY, seed=seed, scale=scale)
        await uow.commit()
    return summary


async def _dump(factory: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the city fills (the audit entry's time aside), in id order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with unit_of_work(factory) as uow:
        for model in TABLES:
            if model is AuditEntry:
                continue
            columns = list(model.__table__.columns)
            result = await uow.session.execute(select(*columns).order_by(columns[0]))
            rows[model.__tablename__] = [tuple(r) for r in result.all()]
    return rows


async def _empty(factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(factory) as uow:
        await uow.session.execute(User.__table__.update().where(User.enterprise_id.is_not(None)).values(enterprise_id=None))
        for model in TABLES:
            await uow.session.execute(delete(model))
        await uow.commit()


async def test_the_tiny_city_has_what_its_scale_asks_and_it_is_valid(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    summary = await _seed(session_factory)
    counties = [d.name for d in divisions.counties()[: SCALE.counties]]
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        firms = (await s.execute(select(Enterprise.credit_code, Enterprise.region, Enterprise.name_initials))).all()
        users = (await s.execute(select(User.role, User.region, User.enterprise_id))).all()
        visits = (await s.execute(select(Visit.enterprise_id, Visit.officer_id, Visit.visit_date))).all()
        tenures = (await s.execute(select(Assignment.enterprise_id, Assignment.officer_id, Assignment.started_on,
                                          Assignment.ended_on))).all()
        people = list(await s.scalars(select(Person)))
        reviews = dict((await s.execute(select(ReviewNote.person_id, func.max(ReviewNote.written_on))
                                        .group_by(ReviewNote.person_id))).tuples().all())
        feedback = (await s.execute(select(Feedback.status, Feedback.closed_at, Feedback.resolution,
                                           Feedback.created_at))).all()
        foundings = await s.scalar(select(func.count()).select_from(Founding))
        audited = (await s.execute(select(AuditEntry.actor_label, AuditEntry.action))).all()

        # Counts: what the scale asks, and what the summary says.
        assert len(firms) == summary.enterprises == SCALE.enterprises
        assert [r for r, _, _ in users].count(Role.OFFICER.value) == summary.officers == SCALE.officers
        assert len(visits) == summary.visits == SCALE.visits_per_year * SCALE.years
        assert len(feedback) == summary.feedback == SCALE.feedback_per_year * SCALE.years
        assert len(people) == summary.people > SCALE.people_per_year
        assert foundings == summary.foundings > 0
        assert summary.supervisors == 2 + SCALE.counties and summary.admins == 2
        # Not audited row by row: one entry records the build.
        assert audited == [(city.ACTOR_LABEL, "seed")]

        # Every enterprise lies in a real township of one of the counties, with a valid credit
        # code issued in that county, and pinyin initials to search by.
        for code, region, initials in firms:
            cityname, county, township = region.split("/")
            assert cityname == divisions.CITY and county in counties
            assert township in divisions.townships(county)
            assert creditcode.is_valid(code), code
            assert creditcode.division(code) == divisions.county(county).code
            assert initials
        assert len({code for code, _, _ in firms}) == len(firms)
        # Officers and supervisors work in the counties; owners are bound to their enterprise.
        for role, region, enterprise_id in users:
            assert region == divisions.CITY or any(covers(divisions.region_path(c), region) for c in counties)
            assert (enterprise_id is not None) == (role == Role.OWNER.value)

        # Each visit was made by the officer looking after the enterprise that day, in the past.
        held = {}
        for enterprise_id, officer_id, started, ended in tenures:
            held.setdefault((enterprise_id, officer_id), []).append((started, ended))
        for enterprise_id, officer_id, day in visits:
            assert SCALE.years * 365 >= (TODAY - day).days >= 1
            assert any(start <= day and (end is None or day < end) for start, end in held[(enterprise_id, officer_id)])

        # People at every stage, each following the development rules.
        assert {p.stage for p in people} == {s.value for s in Stage}
        for person in people:
            assert development.check_dates(pipeline(person, reviews.get(person.id))) is None

        # Feedback in every status; final ones closed with a note, open ones not.
        assert {status for status, _, _, _ in feedback} == {s.value for s in FeedbackStatus}
        for status, closed_at, resolution, created_at in feedback:
            final = status in (FeedbackStatus.RESOLVED.value, FeedbackStatus.CLOSED.value)
            assert (closed_at is not None) == final == (resolution is not None)
            assert closed_at is None or closed_at >= created_at


async def test_the_same_seed_gives_the_same_rows_and_another_seed_others(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory, seed=11)
    first = await _dump(session_factory)
    await _empty(session_factory)
    await _seed(session_factory, seed=11)
    again = await _dump(session_factory)
    await _empty(session_factory)
    await _seed(session_factory, seed=12)
    other = await _dump(session_factory)

    assert sum(map(len, first.values())) > 2000
    for table, rows in first.items():
        assert again[table] == rows, table
    assert other["enterprises"] != first["enterprises"]
    assert other["visits"] != first["visits"]


async def test_ten_years_keep_the_enterprises_officers_and_the_pace_of_a_week(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    scale = replace(city.TINY, years=10)
    summary = await _seed(session_factory, scale=scale)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        oldest = await s.scalar(select(func.min(Visit.visit_date)))
        per_year = (await s.execute(select(func.count()).select_from(Visit).where(
            Visit.visit_date >= TODAY - timedelta(days=365)))).scalar_one()
    assert summary.enterprises == scale.enterprises and summary.officers == scale.officers
    assert summary.visits == 10 * scale.visits_per_year and summary.feedback == 10 * scale.feedback_per_year
    assert oldest is not None and (TODAY - oldest).days > 9 * 365
    # The last year holds about a year's visits, not ten years' worth.
    assert 0.8 * scale.visits_per_year < per_year < 1.2 * scale.visits_per_year
    # Rotations: ten years of history carry more assignments than there are enterprises.
    assert summary.assignments > 1.5 * scale.enterprises


async def test_the_digests_read_the_city(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _seed(session_factory)
    week = week_of(TODAY) - timedelta(days=7)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        supervisors = (await s.execute(select(User.region).where(User.role == Role.SUPERVISOR.value))).scalars().all()
        officer_ids = (await s.execute(select(User.id).where(User.role == Role.OFFICER.value))).scalars().all()
        whole = await supervisor_digest(s, divisions.CITY, week, TZ, today=week + timedelta(days=6))
        parts = [await supervisor_digest(s, r, week, TZ, today=week + timedelta(days=6))
                 for r in supervisors if r != divisions.CITY]
        summaries = [await officer_summary(s, oid, week, TZ, today=TODAY) for oid in officer_ids]

    assert whole.enterprises == SCALE.enterprises
    assert len(whole.regions) == SCALE.counties
    assert whole.visits > 0 and whole.feedback_new > 0 and 0 < whole.covered < whole.enterprises
    # The counties' digests add up to the city's.
    assert sum(p.enterprises for p in parts) == whole.enterprises
    assert sum(p.visits for p in parts) == whole.visits
    assert sum(p.visits_last_week for p in parts) == whole.visits_last_week
    assert sum(summary.visits for summary in summaries) == whole.visits
    assert any(summary.overdue_enterprises for summary in summaries)


async def test_a_city_goes_only_into_a_database_without_enterprises(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    with pytest.raises(ValueError, match="already holds"):
        await _seed(session_factory)
    async with unit_of_work(session_factory) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Enterprise)) == SCALE.enterprises


async def test_the_citys_registry_has_organisations_as_a_county_keeps_them(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The demo's organisations at city scale: joint branches of several firms of one place, 挂靠,
    undated ones, secretaries sent; the officers' founding records match what they founded."""
    summary = await _seed(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        firms = {e.id: e for e in await s.scalars(select(Enterprise))}
        organisations = {o.id: o for o in await s.scalars(select(PartyOrganisation))}
        rows = list(await s.scalars(select(PartyOrgCoverage)))
        records = list(await s.scalars(select(Founding)))
        tenures = list(await s.scalars(select(Assignment)))
        figures = await coverage.coverage(s, divisions.CITY, TODAY)

    covers: dict[int, list[Enterprise]] = {}
    for row in rows:
        assert firms[row.enterprise_id].party_org_id == row.organisation_id
        assert row.started_on == organisations[row.organisation_id].founded_on
        covers.setdefault(row.organisation_id, []).append(firms[row.enterprise_id])
    assert summary.organisations == len(organisations) == len(covers)
    joint = [o for o in organisations.values() if o.formation == Formation.JOINT]
    assert joint and all(2 <= len(covers[o.id]) <= 5 for o in joint)
    assert all(len({e.location_name or e.region for e in covers[o.id]}) == 1 for o in joint)
    assert any(o.formation == Formation.ATTACHED for o in organisations.values())
    assert {o.category for o in organisations.values()} >= {OrgCategory.BRANCH.value, OrgCategory.GENERAL_BRANCH.value}
    assert any(o.founded_on is None for o in organisations.values())
    assert all(o.parent_name for o in organisations.values())
    sent = sum(o.secretary_source == SecretarySource.SENT for o in organisations.values())
    assert 0.03 * len(organisations) <= sent <= 0.25 * len(organisations)

    assert len(records) == summary.foundings == SCALE.foundings_per_year * SCALE.years
    for record in records:
        organisation = organisations[record.organisation_id or 0]
        assert record.founded_on == organisation.founded_on and record.name == organisation.name
        assert TODAY - timedelta(days=365 * SCALE.years) <= record.founded_on < TODAY
        assert sorted(record.enterprise_ids) == sorted(e.id for e in covers[organisation.id])
        assert record.enterprise_ids[0] == record.enterprise_id
        assert any(t.enterprise_id == record.enterprise_id and t.officer_id == record.officer_id
                   and t.started_on <= record.founded_on and (t.ended_on is None or record.founded_on < t.ended_on)
                   for t in tenures)

    assert figures.org_rate is not None and 0.4 <= figures.org_rate <= 0.85
    assert figures.work_rate is not None and figures.work_rate >= 0.9
    assert figures.above_scale > 0 and figures.suspended + figures.deregistered > 0


def test_a_scale_needs_real_counties_and_a_year() -> None:
    with pytest.raises(ValueError):
        city.Scale(counties=14)
    with pytest.raises(ValueError):
        city.TINY.with_years(0)
    assert city.CITY.with_years(10).visits_per_year * 10 == 2_000_000
