"""Founding records, the enterprise card, corrections within 24 hours, and supervisor review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.models import AuditEntry, Enterprise, Founding, PartyOrganisation, Review, Visit
from tests.conversations.conftest import Talk, World


async def _file_visit(officer: Talk, summary: str = "第一次的内容") -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    await officer.tap("没有变化")
    await officer.say(summary)
    await officer.tap("跳过")
    await officer.tap("跳过")
    await officer.tap("提交")


async def _supervisor(emulator: BotApiEmulator, world: World) -> Talk:
    talk = Talk(emulator, emulator.user(950, "督导"))
    await talk.say(f"/start {world.supervisor_code}")
    return talk


async def test_recording_a_founding_updates_the_enterprise(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    [ask] = await officer.say("/found")
    assert "哪家企业" in ask
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("单独组建")
    await officer.tap("党支部")
    await officer.tap("用这个名称")
    await officer.tap("今天")
    await officer.say("张建国")
    await officer.tap("出资人兼任")
    [again] = await officer.say("2")
    assert "3" in again  # fewer than three members cannot form an organisation
    await officer.say("5")
    [card] = await officer.tap("跳过")  # 隶属 is optional
    assert "类型：党支部（单独组建）" in card and "书记：张建国" in card
    [receipt] = await officer.tap("提交")
    assert "已记录（编号 O-" in receipt
    async with factory() as session:
        enterprise = await session.get_one(Enterprise, world.chuyun)
        founding = await session.scalar(select(Founding))
        assert founding is not None and enterprise.party_org_id == founding.organisation_id
        organisation = await session.get_one(PartyOrganisation, enterprise.party_org_id)
        assert (organisation.category, organisation.formation) == ("branch", "single")
        assert founding is not None and founding.members == 5 and founding.secretary == "张建国"
    assert emulator.violations == []


async def test_the_enterprise_card_shows_status_flags_and_next_actions(
    officer: Talk, world: World, emulator: BotApiEmulator
) -> None:
    await officer.say("/mine")
    [card] = await officer.tap("1. ⚠ 枝江市楚韵")
    assert "枝江市楚韵纺织有限公司" in card and "职工 120 人" in card and "无党组织" in card
    assert "百人以上企业未建党组织" in card  # 120 employees, no organisation: a priority
    assert "⚠ 已超期" in card and "王芳" in card
    assert "📝 填写走访" in officer.buttons() and "🚩 新建党组织" in officer.buttons()
    [listing] = await officer.tap("👥 党员发展")
    assert "还没有登记发展对象" in listing  # nobody in development at this enterprise yet
    [ask] = await officer.tap("📝 填写走访")
    assert ask == "走访日期？"  # the enterprise is already chosen
    assert emulator.violations == []


async def test_a_visit_can_be_corrected_for_24_hours_and_the_change_is_audited(
    officer: Talk, clock: FixedClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _file_visit(officer)
    [card] = await officer.tap("更正")
    assert "请确认更正" in card and "第一次的内容" in card
    await officer.tap("修改内容")
    await officer.say("改正后的内容")
    [receipt] = await officer.tap("提交")
    assert "已更正" in receipt
    async with factory() as session:
        visits = (await session.scalars(select(Visit).order_by(Visit.id))).all()
        assert len(visits) == 3 and visits[-1].summary == "改正后的内容"  # corrected, not a new visit
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.before == {"summary": "第一次的内容"} and entry.after == {
            "summary": "改正后的内容"}
    clock.advance(timedelta(hours=25))
    await officer._after(officer.chat.tap("更正"))
    assert "24 小时" in officer.toasts()[-1]


async def test_review_sends_a_record_back_and_the_correction_returns_to_review(
    bot: Any, officer: Talk, world: World, emulator: BotApiEmulator, clock: FixedClock,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await _file_visit(officer, "写得不清楚")
    supervisor = await _supervisor(emulator, world)
    replies = await supervisor.say("/review")
    assert "待审核" in replies[0] and any("写得不清楚" in r for r in replies)
    [ask] = await supervisor.tap("需修改")
    assert "需要修改什么" in ask
    before = len(officer.chat.messages)
    [receipt] = await supervisor.say("请写明企业反映的具体困难")
    assert "已退回修改" in receipt
    told = officer.chat.messages[before:]
    assert told and "需要修改" in told[-1]["text"] and "请写明企业反映的具体困难" in told[-1]["text"]
    # Well past 24 hours, a record that needs fixing may still be corrected.
    clock.advance(timedelta(days=3))
    [card] = await officer.tap("更正")
    assert "请确认更正" in card
    await officer.tap("修改内容")
    await officer.say("企业反映招工难，缺少熟练挡车工 20 人")
    await officer.tap("提交")
    async with factory() as session:
        review = await session.scalar(select(Review))
        assert review is not None and review.status == "pending"
    replies = await supervisor.say("/review")
    corrected = next(m for m in supervisor.chat.messages if "缺少熟练挡车工" in m["text"])
    await supervisor._after(supervisor.chat.tap("通过", message_id=corrected["message_id"]))
    assert supervisor.toasts()[-1] == "已通过"
    async with factory() as session:
        review = await session.scalar(select(Review))
        assert review is not None and review.status == "approved"
    # The fixture's two older visits still wait; the approved one is gone from the queue.
    replies = await supervisor.say("/review")
    assert len(replies) == 3 and not any("缺少熟练挡车工" in r for r in replies)
    for _ in range(2):
        await supervisor.tap("通过")
    [empty] = await supervisor.say("/review")
    assert empty == "暂无待审核的记录。"
    assert emulator.violations == []


async def test_review_is_for_supervisors_and_their_region_only(
    officer: Talk, world: World, emulator: BotApiEmulator
) -> None:
    [refused] = await officer.say("/review")
    assert "只供督导使用" in refused
    await _file_visit(officer)
    await officer._after(officer.chat.forge_callback("review:ok:v:1"))
    assert officer.toasts()[-1] == "这个按钮已失效。"


async def test_an_approval_tapped_twice_or_forged_off_its_card_edits_nothing_in_vain(
    bot: Any, officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    # Found by tests/conversations/test_fuzz.py: a verdict took the keyboard off whatever message
    # it arrived on, and Telegram refuses taking off a keyboard that is not there.
    await _file_visit(officer)
    supervisor = await _supervisor(emulator, world)
    await supervisor.say("/review")
    card = supervisor.chat.messages[-1]
    data = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    # Two quick taps: both presses carry the card with its keyboard.
    first = supervisor.chat.tap("通过", message_id=card["message_id"])
    second = supervisor.chat.tap("通过", message_id=card["message_id"])
    await emulator.wait_processed(first)
    await emulator.wait_processed(second)
    assert supervisor.toasts()[-2:] == ["已通过", "已通过"]
    assert supervisor.chat.buttons(supervisor.chat.messages[-1]) == []
    # The same verdict forged onto a message without buttons (the queue's heading).
    heading = next(m for m in supervisor.chat.messages if "reply_markup" not in m)
    replies = await supervisor._after(supervisor.chat.forge_callback(data, message_id=heading["message_id"]))
    assert replies == [] and supervisor.toasts()[-1] == "已通过"
    async with factory() as session:
        verdicts = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "review"))).all()
        assert len(verdicts) == 1  # approved once, not three times
    assert not any("出错" in m["text"] for m in supervisor.chat.messages)
    assert emulator.violations == []
