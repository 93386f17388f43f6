"""Recording a person for member development (/nominate), as an officer on a phone would."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from handlers import nomination
from storage.clock import FixedClock
from storage.models import AuditEntry, Draft, Person
from tests.conversations.conftest import Talk, World


async def _typed(officer: Talk, text: str) -> list[str]:
    """A quick date question answered by typing: 'other date', then the date."""
    await officer.tap("其他日期")
    return await officer.say(text)


async def _up_to_stage(officer: Talk, name: str = "李明", birth: str = "1990-05-12", applied: str = "今天") -> list[str]:
    """/nominate at 楚韵纺织 up to the stage question; returns the stage question."""
    await officer.say("/nominate")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.say(name)
    await officer.tap("男")
    await officer.say(birth)
    await officer.say("车间主任")
    await officer.tap("职工")
    if applied == "今天":
        return await officer.tap("今天")
    return await _typed(officer, applied)


async def _applicant(officer: Talk, name: str = "李明") -> str:
    """A whole applicant's nomination; returns the receipt."""
    await _up_to_stage(officer, name)
    await officer.tap("入党申请人")
    await officer.tap("跳过")  # no talk yet
    await officer.tap("跳过")  # no contacts yet
    await officer.tap("跳过")  # no notes
    [receipt] = await officer.tap("提交")
    return receipt


async def test_officer_records_an_applicant_in_a_few_taps(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    [ask] = await officer.say("/nominate")
    assert "哪家企业" in ask
    assert officer.buttons()[0] == "⚠ 枝江市楚韵纺织有限公司 · 45天未访"
    [ask] = await officer.tap("枝江市楚韵纺织有限公司")
    assert ask == "申请人姓名？"
    [ask] = await officer.say("李明")
    assert ask == "性别？" and officer.buttons() == ["男", "女"]
    [ask] = await officer.tap("男")
    assert "1990-05-12" in ask and "reply_markup" not in officer.chat.last_message  # typed only: no 'today' for a birth date
    [ask] = await officer.say("1990-05-12")
    assert "职务" in ask
    [ask] = await officer.say("车间主任")
    assert officer.buttons() == ["职工", "企业主"]
    [ask] = await officer.tap("职工")
    assert "入党申请书" in ask
    [ask] = await officer.tap("今天")
    assert "阶段" in ask
    assert officer.buttons() == ["入党申请人", "入党积极分子", "发展对象", "预备党员", "正式党员"]
    [ask] = await officer.tap("入党申请人")
    assert "谈话" in ask and "跳过" in officer.buttons()
    [ask] = await officer.tap("跳过")
    assert "两名培养联系人，用顿号或空格分开" in ask
    [ask] = await officer.tap("跳过")
    assert "备注" in ask
    [card] = await officer.tap("跳过")
    assert "请确认" in card and "姓名：李明（男，申请时 36 岁）" in card
    assert "阶段：入党申请人" in card and "申请入党：2026-11-25" in card and "培养联系人：未定" in card
    [receipt] = await officer.tap("提交")
    assert "已登记（编号 P-" in receipt and "李明" in receipt and "入党申请人" in receipt

    async with factory() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        assert (person.name, person.gender, person.position, person.is_owner) == ("李明", "male", "车间主任", False)
        assert (person.stage, person.applied_on, person.talked_on) == ("applicant", date(2026, 11, 25), None)
        assert person.birth_date == date(1990, 5, 12) and person.contacts == [] and person.enterprise_id == world.chuyun
        assert await session.scalar(select(Draft)) is None
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "person"))
        assert entry is not None and entry.action == "create" and entry.actor_label == "王芳"
    assert emulator.violations == []


async def test_an_activist_is_recorded_with_all_dates_and_two_contacts(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _up_to_stage(officer, "王小红", applied="2025-03-01")
    [ask] = await officer.tap("入党积极分子")
    assert "确定为入党积极分子的日期" in ask
    [ask] = await officer.say("2025-06-01")
    assert "两名培养联系人" in ask and "跳过" not in officer.buttons()  # an activist has contacts
    [again] = await officer.say("张三、李四、王五")
    assert "一至2名培养联系人" in again
    await officer.say("张三 李四")
    [card] = await officer.say("家属<在外地> & 常出差")
    assert "确定积极分子：2025-06-01" in card and "培养联系人：张三、李四" in card
    assert "备注：家属<在外地> & 常出差" in card  # escaped on the way out, shown as typed
    await officer.tap("提交")
    async with factory() as session:
        person = await session.scalar(select(Person))
        assert person is not None and person.stage == "activist"
        assert (person.applied_on, person.activist_on) == (date(2025, 3, 1), date(2025, 6, 1))
        assert person.contacts == ["张三", "李四"] and person.notes == "家属<在外地> & 常出差"
    assert emulator.violations == []


async def test_an_applicant_under_18_is_refused_with_the_article(officer: Talk) -> None:
    await officer.say("/nominate")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.say("小张")
    await officer.tap("女")
    [again] = await officer.say("2010-01-01")
    assert "年满 18 周岁（《细则》第五条）" in again and "出生日期？" in again
    await officer.say("2007-06-01")  # 19 today, but 17 when the application was handed in
    await officer.tap("跳过")
    await officer.tap("职工")
    [again] = await _typed(officer, "2025-01-01")
    assert "《细则》第五条" in again and "2025-01-01 还不满 18 周岁" in again
    [ask] = await officer.say("2025-06-01")
    assert "阶段" in ask


async def test_each_date_out_of_order_is_refused_naming_the_rule_and_asked_again(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _up_to_stage(officer, "赵刚", applied="2021-03-01")
    await officer.tap("正式党员")
    [again] = await officer.say("2021-02-01")
    assert "不能早于递交入党申请书的日期（2021-03-01）" in again and "确定为入党积极分子的日期" in again
    [ask] = await officer.say("2021-06-01")
    assert "公示开始日期" in ask
    [again] = await officer.say("2021-05-01")
    assert "公示应在确定为入党积极分子（2021-06-01）之后开始" in again
    await officer.say("2022-05-30")  # a Monday
    [again] = await officer.say("2022-05-03")
    assert "列为发展对象须在确定为入党积极分子满一年后（《细则》第十三条），即不早于 2022-06-01。" in again
    assert "列为发展对象的日期？" in again
    [again] = await officer.say("2022-06-01")  # two working days of notice only
    assert "不少于 5 个工作日（各地实施办法）" in again and "不早于 2022-06-04" in again
    await officer.say("2022-06-06")
    await officer.say("2023-06-10")
    [again] = await officer.say("2024-06-01")
    assert "预备期为一年（《党章》第七条），转为正式党员不早于 2024-06-10。" in again
    [ask] = await officer.say("2024-06-10")
    assert "培养联系人" in ask
    await officer.say("张三、李四")
    [card] = await officer.tap("跳过")
    assert "转为正式党员：2024-06-10" in card and "公示开始：2022-05-30" in card
    await officer.tap("提交")
    async with factory() as session:
        person = await session.scalar(select(Person))
        assert person is not None and person.stage == "full" and person.candidate_on == date(2022, 6, 6)
    assert emulator.violations == []


async def test_an_edit_from_the_card_that_breaks_a_later_date_is_refused(officer: Talk) -> None:
    await _up_to_stage(officer, "钱七", applied="2025-03-01")
    await officer.tap("入党积极分子")
    await officer.say("2025-06-01")
    await officer.say("张三、李四")
    await officer.tap("跳过")
    [ask] = await officer.tap("修改申请入党")
    assert "入党申请书" in ask
    [again] = await _typed(officer, "2025-07-01")  # after the activist date
    assert "不能早于递交入党申请书的日期（2025-07-01）" in again
    [card] = await _typed(officer, "2025-02-01")
    assert "申请入党：2025-02-01" in card


async def test_an_empty_or_digits_only_name_is_refused(officer: Talk) -> None:
    await officer.say("/nominate")
    await officer.tap("枝江市楚韵纺织有限公司")
    [again] = await officer.say("   ")
    assert "内容不能为空" in again and "申请人姓名？" in again
    [again] = await officer.say("12345")
    assert "不能只有数字或符号" in again
    [again] = await officer.say("李" * 33)
    assert "32 字以内" in again
    [ask] = await officer.say("李　明")  # a full-width space folds into one
    assert ask == "性别？"


async def test_the_same_person_twice_at_one_enterprise_is_refused_until_withdrawn(
    officer: Talk, factory: async_sessionmaker[AsyncSession]
) -> None:
    receipt = await _applicant(officer)
    number = receipt.split("P-")[1].split("）")[0]
    await officer.say("/nominate")
    await officer.tap("枝江市楚韵纺织有限公司")
    [again] = await officer.say("李明")
    assert f"这家企业已登记过“李明”（编号 P-{number}）" in again and "申请人姓名？" in again
    # Another enterprise may have its own 李明.
    await officer.say("/cancel")
    await officer.say("/nominate")
    await officer.tap("枝江市白洋港机械制造有限公司")
    [ask] = await officer.say("李明")
    assert ask == "性别？"
    await officer.say("/cancel")

    await officer.forge(f"people:show:{number}")
    await officer.tap("退出")
    await officer.tap("今天")
    await officer.say("调离本企业")
    await officer.tap("提交")
    await officer.say("/nominate")
    await officer.tap("枝江市楚韵纺织有限公司")
    [ask] = await officer.say("李明")
    assert ask == "性别？"


async def test_a_correction_within_24_hours_updates_the_record_and_is_audited(
    officer: Talk, clock: FixedClock, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _applicant(officer)
    [card] = await officer.tap("更正")
    assert "请确认更正" in card and "姓名：李明" in card
    await officer.tap("修改姓名")
    await officer.say("李明华")
    [receipt] = await officer.tap("提交")
    assert "已更正" in receipt and "李明华" in receipt
    async with factory() as session:
        people = (await session.scalars(select(Person))).all()
        assert [p.name for p in people] == ["李明华"]  # corrected, not a second person
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.entity == "person"
        assert entry.before == {"name": "李明"} and entry.after == {"name": "李明华"}

    clock.advance(timedelta(hours=25))
    await officer._after(officer.chat.tap("更正"))
    assert "24 小时" in officer.toasts()[-1]
    async with factory() as session:
        assert await session.scalar(select(Draft)) is None
    assert emulator.violations == []


async def test_the_start_button_preselects_the_enterprise_in_the_region_only(officer: Talk, world: World) -> None:
    [ask] = await officer.forge(nomination.start_button(world.dongshi))
    assert ask == "申请人姓名？"
    await officer.say("/cancel")
    [ask] = await officer.forge(nomination.start_button(world.yuanan))
    assert "哪家企业" in ask  # another county's enterprise: choose again


async def test_a_visit_about_activists_offers_to_record_the_applicant(officer: Talk) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("培养入党积极分子")
    await officer.tap("下一步")
    await officer.tap("没有变化")
    await officer.say("车间主任李明递交了入党申请书。")
    await officer.tap("跳过")
    await officer.tap("跳过")
    await officer.tap("提交")
    [ask] = await officer.tap("登记入党申请")
    assert ask == "申请人姓名？"


async def test_a_supervisor_cannot_nominate(bot: object, emulator: BotApiEmulator, world: World) -> None:
    supervisor = Talk(emulator, emulator.user(950, "督导"))
    await supervisor.say(f"/start {world.supervisor_code}")
    [refused] = await supervisor.say("/nominate")
    assert "联系员" in refused
