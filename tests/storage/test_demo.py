import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import creditcode, divisions, enterprises
from storage.db import make_async_engine, make_session_factory
from storage.demo import OVERDUE_SHOWCASE, RECENT_SHOWCASE, SANDBOX_OFFICER, seed_demo
from storage.development import check_dates
from storage.enums import Role
from storage.models import Assignment, AuditEntry, Enterprise, Feedback, HeadcountRecord, Person, User, Visit
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

        assert summary.enterprises == len(firms) >= 140
        assert summary.visits == len(visits) >= 300
        assert summary.headcount_records == records > 0
        rows_created = len(users) + len(firms) + summary.assignments + len(visits) + records + len(people) + len(
            requests)
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
