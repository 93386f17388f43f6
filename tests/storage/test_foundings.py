"""Foundings and changes of party organisations, and the coverage history they leave: on SQLite
and on PostgreSQL. The expected rows are written out by hand from the small world below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import digests, foundings, officers, organisations, reports
from storage.enums import ChangeKind, Formation, OrgCategory, Role
from storage.models import Enterprise, Founding, PartyOrganisation, PartyOrgCoverage
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)
JOINT = "中共枝江市马家店街道非公有制企业联合支部委员会"


@dataclass(frozen=True)
class World:
    officer: int
    a: int  # 楚韵纺织, 马家店街道, 4 formal members
    b: int  # 白洋港机械, 马家店街道
    c: int  # 董市酒业, 马家店街道
    old: int  # the branch 董市酒业 had before


async def _world(factory: async_sessionmaker[AsyncSession]) -> World:
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = await officers.create_invite(s, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市", now=NOW)
        firms = [Enterprise(name=name, credit_code=code * 18, region="宜昌市/枝江市/马家店街道", party_members=members)
                 for name, code, members in (("楚韵纺织", "A", 4), ("白洋港机械", "B", 1), ("董市酒业", "C", None))]
        s.add_all(firms)
        await s.flush()
        old = await organisations.create(s, organisations.NewOrganisation(
            name="中共董市酒业支部委员会", category=OrgCategory.BRANCH, formation=Formation.SINGLE,
            founded_on=date(2020, 3, 1)), [firms[2]], actor_id=None, actor_label="import", now=NOW)
        await uow.commit()
        return World(officer.user_id, firms[0].id, firms[1].id, firms[2].id, old.id)


def _joint(world: World, on: date = date(2026, 11, 10), **changes: object) -> foundings.NewFounding:
    values: dict[str, object] = {
        "enterprise_id": world.a, "enterprise_ids": [world.a, world.b, world.c], "founded_on": on,
        "category": "branch", "formation": "joint", "secretary": "张建国", "members": 6, "officer_id": world.officer,
    } | changes
    return foundings.NewFounding(**values)  # type: ignore[arg-type]


async def _coverage(session: AsyncSession, enterprise_id: int) -> list[tuple[int, date | None, date | None]]:
    rows = await session.scalars(select(PartyOrgCoverage).where(PartyOrgCoverage.enterprise_id == enterprise_id)
                                 .order_by(PartyOrgCoverage.id))
    return [(row.organisation_id, row.started_on, row.ended_on) for row in rows]


async def test_a_joint_branch_is_named_after_the_place_its_enterprises_share(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    world = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        founding = await foundings.create(uow.session, _joint(world), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        organisation = await uow.session.get_one(PartyOrganisation, founding.organisation_id)
        assert organisation.name == JOINT and organisation.region == "宜昌市/枝江市/马家店街道"
        # A second joint branch there is numbered.
        firms = [await uow.session.get_one(Enterprise, i) for i in (world.a, world.b)]
        assert await foundings.proposed_name(uow.session, firms, OrgCategory.BRANCH, Formation.JOINT) == (
            "中共枝江市马家店街道非公有制企业第二联合支部委员会")
        assert await foundings.proposed_name(uow.session, firms, OrgCategory.BRANCH, Formation.JOINT,
                                             keep=organisation.id) == JOINT
        # A 园区 they all sit in names it instead.
        for firm in firms:
            firm.location_name = "枝江经济开发区"
        assert await foundings.proposed_name(uow.session, firms, OrgCategory.GENERAL_BRANCH, Formation.JOINT) == (
            "中共枝江经济开发区非公有制企业联合总支部委员会")


async def test_a_corrected_founding_date_moves_the_coverage_and_a_dropped_enterprise_goes_back(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    world = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        founding = await foundings.create(uow.session, _joint(world), actor_label="王芳", now=NOW)
        await uow.commit()
    joint = founding.organisation_id
    assert joint is not None
    async with unit_of_work(session_factory) as uow:
        record = await uow.session.get_one(Founding, founding.id)
        await foundings.correct(uow.session, record, _joint(world, date(2026, 11, 12), enterprise_ids=[world.a, world.c]),
                                actor_id=world.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        assert (await s.get_one(PartyOrganisation, joint)).founded_on == date(2026, 11, 12)
        assert await _coverage(s, world.a) == [(joint, date(2026, 11, 12), None)]
        # 董市酒业 left its old branch the day the joint one began, now the 12th.
        assert await _coverage(s, world.c) == [(world.old, date(2020, 3, 1), date(2026, 11, 12)),
                                               (joint, date(2026, 11, 12), None)]
        assert await _coverage(s, world.b) == [(joint, date(2026, 11, 12), date(2026, 11, 12))]
        assert (await s.get_one(Enterprise, world.b)).party_org_id is None
    # Dropping 董市酒业 too: it goes back to the branch it left for the joint one.
    async with unit_of_work(session_factory) as uow:
        record = await uow.session.get_one(Founding, founding.id)
        await foundings.correct(uow.session, record, _joint(world, date(2026, 11, 12), enterprise_ids=[world.a]),
                                actor_id=world.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        assert (await uow.session.get_one(Enterprise, world.c)).party_org_id == world.old
        assert await _coverage(uow.session, world.c) == [
            (world.old, date(2020, 3, 1), date(2026, 11, 12)), (joint, date(2026, 11, 12), date(2026, 11, 12)),
            (world.old, date(2026, 11, 12), None)]


async def test_a_split_left_by_all_dissolves_the_branch_and_its_corrected_date_moves_everything(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    world = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        founding = await foundings.create(uow.session, _joint(world, enterprise_ids=[world.a, world.b]),
                                          actor_label="王芳", now=NOW)
        await uow.commit()
    joint = founding.organisation_id
    assert joint is not None
    split = foundings.NewChange(organisation_id=joint, enterprise_id=world.a, kind=ChangeKind.SPLIT,
                                on=date(2026, 11, 20), officer_id=world.officer, leaving=[world.a, world.b],
                                own=[world.a])
    async with unit_of_work(session_factory) as uow:
        change = await foundings.record_change(uow.session, split, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        [own] = (await s.scalars(select(PartyOrganisation).where(PartyOrganisation.founded_on == date(2026, 11, 20))))
        assert (own.name, own.category, own.formation, own.members) == ("中共楚韵纺织支部委员会", "branch", "single", 4)
        assert (await s.get_one(PartyOrganisation, joint)).dissolved_on == date(2026, 11, 20)
        assert await _coverage(s, world.a) == [(joint, date(2026, 11, 10), date(2026, 11, 20)),
                                               (own.id, date(2026, 11, 20), None)]
        assert await _coverage(s, world.b) == [(joint, date(2026, 11, 10), date(2026, 11, 20))]
        assert (change.action, change.change) == ("change", {"kind": "split", "own": [world.a], "created": [own.id],
                                                            "dissolved": True})
        # Only the founding counts as one guided: the change founded nothing of the officer's.
        guided = await reports.organisations_guided(s, "宜昌市/枝江市", date(2026, 11, 1), date(2026, 12, 1))
        assert guided.total == 1
    async with unit_of_work(session_factory) as uow:
        record = await uow.session.get_one(Founding, change.id)
        await foundings.correct_change(uow.session, record, foundings.NewChange(
            organisation_id=joint, enterprise_id=world.a, kind=ChangeKind.SPLIT, on=date(2026, 11, 18),
            officer_id=world.officer), actor_id=world.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        assert (await s.get_one(PartyOrganisation, joint)).dissolved_on == date(2026, 11, 18)
        own_branch = await s.get_one(PartyOrganisation, own.id)
        assert own_branch.founded_on == date(2026, 11, 18)
        assert await _coverage(s, world.a) == [(joint, date(2026, 11, 10), date(2026, 11, 18)),
                                               (own.id, date(2026, 11, 18), None)]
        assert await _coverage(s, world.b) == [(joint, date(2026, 11, 10), date(2026, 11, 18))]
        assert (await s.get_one(Founding, change.id)).founded_on == date(2026, 11, 18)


async def test_the_weekly_digest_counts_foundings_not_changes(session_factory: async_sessionmaker[AsyncSession]) -> None:
    world = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        founding = await foundings.create(uow.session, _joint(world, date(2026, 11, 17)), actor_label="王芳", now=NOW)
        assert founding.organisation_id is not None
        await foundings.record_change(uow.session, foundings.NewChange(
            organisation_id=founding.organisation_id, enterprise_id=world.a, kind=ChangeKind.CATEGORY,
            on=date(2026, 11, 18), officer_id=world.officer, category="general_branch",
            name="中共枝江市马家店街道非公有制企业联合总支部委员会"), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        digest = await digests.supervisor_digest(uow.session, "宜昌市", date(2026, 11, 16), ZoneInfo("Asia/Shanghai"))
        assert digest.new_organisations == 1
