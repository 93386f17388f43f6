import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import coverage, creditcode, divisions, enterprises, reports, rules
from storage.db import make_async_engine, make_session_factory
from storage.demo import OVERDUE_SHOWCASE, RECENT_SHOWCASE, SANDBOX_OFFICER, seed_demo
from storage.development import check_dates
from storage.enums import (
    Formation,
    FoundingAction,
    LocationKind,
    MarketEntity,
    OperatingStatus,
    OrgCategory,
    Role,
    SecretarySource,
    UnformedReason,
)
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
    User,
    Visit,
)
from storage.people import pipeline
from storage.scope import covers
from storage.uow import unit_of_work

TODAY = date(2026, 11, 25)
CODES = {d.name: d.code for d in divisions.counties()}


async def _enterprise_names(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with unit_of_work(factory) as uow:
        return list(await uow.session.scalars(select(Enterprise.name).order_by(Enterprise.credit_code)))


async def test_seed_demo_builds_valid_realistic_data(
    session_factory: async_sessionmaker[AsyncSession], sqlite_template: Path, tmp_path: Path
) -> None:
    async with unit_of_work(session_factory) as uow:
        summary = await seed_demo(uow.session, today=TODAY, seed=7)
        await uow.commit()

    # Rows expire when the block rolls back at its end, so everything is checked inside it.
    async with unit_of_work(session_factory) as uow:
        session = uow.session
        firms = list(await session.scalars(select(Enterprise)))
        visits = list(await session.scalars(select(Visit)))
        users = list(await session.scalars(select(User)))
        wang = await session.scalar(select(User).where(User.name == SANDBOX_OFFICER))
        assert wang is not None
        mine = await enterprises.assigned_to(session, wang.id, TODAY)
        ended = await session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.ended_on.is_not(None))
        )
        audited = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_label == "seed-demo")
        )
        records = (await session.execute(select(func.count()).select_from(HeadcountRecord))).scalar_one()
        people = list(await session.scalars(select(Person)))
        requests = list(await session.scalars(select(Feedback)))
        organisations = (await session.execute(select(func.count()).select_from(PartyOrganisation))).scalar_one()
        foundings = (await session.execute(select(func.count()).select_from(Founding))).scalar_one()

        assert summary.enterprises == len(firms) >= 140
        assert summary.visits == len(visits) >= 300
        assert summary.headcount_records == records > 0
        # Party organisations and the officers' founding records are rows like the others.
        assert summary.organisations == organisations > 0 and summary.foundings == foundings > 0
        rows_created = len(users) + len(firms) + summary.assignments + len(visits) + records + len(people) + len(
            requests) + organisations + foundings
        assert summary.audit_entries == audited == rows_created
        # People at every stage whose dates follow the development rules, and open requests.
        assert summary.people == len(people) >= 20 and summary.feedback == len(requests) >= 10
        assert {p.stage for p in people} >= {"applicant", "activist", "candidate", "probationary"}
        assert all(check_dates(pipeline(p, None)) is None for p in people)
        assert any(r.status == "open" for r in requests) and any(r.status == "resolved" for r in requests)
        assert summary.sandbox_officer_id == wang.id
        assert all(u.telegram_user_id is None for u in users)
        assert {u.role for u in users} == {Role.ADMIN.value, Role.SUPERVISOR.value, Role.OFFICER.value}

        codes = [e.credit_code for e in firms]
        assert all(creditcode.is_valid(code) for code in codes)
        assert len(set(codes)) == len(codes)
        assert len({e.name for e in firms}) == len(firms)
        for firm in firms:
            assert covers(divisions.CITY, firm.region)
            county = firm.region.split("/")[1]
            assert creditcode.division(firm.credit_code) == CODES[county], firm.name
        assert {e.region.split("/")[1] for e in firms} == set(CODES)

        assert all(v.visit_date <= TODAY for v in visits)
        by_id = {e.id: e for e in firms}
        officers = {u.id: u for u in users if u.role == Role.OFFICER.value}
        assert all(covers(officers[v.officer_id].region, by_id[v.enterprise_id].region) for v in visits)

        assert wang.region == "宜昌市/枝江市"
        assert len(mine) >= 6
        assert all(covers(wang.region, row.region) for row in mine)
        rows = {row.name: row for row in mine}
        assert rows[OVERDUE_SHOWCASE].overdue and rows[OVERDUE_SHOWCASE].days_since == 45
        assert not rows[RECENT_SHOWCASE].overdue and rows[RECENT_SHOWCASE].days_since == 12
        assert mine[0].overdue  # overdue first
        assert ended == 1
        assert 0 < summary.overdue_enterprises < len(firms) / 2
        assert summary.ready_to_form > 0 and summary.priority > 0

    # The same seed on another, fresh database builds the same enterprises.
    path = tmp_path / "second.db"
    shutil.copy(sqlite_template, path)
    engine = make_async_engine(f"sqlite:///{path}")
    try:
        second = make_session_factory(engine)
        async with unit_of_work(second) as uow:
            again = await seed_demo(uow.session, today=TODAY, seed=7)
            await uow.commit()
        assert await _enterprise_names(second) == await _enterprise_names(session_factory)
        assert again.visits == summary.visits
    finally:
        await engine.dispose()


async def test_seed_demo_refuses_to_run_twice(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        await seed_demo(uow.session, today=TODAY)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        with pytest.raises(ValueError, match="already holds"):
            await seed_demo(uow.session, today=TODAY)
    async with unit_of_work(session_factory) as uow:
        users = await uow.session.scalar(select(func.count()).select_from(User))
    assert users == 19


async def test_the_demo_registry_has_the_shape_of_a_countys(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Organisations as a county's registry keeps them, the enterprise fields the statistics read,
    the officers' founding records, and the official figures in the ranges counties report; the
    data set as `python -m bot seed-demo` loads it (its default seed)."""
    async with unit_of_work(session_factory) as uow:
        summary = await seed_demo(uow.session, today=TODAY)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        firms = {e.id: e for e in await s.scalars(select(Enterprise))}
        organisations = {o.id: o for o in await s.scalars(select(PartyOrganisation))}
        rows = list(await s.scalars(select(PartyOrgCoverage)))
        records = list(await s.scalars(select(Founding)))
        tenures = list(await s.scalars(select(Assignment)))
        figures = await coverage.coverage(s, divisions.CITY, TODAY)
        counts = coverage.org_total(await coverage.organisations_by_region(s, divisions.CITY, TODAY), divisions.CITY)
        this_quarter = coverage.org_total(await coverage.new_organisations_by_region(
            s, divisions.CITY, date(2026, 10, 1), TODAY), divisions.CITY)
        this_year = coverage.org_total(await coverage.new_organisations_by_region(
            s, divisions.CITY, date(2026, 1, 1), TODAY), divisions.CITY)
        guided = await reports.organisations_guided(s, divisions.CITY, date(2026, 1, 1), TODAY)

    covers: dict[int, list[Enterprise]] = {}
    for row in rows:
        assert row.ended_on is None and row.started_on == organisations[row.organisation_id].founded_on
        assert firms[row.enterprise_id].party_org_id == row.organisation_id
        covers.setdefault(row.organisation_id, []).append(firms[row.enterprise_id])
    assert set(covers) == set(organisations)
    assert sum(e.party_org_id is not None for e in firms.values()) == len(rows)

    by_formation: dict[str, list[PartyOrganisation]] = {}
    for organisation in organisations.values():
        by_formation.setdefault(organisation.formation, []).append(organisation)
        covered = covers[organisation.id]
        # Every organisation reports to someone (隶属) and has a secretary with a source.
        assert organisation.parent_name and organisation.parent_name.startswith("中共")
        assert organisation.secretary and organisation.secretary_source in {s.value for s in SecretarySource}
        assert not organisation.name_inferred and organisation.name.startswith("中共")
        assert organisation.members is not None and organisation.members >= 1
        if organisation.formation == Formation.JOINT:
            # A joint branch covers 2 to 5 enterprises of one township, or of one 园区 or 楼宇.
            assert 2 <= len(covered) <= 5, organisation.name
            places = {e.location_name or e.region for e in covered}
            assert len(places) == 1, organisation.name
            assert organisation.category == OrgCategory.BRANCH and "联合" in organisation.name
            assert organisation.members >= rules.READY_TO_FORM_MIN_MEMBERS
        else:
            assert len(covered) == 1
        if organisation.formation == Formation.SINGLE:
            assert all((e.party_members or 0) >= rules.READY_TO_FORM_MIN_MEMBERS for e in covered)
        if organisation.formation == Formation.ATTACHED:
            # Attached to the community's, village's or market's organisation of its township.
            assert organisation.region.count("/") == 2 and "委员会" in organisation.parent_name
            assert organisation.region.split("/")[2] in organisation.parent_name
    joint = by_formation[Formation.JOINT]
    assert len(joint) >= 3 and any(len(covers[o.id]) >= 3 for o in joint)
    assert any(firms_[0].location_name for firms_ in (covers[o.id] for o in joint))  # a 园区 or 楼宇 branch
    assert len(by_formation[Formation.ATTACHED]) >= 3
    assert {o.category for o in by_formation[Formation.SINGLE]} == {c.value for c in OrgCategory}
    # Some came from a registry without 成立时间; the dated ones span the last ten years.
    undated = [o for o in organisations.values() if o.founded_on is None]
    dated = sorted(o.founded_on for o in organisations.values() if o.founded_on is not None)
    assert 1 <= len(undated) <= len(organisations) // 4
    assert dated[-1] < TODAY and (TODAY - dated[0]).days > 6 * 365
    assert sum(o.secretary_source == SecretarySource.SENT for o in organisations.values()) >= 2

    # The enterprise fields the statistics read, consistent with each other.
    for firm in firms.values():
        if firm.party_org_id is None:
            assert firm.owner_is_secretary is None
        else:
            assert firm.unformed_reason is None and firm.owner_is_secretary is not None
        if firm.owner_is_secretary:
            organisation = organisations[firm.party_org_id or 0]
            assert firm.owner_is_member and organisation.secretary_source == SecretarySource.OWNER
            assert organisation.secretary == firm.owner_name
        if firm.members_here is not None:
            assert firm.members_here + (firm.members_elsewhere or 0) == firm.party_members
        if firm.above_scale:
            assert firm.revenue is not None and firm.revenue >= 200
        if firm.location_kind is not None:
            assert firm.location_name and rules.market_entity(firm.credit_code) == MarketEntity.ENTERPRISE
    unorganised = [f for f in firms.values() if f.party_org_id is None
                   and f.operating_status != OperatingStatus.DEREGISTERED]
    reasons = [f.unformed_reason for f in unorganised]
    assert reasons.count(UnformedReason.TOO_FEW_MEMBERS.value) > len(unorganised) / 2
    assert UnformedReason.OWNER_UNSUPPORTIVE.value in reasons and UnformedReason.NO_GUIDANCE.value in reasons
    assert {f.operating_status for f in firms.values()} == {s.value for s in OperatingStatus}
    assert {f.location_kind for f in firms.values()} >= {LocationKind.PARK.value, LocationKind.BUILDING.value}
    assert any(f.owner_is_secretary for f in firms.values())
    assert any(f.members_elsewhere for f in firms.values()) and any(f.members_here is None for f in firms.values())
    industry_above = [f for f in firms.values() if f.industry in ("机械制造", "化工", "建材") and f.revenue is not None]
    assert all(f.above_scale == (f.revenue >= 2000) for f in industry_above)  # 规上工业: ≥ 2000 万元

    # The officers' founding records: of organisations founded while they looked after the firm.
    assert summary.foundings == len(records) >= 5
    for record in records:
        organisation = organisations[record.organisation_id or 0]
        assert record.action == FoundingAction.FOUND and record.founded_on == organisation.founded_on
        assert (record.name, record.category, record.formation) == (
            organisation.name, organisation.category, organisation.formation)
        assert record.enterprise_ids[0] == record.enterprise_id
        assert sorted(record.enterprise_ids) == sorted(e.id for e in covers[organisation.id])
        assert any(t.enterprise_id == record.enterprise_id and t.officer_id == record.officer_id
                   and t.started_on <= record.founded_on and (t.ended_on is None or record.founded_on < t.ended_on)
                   for t in tenures)

    # The official figures land where a county's do (OFFICIAL-FORMATS.md § 1).
    assert figures.enterprises >= 90 and figures.individuals >= 15 and figures.cooperatives >= 3
    assert figures.suspended + figures.deregistered >= 2 and figures.attached >= 1
    assert figures.org_rate is not None and 0.4 <= figures.org_rate <= 0.8
    assert figures.single_rate is not None and 0.25 <= figures.single_rate <= 0.5
    assert figures.eligible_rate is not None and 0.8 <= figures.eligible_rate < 1
    assert figures.work_rate is not None and figures.work_rate >= 0.9
    assert figures.above_scale_rate is not None and 0.5 <= figures.above_scale_rate <= 0.95
    assert 0.15 <= figures.above_scale / figures.enterprises <= 0.5
    assert 0 < figures.members_elsewhere < figures.members_here
    assert counts.total == len(organisations)  # none founded after today, none dissolved
    assert 0.03 <= counts.secretaries_sent / counts.total <= 0.25
    assert this_quarter.total >= 1 and this_year.total >= 5 and guided.total >= 3
