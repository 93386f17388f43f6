"""Party organisations through `/found` and the enterprise card: founding one for an enterprise,
a joint branch for several, one attached to another; correcting a founding; changing one (a
党支部 becoming a 党委, a new secretary, a joint branch split), with the history kept."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage import organisations, reports
from storage.clock import FixedClock
from storage.enums import Formation, OrgCategory
from storage.models import AuditEntry, Draft, Enterprise, Founding, PartyOrganisation, PartyOrgCoverage, Review
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, TODAY, Talk, World, _enterprise

CHUYUN, BAIYANG, DONGSHI = "枝江市楚韵纺织有限公司", "枝江市白洋港机械制造有限公司", "枝江市董市镇酒业有限公司"
# The three enterprises lie in three townships of 枝江市: the branch is named after the county.
JOINT_NAME = "中共枝江市非公有制企业联合支部委员会"
DONGSHI_BRANCH = "中共枝江市董市镇酒业有限公司支部委员会"


async def _organisation(factory: async_sessionmaker[AsyncSession], name: str, category: OrgCategory,
                        formation: Formation, enterprise_ids: list[int], founded_on: date | None) -> int:
    """An organisation already in the registry (imported), covering the enterprises."""
    async with unit_of_work(factory) as uow:
        firms = [await uow.session.get_one(Enterprise, i) for i in enterprise_ids]
        organisation = await organisations.create(
            uow.session, organisations.NewOrganisation(name=name, category=category, formation=formation,
                                                       founded_on=founded_on, secretary="老书记"),
            firms, actor_id=None, actor_label="import", now=NOW)
        await uow.commit()
        return organisation.id


async def _card(officer: Talk, enterprise_id: int) -> str:
    [card] = await officer.forge(f"ent:show:{enterprise_id}")
    return card


async def _coverage(session: AsyncSession, enterprise_id: int) -> list[tuple[int, date | None, date | None]]:
    rows = await session.scalars(select(PartyOrgCoverage).where(PartyOrgCoverage.enterprise_id == enterprise_id)
                                 .order_by(PartyOrgCoverage.id))
    return [(row.organisation_id, row.started_on, row.ended_on) for row in rows]


async def _found_single(officer: Talk, founded_on: str = "今天") -> str:
    await officer.say("/found")
    await officer.tap(CHUYUN)
    await officer.tap("单独组建")
    await officer.tap("党支部")
    await officer.tap("用这个名称")
    await officer.say(founded_on)
    await officer.say("张建国")
    await officer.tap("出资人兼任")
    await officer.say("5")
    await officer.tap("跳过")
    [receipt] = await officer.tap("提交")
    return receipt


async def _found_joint(officer: Talk) -> str:
    """楚韵 and 白洋港 (the officer's own), 董市镇酒业 found by search: the card."""
    await officer.say("/found")
    await officer.tap(CHUYUN)
    [ask] = await officer.tap("联合组建")
    assert "已选 1 家" in ask and CHUYUN in ask
    [ticked] = await officer.tap(BAIYANG)  # the officer's own enterprises are offered, ticked in place
    assert "已选 2 家" in ticked and f"✅ {BAIYANG}" in " ".join(officer.buttons())
    [results] = await officer.say("酒业")  # any other of the region is searched
    assert "找到 1 家" in results
    [listed] = await officer.tap(DONGSHI)
    assert "已选 3 家" in listed and DONGSHI in listed
    [category] = await officer.tap("完成（3 家）")
    assert "党支部或党总支" in category and officer.buttons() == ["党总支", "党支部"]
    [name] = await officer.tap("党支部")
    assert JOINT_NAME in name
    await officer.tap("用这个名称")
    await officer.tap("今天")
    await officer.say("张建国")
    await officer.tap("上级选派")
    [members] = await officer.say("2")
    assert "3 人以上" in members  # a joint branch too needs three formal members, counted across
    await officer.say("9")
    [card] = await officer.tap("跳过")
    return card


async def test_a_joint_branch_covers_three_enterprises_and_each_card_names_it(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    old = await _organisation(factory, DONGSHI_BRANCH, OrgCategory.BRANCH, Formation.SINGLE, [world.dongshi],
                              date(2025, 1, 1))
    card = await _found_joint(officer)
    assert f"企业（3 家）：{CHUYUN}、{BAIYANG}、{DONGSHI}" in card
    assert "类型：党支部（联合组建）" in card and f"名称：{JOINT_NAME}" in card
    assert f"⚠ {DONGSHI}现属{DONGSHI_BRANCH}，保存后将转入新党组织。" in card  # allowed, and said
    [receipt] = await officer.tap("提交")
    assert "已记录（编号 O-" in receipt and "覆盖 3 家企业" in receipt
    async with factory() as session:
        [organisation] = (await session.scalars(select(PartyOrganisation).where(PartyOrganisation.id != old))).all()
        assert (organisation.name, organisation.category, organisation.formation) == (JOINT_NAME, "branch", "joint")
        assert (organisation.founded_on, organisation.secretary, organisation.secretary_source, organisation.members
                ) == (TODAY, "张建国", "sent", 9)
        assert organisation.region == "宜昌市/枝江市"
        for enterprise_id in (world.chuyun, world.baiyang):
            assert await _coverage(session, enterprise_id) == [(organisation.id, TODAY, None)]
            assert (await session.get_one(Enterprise, enterprise_id)).party_org_id == organisation.id
        # 董市镇酒业 left its own branch that day: the history has both.
        assert await _coverage(session, world.dongshi) == [(old, date(2025, 1, 1), TODAY), (organisation.id, TODAY, None)]
        founding = await session.scalar(select(Founding))
        assert founding is not None and founding.organisation_id == organisation.id and founding.action == "found"
        assert founding.enterprise_ids == [world.chuyun, world.baiyang, world.dongshi] and founding.name == JOINT_NAME
        audited = (await session.execute(select(AuditEntry.action, AuditEntry.entity, AuditEntry.entity_id)
                                         .where(AuditEntry.actor_label == "王芳"))).tuples().all()
        assert ("create", "party_organisation", organisation.id) in audited
        assert ("create", "founding", founding.id) in audited
        assert {(a, e, i) for a, e, i in audited if a == "cover"} == {
            ("cover", "enterprise", i) for i in (world.chuyun, world.baiyang, world.dongshi)}
    for enterprise_id in (world.chuyun, world.baiyang, world.dongshi):
        shown = await _card(officer, enterprise_id)
        assert f"党组织：{JOINT_NAME}" in shown and "党支部（联合组建） · 覆盖 3 家企业" in shown
        assert "🛠 调整党组织" in officer.buttons() and "🚩 新建党组织" not in officer.buttons()
    assert emulator.violations == []


async def test_a_correction_within_24_hours_drops_an_enterprise_from_the_joint_branch(
    officer: Talk, world: World, emulator: BotApiEmulator, clock: FixedClock,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await _found_joint(officer)
    await officer.tap("提交")
    clock.advance(timedelta(hours=20))
    [card] = await officer.tap("更正")
    assert "请确认更正" in card and "企业（3 家）" in card
    [listing] = await officer.tap("修改联合企业")
    assert "已选 3 家" in listing
    [unticked] = await officer.tap(BAIYANG)
    assert "已选 2 家" in unticked
    [card] = await officer.tap("完成（2 家）")
    assert "请确认更正" in card and f"企业（2 家）：{CHUYUN}、{DONGSHI}" in card
    [receipt] = await officer.tap("提交")
    assert "已更正" in receipt and "覆盖 2 家企业" in receipt
    async with factory() as session:
        [organisation] = (await session.scalars(select(PartyOrganisation))).all()
        baiyang = await session.get_one(Enterprise, world.baiyang)
        assert baiyang.party_org_id is None
        # It was covered for no day at all: its row ends the day it started.
        assert await _coverage(session, world.baiyang) == [(organisation.id, TODAY, TODAY)]
        assert await _coverage(session, world.chuyun) == [(organisation.id, TODAY, None)]
        [founding] = (await session.scalars(select(Founding))).all()  # corrected, not a second record
        assert founding.enterprise_ids == [world.chuyun, world.dongshi]
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.entity == "founding" and entry.entity_id == founding.id
        assert entry.before == {"enterprise_ids": [world.chuyun, world.baiyang, world.dongshi]}
        assert entry.after == {"enterprise_ids": [world.chuyun, world.dongshi]}
        uncovered = await session.scalar(select(AuditEntry).where(AuditEntry.action == "uncover"))
        assert uncovered is not None and uncovered.entity_id == world.baiyang
        review = await session.scalar(select(Review))
        assert review is None or review.status == "pending"
    assert "覆盖 2 家企业" in await _card(officer, world.chuyun)
    assert "无党组织" in await _card(officer, world.baiyang)
    clock.advance(timedelta(hours=5))
    await officer._after(officer.chat.tap("更正"))
    assert "24 小时" in officer.toasts()[-1]
    assert emulator.violations == []


async def test_upgrading_a_branch_to_a_committee_keeps_its_id_founding_date_and_history(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _found_single(officer, founded_on="2026-11-01")
    card = await _card(officer, world.chuyun)
    assert "党组织：中共枝江市楚韵纺织有限公司支部委员会" in card and "2026-11-01 成立" in card
    [what] = await officer.tap("🛠 调整党组织")
    assert "调整什么？" in what and officer.buttons() == ["调整类别（升格等）", "更换书记"]  # no split: not joint
    [ask] = await officer.tap("调整类别")
    assert "现为党支部" in ask and officer.buttons() == ["党委", "党总支"]
    [name] = await officer.tap("党委")
    assert "中共枝江市楚韵纺织有限公司委员会" in name  # 支部委员会 → 委员会
    [wrong] = await officer.say("中共枝江市楚韵纺织有限公司支部委员会")
    assert "党委的名称以“委员会”或“党委”结尾" in wrong
    await officer.tap("用这个名称")
    [early] = await officer.say("2026-10-01")
    assert "不能早于党组织成立日期（2026-11-01）" in early
    [card] = await officer.tap("今天")
    assert "类别：党支部 → 党委" in card and "新名称：中共枝江市楚韵纺织有限公司委员会" in card
    [receipt] = await officer.tap("提交")
    assert "已记录（编号 O-" in receipt and "调整为党委" in receipt
    async with factory() as session:
        [organisation] = (await session.scalars(select(PartyOrganisation))).all()  # the same one
        assert (organisation.category, organisation.name) == ("committee", "中共枝江市楚韵纺织有限公司委员会")
        assert organisation.founded_on == date(2026, 11, 1)
        assert await _coverage(session, world.chuyun) == [(organisation.id, date(2026, 11, 1), None)]
        updates = (await session.scalars(select(AuditEntry).where(AuditEntry.entity == "party_organisation",
                                                                  AuditEntry.action == "update"))).all()
        assert [(u.before, u.after) for u in updates] == [(
            {"category": "branch", "name": "中共枝江市楚韵纺织有限公司支部委员会"},
            {"category": "committee", "name": "中共枝江市楚韵纺织有限公司委员会"})]
        found, change = (await session.scalars(select(Founding).order_by(Founding.id))).all()
        assert (found.action, change.action) == ("found", "change")
        assert change.organisation_id == organisation.id and change.founded_on == TODAY
        assert change.change == {"kind": "category", "from": {"category": "branch",
                                                              "name": "中共枝江市楚韵纺织有限公司支部委员会"}}
        # A change founds nothing: one organisation guided into being this month, not two.
        guided = await reports.organisations_guided(session, "宜昌市", date(2026, 11, 1), date(2026, 12, 1))
        assert guided.total == 1
        by_region = await reports.foundings_by_region(session, "宜昌市", date(2026, 10, 1), date(2027, 1, 1))
        assert sum(row.founded for row in by_region) == 1
    card = await _card(officer, world.chuyun)
    assert "党组织：中共枝江市楚韵纺织有限公司委员会" in card and "党委（单独组建）" in card
    assert emulator.violations == []


async def test_a_new_secretary_is_recorded_and_corrected_within_24_hours(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _found_single(officer)
    await _card(officer, world.chuyun)
    await officer.tap("🛠 调整党组织")
    await officer.tap("更换书记")
    await officer.say("李四")
    await officer.tap("企业管理人员")
    [card] = await officer.tap("今天")
    assert "新任书记：李四（企业管理人员）" in card
    [receipt] = await officer.tap("提交")
    assert "书记为 李四" in receipt
    [card] = await officer.tap("更正")
    assert "请确认更正" in card and "修改调整事项" not in " ".join(officer.buttons())
    await officer.tap("修改书记")
    await officer.say("李思")
    [receipt] = await officer.tap("提交")
    assert "已更正" in receipt and "书记为 李思" in receipt
    async with factory() as session:
        [organisation] = (await session.scalars(select(PartyOrganisation))).all()
        assert (organisation.secretary, organisation.secretary_source) == ("李思", "manager")
        changes = (await session.scalars(select(Founding).where(Founding.action == "change"))).all()
        assert len(changes) == 1 and changes[0].secretary == "李思"
        assert changes[0].change == {"kind": "secretary", "from": {"secretary": "张建国", "secretary_source": "owner"}}
    assert "书记 李思" in await _card(officer, world.chuyun)
    assert emulator.violations == []


async def test_a_split_founds_branches_that_day_and_keeps_the_history(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    joint = await _organisation(factory, JOINT_NAME, OrgCategory.BRANCH, Formation.JOINT,
                                [world.chuyun, world.baiyang, world.dongshi], date(2024, 5, 1))
    card = await _card(officer, world.baiyang)
    assert "覆盖 3 家企业" in card
    [what] = await officer.tap("🛠 调整党组织")
    assert "覆盖 3 家企业" in what and "拆分联合党组织" in officer.buttons()
    [ask] = await officer.tap("拆分联合党组织")
    assert "哪些企业离开" in ask and len(officer.buttons()) == 4
    await officer.tap(CHUYUN)
    await officer.tap(BAIYANG)
    [refused] = await officer.tap("下一步")
    assert "只剩一家企业" in refused  # a joint branch of one is none
    await officer.tap(f"✅ {BAIYANG}")
    [own] = await officer.tap("下一步")
    assert "单独建立党支部" in own and officer.buttons() == [CHUYUN, "下一步 ›"]
    await officer.tap(CHUYUN)
    await officer.tap("下一步")
    [card] = await officer.tap("今天")
    assert f"单独建立党支部：{CHUYUN}" in card and "留在原党组织：2 家" in card
    assert f"⚠ {CHUYUN}登记的正式党员不足 3 人。" in card  # the records say 2: said, not refused
    [receipt] = await officer.tap("提交")
    assert "有 1 家企业离开，其中 1 家单独建立党支部" in receipt
    async with factory() as session:
        own_branch = await session.scalar(select(PartyOrganisation).where(PartyOrganisation.id != joint))
        assert own_branch is not None
        assert (own_branch.name, own_branch.category, own_branch.formation, own_branch.founded_on) == (
            "中共枝江市楚韵纺织有限公司支部委员会", "branch", "single", TODAY)
        assert await _coverage(session, world.chuyun) == [(joint, date(2024, 5, 1), TODAY),
                                                          (own_branch.id, TODAY, None)]
        assert await _coverage(session, world.baiyang) == [(joint, date(2024, 5, 1), None)]
        remaining = await session.get_one(PartyOrganisation, joint)
        assert remaining.dissolved_on is None and remaining.founded_on == date(2024, 5, 1)
        change = await session.scalar(select(Founding))
        assert change is not None and change.action == "change" and change.enterprise_ids == [world.chuyun]
        assert change.change == {"kind": "split", "own": [world.chuyun], "created": [own_branch.id],
                                 "dissolved": False}
        # The new branch is a new organisation founded that day; the change is no founding.
        founded = await session.scalar(select(func.count(PartyOrganisation.id))
                                       .where(PartyOrganisation.founded_on == TODAY))
        assert founded == 1
        guided = await reports.organisations_guided(session, "宜昌市", date(2026, 11, 1), date(2026, 12, 1))
        assert guided.total == 0
    assert "中共枝江市楚韵纺织有限公司支部委员会" in await _card(officer, world.chuyun)
    assert "覆盖 2 家企业" in await _card(officer, world.dongshi)
    assert emulator.violations == []


async def test_a_branch_attaches_to_an_organisation_found_by_name(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    host = await _organisation(factory, "中共枝江市马家店街道综合委员会", OrgCategory.COMMITTEE, Formation.SINGLE,
                               [world.dongshi], None)
    async with unit_of_work(factory) as uow:  # the host is counted in 马家店街道
        (await uow.session.get_one(PartyOrganisation, host)).region = "宜昌市/枝江市/马家店街道"
        far = _enterprise("远安县马家店同名茶厂", "宜昌市/远安县", "91420525MA4F00009X")
        uow.session.add(far)
        await uow.session.flush()
        far_id = far.id
        await uow.commit()
    await _organisation(factory, "中共远安县马家店同名茶厂支部委员会", OrgCategory.BRANCH, Formation.SINGLE, [far_id], None)
    await officer.say("/found")
    await officer.tap(CHUYUN)
    [ask] = await officer.tap("挂靠")
    assert "挂靠在哪个党组织" in ask
    [results] = await officer.say("马家店")
    assert "找到 1 个" in results  # not 远安县's, which has the same word
    assert officer.buttons() == ["中共枝江市马家店街道综合委员会", "按“马家店”记录"]
    await officer.tap("中共枝江市马家店街道综合委员会")
    await officer.tap("党支部")
    await officer.tap("用这个名称")
    await officer.tap("今天")
    await officer.say("张建国")
    await officer.tap("其他")
    [card] = await officer.say("3")  # no 隶属 asked: it is the organisation attached to
    assert "类型：党支部（挂靠），挂靠 中共枝江市马家店街道综合委员会" in card
    await officer.tap("提交")
    async with factory() as session:
        organisation = await session.scalar(select(PartyOrganisation).where(PartyOrganisation.formation == "attached"))
        assert organisation is not None and organisation.parent_id == host
        assert organisation.parent_name == "中共枝江市马家店街道综合委员会"
    assert "挂靠 中共枝江市马家店街道综合委员会" in await _card(officer, world.chuyun)
    assert emulator.violations == []


async def test_bad_input_gets_a_clear_message_and_the_question_again(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await officer.say("/found")
    await officer.tap("搜索其他企业")
    [none] = await officer.say("茶业")  # 远安县楚韵茶业 is outside the officer's region
    assert "没有找到名称含“茶业”的企业" in none
    await officer.say("楚韵")
    await officer.tap(CHUYUN)
    await officer.tap("联合组建")
    [too_few] = await officer.tap("完成（1 家）")
    assert "联合组建至少要有 2 家企业" in too_few and "已选 1 家" in too_few
    [none] = await officer.say("茶业")
    assert "没有找到名称含“茶业”的企业" in none
    # A forged pick of the other county's enterprise is refused, and not added.
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None
    [refused] = await officer.forge(f"f:{draft.id}:{draft.seq}:e{world.yuanan}")
    assert "不在您的负责区域内" in refused and "已选 1 家" in refused
    await officer.tap(BAIYANG)
    await officer.tap("完成（2 家）")
    await officer.tap("党支部")
    [wrong] = await officer.say("中共枝江市楚韵纺织有限公司委员会")
    assert "党支部的名称以“支部委员会”或“党支部”结尾" in wrong and "用这个名称" in officer.buttons()[0]
    await officer.say("中共枝江市白洋马家店联合支部委员会")
    [future] = await officer.say("2026-12-30")
    assert "日期不能晚于今天（11-25）" in future
    await officer.tap("今天")
    await officer.say("张建国")
    await officer.tap("出资人兼任")
    [few] = await officer.say("2")
    assert "正式党员 3 人以上才能成立党组织" in few and "至少 3 人" in few
    [card] = await officer.say("4")
    assert "隶属" in card
    [card] = await officer.tap("跳过")
    assert "名称：中共枝江市白洋马家店联合支部委员会" in card
    async with factory() as session:
        assert await session.scalar(select(func.count(PartyOrganisation.id))) == 0  # nothing before 提交
    assert emulator.violations == []


async def test_a_name_in_use_is_refused_and_the_proposal_is_numbered(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _organisation(factory, "中共枝江市楚韵纺织有限公司支部委员会", OrgCategory.BRANCH, Formation.SINGLE,
                        [world.dongshi], date(2020, 1, 1))
    await officer.say("/found")
    await officer.tap(CHUYUN)
    await officer.tap("单独组建")
    [name] = await officer.tap("党支部")
    assert "中共枝江市楚韵纺织有限公司第二支部委员会" in name
    [taken] = await officer.say("中共枝江市楚韵纺织有限公司支部委员会")
    assert "已有名为“中共枝江市楚韵纺织有限公司支部委员会”的党组织" in taken
    assert emulator.violations == []


async def test_a_change_of_an_organisation_reaching_outside_the_region_is_refused(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _organisation(factory, "中共宜昌市跨县联合支部委员会", OrgCategory.BRANCH, Formation.JOINT,
                        [world.chuyun, world.yuanan], date(2024, 5, 1))
    card = await _card(officer, world.chuyun)
    assert "中共宜昌市跨县联合支部委员会" in card
    assert await officer.tap("🛠 调整党组织") == []
    assert "请由上级调整" in officer.toasts()[-1]
    assert await officer.forge(f"org:change:{world.yuanan}") == []
    assert officer.toasts()[-1] == "这家企业不在您的负责区域内。"
    async with factory() as session:
        assert await session.scalar(select(Draft)) is None
    assert emulator.violations == []
