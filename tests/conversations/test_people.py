"""The officer's people in development (/people) and the person card's actions."""

from __future__ import annotations

from datetime import date
from typing import Any

from jinja2.runtime import Macro
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from handlers import people as people_handlers
from output.render import LOCALES, environment
from storage import people
from storage.models import AuditEntry, Person, ReviewNote, User
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World


async def _person(factory: async_sessionmaker[AsyncSession], enterprise_id: int, name: str, stage: str,
                  applied_on: date, **dates: Any) -> int:
    """A person recorded by 王芳 a while ago (outside the correction window)."""
    async with unit_of_work(factory) as uow:
        officer = await uow.session.scalar(select(User).where(User.name == "王芳"))
        assert officer is not None
        new = people.NewPerson(enterprise_id=enterprise_id, officer_id=officer.id, name=name, gender="male",
                               birth_date=date(1990, 5, 12), stage=stage, applied_on=applied_on,
                               contacts=["张三", "李四"], **dates)
        person = await people.create(uow.session, new, actor_label="王芳", now=NOW.replace(year=2025))
        await uow.commit()
        return person.id


async def test_people_lists_stage_days_and_next_milestone_overdue_first(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _person(factory, world.baiyang, "新申请", "applicant", date(2026, 11, 20))
    await _person(factory, world.chuyun, "久未谈话", "applicant", date(2026, 10, 1))
    await _person(factory, world.chuyun, "老积极分子", "activist", date(2025, 10, 1), activist_on=date(2026, 1, 10))
    await _person(factory, world.yuanan, "外县的人", "applicant", date(2026, 11, 1))  # out of her region
    [text] = await officer.say("/people")
    assert "党员发展名单</b>" not in text and "党员发展名单：3 人，2 项已超期" in text
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("1. ")))
    assert lines[first] == "1. 老积极分子 · 入党积极分子 · 319 天 · 枝江市楚韵纺织有限公司"
    assert lines[first + 1].strip() == "⚠ 半年考察：已超期 138 天"
    assert lines[first + 2].startswith("2. 久未谈话 · 入党申请人 · 55 天")
    assert lines[first + 3].strip() == "⚠ 申请后谈话：已超期 24 天"
    assert lines[first + 4].startswith("3. 新申请 · 入党申请人 · 5 天")
    assert lines[first + 5].strip() == "⏳ 申请后谈话：25 天内（2026-12-20）"
    assert "外县的人" not in text
    assert officer.buttons() == ["1. ⚠ 老积极分子", "2. ⚠ 久未谈话", "3. 新申请"]

    [card] = await officer.tap("老积极分子")
    assert "老积极分子" in card and "阶段：入党积极分子（319 天）" in card
    assert "确定积极分子：2026-01-10" in card and "培养联系人：张三、李四" in card and "考察记录：0 次" in card
    assert "⚠ 半年考察：已超期 138 天（应于 2026-07-10 前），《细则》第十一条" in card
    assert "· 可列为发展对象：2027-01-10 起，《细则》第十三条" in card
    assert officer.buttons() == ["➡ 列为发展对象", "📝 考察记录", "✖ 退出"]  # no correction: recorded long ago
    assert emulator.violations == []


async def test_people_pages_ten_at_a_time(officer: Talk, world: World, factory: async_sessionmaker[AsyncSession]) -> None:
    for i in range(12):
        await _person(factory, world.chuyun, f"申请人{i:02d}", "applicant", date(2026, 11, 1))
    [text] = await officer.say("/people")
    assert "（第 1/2 页）" in text and "10. " in text and "11. " not in text
    assert officer.buttons()[-1] == "下一页 ›"
    [text] = await officer.tap("下一页")
    assert "（第 2/2 页）" in text and "11. " in text and "12. " in text


async def test_an_officer_without_people_is_told_how_to_start(officer: Talk) -> None:
    [text] = await officer.say("/people")
    assert "/nominate" in text


async def test_advancing_a_stage_checks_the_date(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    person_id = await _person(factory, world.chuyun, "李明", "applicant", date(2026, 10, 1))
    await officer.forge(people_handlers.person_button(person_id))
    [ask] = await officer.tap("确定为积极分子")
    assert ask == "确定为入党积极分子的日期？"
    await officer.tap("其他日期")
    [again] = await officer.say("2026-09-01")
    assert "不能早于递交入党申请书的日期（2026-10-01）" in again
    [card] = await officer.say("今天")
    assert "李明 → 入党积极分子" in card and "日期：2026-11-25" in card
    [receipt] = await officer.tap("提交")
    assert "李明 自 2026-11-25 起为入党积极分子" in receipt
    [card] = await officer.tap("人员卡片")
    assert "阶段：入党积极分子（0 天）" in card and "半年考察：2027-05-25 前" in card
    async with factory() as session:
        person = await session.get_one(Person, person_id)
        assert (person.stage, person.activist_on) == ("activist", date(2026, 11, 25))
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "advance"))
        assert entry is not None and entry.after == {"stage": "activist", "activist_on": "2026-11-25"}
    # The button of the older card is stale now: it would advance twice.
    await officer._after(officer.chat.tap("确定为积极分子"))
    assert "情况已经变化" in officer.toasts()[-1]
    assert emulator.violations == []


async def test_listing_a_development_object_needs_a_year_and_five_working_days_of_notice(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    young = await _person(factory, world.chuyun, "刚满半年", "activist", date(2025, 10, 1),
                          activist_on=date(2026, 5, 1))
    await officer.forge(people_handlers.person_button(young))
    await officer.tap("列为发展对象")
    [again] = await officer.tap("今天")
    assert "满一年后（《细则》第十三条），即不早于 2027-05-01" in again
    await officer.say("/cancel")

    ready = await _person(factory, world.chuyun, "满一年了", "activist", date(2025, 1, 10),
                          activist_on=date(2025, 6, 1))
    await officer.forge(people_handlers.person_button(ready))
    await officer.tap("列为发展对象")
    [ask] = await officer.tap("今天")
    assert "公示开始日期" in ask
    [again] = await officer.say("2026-11-23")  # Monday: two working days before today
    assert "不少于 5 个工作日" in again and "不早于 2026-11-28" in again
    [card] = await officer.say("2026-11-16")
    assert "满一年了 → 发展对象" in card and "公示开始：2026-11-16" in card
    await officer.tap("提交")
    async with factory() as session:
        person = await session.get_one(Person, ready)
        assert (person.stage, person.candidate_on, person.notice_started_on) == (
            "candidate", date(2026, 11, 25), date(2026, 11, 16))
    assert emulator.violations == []


async def test_a_review_note_moves_the_next_review_date(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    person_id = await _person(factory, world.chuyun, "李明", "activist", date(2025, 10, 1),
                              activist_on=date(2026, 1, 10))
    await officer.forge(people_handlers.person_button(person_id))
    [ask] = await officer.tap("考察记录")
    assert ask == "考察日期？"
    await officer.tap("今天")
    [receipt] = await officer.say("工作积极，按时参加学习。")
    assert "已保存 李明 的考察记录（2026-11-25）" in receipt and "下次考察：2027-05-25 前" in receipt
    [card] = await officer.tap("人员卡片")
    assert "考察记录：1 次，最近 2026-11-25：工作积极，按时参加学习。" in card
    assert "· 半年考察：2027-05-25 前（还有 181 天）" in card and "⚠ 半年考察" not in card
    [text] = await officer.say("/people")
    assert "项已超期" not in text
    async with factory() as session:
        note = await session.scalar(select(ReviewNote))
        assert note is not None and note.content == "工作积极，按时参加学习。"
        assert await session.scalar(select(AuditEntry).where(AuditEntry.entity == "review_note")) is not None
    assert emulator.violations == []


async def test_recording_the_talk_clears_the_overdue_talk(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    person_id = await _person(factory, world.chuyun, "李明", "applicant", date(2026, 10, 1))
    [card] = await officer.forge(people_handlers.person_button(person_id))
    assert "⚠ 申请后谈话：已超期 24 天（应于 2026-11-01 前），《细则》第七条" in card
    assert officer.buttons() == ["➡ 确定为积极分子", "🗣 记录谈话", "📝 考察记录", "✖ 退出"]
    [ask] = await officer.tap("记录谈话")
    assert ask == "申请后的谈话日期？"
    await officer.tap("其他日期")
    [again] = await officer.say("2026-09-30")
    assert "不能早于递交入党申请书的日期（2026-10-01）" in again
    [receipt] = await officer.say("10-09")
    assert "李明 的谈话（2026-10-09）" in receipt
    [card] = await officer.tap("人员卡片")
    assert "谈话：2026-10-09" in card and "申请后谈话" not in card and "记录谈话" not in officer.buttons()
    async with factory() as session:
        person = await session.get_one(Person, person_id)
        assert person.talked_on == date(2026, 10, 9)
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == "talk")) is not None
    assert emulator.violations == []


async def test_withdrawing_ends_development_and_keeps_the_record(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    person_id = await _person(factory, world.chuyun, "李明", "activist", date(2025, 10, 1),
                              activist_on=date(2026, 1, 10))
    await officer.forge(people_handlers.person_button(person_id))
    await officer.tap("退出")
    await officer.tap("其他日期")
    [again] = await officer.say("2026-01-01")
    assert "不能早于确定为入党积极分子的日期（2026-01-10）" in again
    await officer.say("今天")
    [card] = await officer.say("调离本企业")
    assert "李明 退出党员发展" in card and "原因：调离本企业" in card
    [receipt] = await officer.tap("提交")
    assert "李明 自 2026-11-25 起退出党员发展" in receipt
    [card] = await officer.tap("人员卡片")
    assert "阶段：<b>" not in card and "阶段：已退出" in card and "退出原因：调离本企业" in card
    assert "reply_markup" not in officer.chat.last_message  # nothing left to do
    async with factory() as session:
        person = await session.get_one(Person, person_id)
        assert (person.stage, person.withdrawn_on, person.activist_on) == ("withdrawn", date(2026, 11, 25),
                                                                          date(2026, 1, 10))
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == "withdraw")) is not None
    assert emulator.violations == []


async def test_forged_buttons_for_another_regions_person_are_refused(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    other = await _person(factory, world.yuanan, "外县的人", "applicant", date(2026, 11, 1))
    for data in (people_handlers.person_button(other), f"people:advance:{other}:activist",
                 f"people:review:{other}", f"people:withdraw:{other}", f"nominate:correct:{other}"):
        replies = await officer.forge(data)
        assert replies == []
        assert "不在您的负责区域" in officer.toasts()[-1] or "无权更正" in officer.toasts()[-1]
    async with factory() as session:
        person = await session.get_one(Person, other)
        assert person.stage == "applicant"
    assert emulator.violations == []


async def test_a_supervisor_sees_the_card_without_actions(
    bot: object, officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    person_id = await _person(factory, world.chuyun, "李明", "applicant", date(2026, 11, 1))
    supervisor = Talk(emulator, emulator.user(950, "督导"))
    await supervisor.say(f"/start {world.supervisor_code}")
    [card] = await supervisor.forge(people_handlers.person_button(person_id))
    assert "李明" in card and "reply_markup" not in supervisor.chat.last_message
    await supervisor.forge(f"people:advance:{person_id}:activist")
    assert "已失效" in supervisor.toasts()[-1]


def test_both_locales_have_the_same_people_labels() -> None:
    def macros(locale: str) -> dict[str, tuple[str, ...]]:
        module = environment().get_template(f"{locale}/people/labels.txt.j2").module
        return {name: tuple(value.arguments) for name, value in vars(module).items() if isinstance(value, Macro)}

    assert macros(LOCALES[0]) == macros(LOCALES[1])
