"""Owners' requests 业主诉求 as an officer records and handles them, and as a supervisor sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from handlers.feedback import new_feedback_button, owner_link_button
from storage.clock import FixedClock
from storage.models import AuditEntry, Draft, Enterprise, Feedback
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World


async def _record(officer: Talk, content: str = "缺少熟练挡车工 20 人，希望帮助对接职业技术学校。") -> list[str]:
    """Files an item about 楚韵纺织 raised by the owner; returns the receipt."""
    await officer.say("/feedback")
    await officer.tap("➕ 登记新诉求")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("业主本人")
    await officer.tap("用工招工")
    await officer.say(content)
    await officer.tap("较急")
    return await officer.tap("提交")


async def _only_item(factory: async_sessionmaker[AsyncSession]) -> Feedback:
    async with factory() as session:
        item = await session.scalar(select(Feedback).order_by(Feedback.id.desc()))
        assert item is not None
        return item


async def test_an_officer_records_feedback_in_a_few_taps(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    [menu] = await officer.say("/feedback")
    assert "没有待办的诉求" in menu
    assert officer.buttons() == ["➕ 登记新诉求", "🔗 生成业主链接"]
    [ask] = await officer.tap("➕ 登记新诉求")
    assert "哪家企业的诉求" in ask
    await officer.tap("枝江市楚韵纺织有限公司")
    assert officer.buttons() == ["业主本人", "其他人"]
    [ask] = await officer.tap("其他人")
    assert "姓名和职务" in ask
    [ask] = await officer.say("李明 车间主任")
    assert "哪一类" in ask
    # Seven categories, two a row, so they fit a phone screen.
    assert officer.chat.buttons() == [["融资", "用工招工"], ["政策咨询", "审批办证"], ["市场拓展", "党建工作"], ["其他"]]
    [again] = await officer.say("招人")
    assert "请点选下面的按钮" in again
    [ask] = await officer.tap("用工招工")
    assert "诉求内容" in ask
    [again] = await officer.say("难" * 1001)
    assert "内容太长了（1001 字）" in again and "1000" in again
    [ask] = await officer.say("缺少熟练挡车工 <20> 人")
    assert "紧急程度" in ask and officer.buttons() == ["一般", "较急", "紧急"]
    [card] = await officer.tap("较急")
    assert "请确认" in card
    assert "企业：枝江市楚韵纺织有限公司" in card and "反映人：李明 车间主任" in card
    assert "类别：用工招工" in card and "内容：缺少熟练挡车工 <20> 人" in card and "紧急程度：较急" in card
    [receipt] = await officer.tap("提交")
    assert "已登记（编号 F-" in receipt
    assert officer.buttons() == ["📄 查看诉求"]

    item = await _only_item(factory)
    assert (item.enterprise_id, item.raised_by, item.channel) == (world.chuyun, "李明 车间主任", "officer")
    assert (item.category, item.urgency, item.status) == ("hiring", "urgent", "open")
    assert item.content == "缺少熟练挡车工 <20> 人"
    assert f"F-{item.id}" in receipt
    async with factory() as session:
        assert await session.scalar(select(Draft)) is None
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "feedback"))
        assert entry is not None and entry.action == "create" and entry.actor_label == "王芳"
    [card] = await officer.tap("📄 查看诉求")
    assert "待办理" in card and "李明 车间主任" in card and "已登记 0 天" in card
    assert officer.buttons() == ["▶ 开始办理", "✅ 已办结", "✖ 关闭", "✏ 更正"]
    assert emulator.violations == []


async def test_the_menu_lists_open_items_with_overdue_ones_marked(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    async with unit_of_work(factory) as uow:
        uow.session.add_all([
            Feedback(enterprise_id=world.dongshi, raised_by="赵厂长", channel="officer", category="financing",
                     content="贷款", urgency="normal", created_at=NOW - timedelta(days=9)),
            *(Feedback(enterprise_id=world.baiyang, raised_by="业主", channel="officer", category="policy",
                       content=f"第 {i} 件", urgency="normal", created_at=NOW - timedelta(days=2)) for i in range(11)),
            Feedback(enterprise_id=world.yuanan, raised_by="外县", channel="officer", category="other",
                     content="别的县", urgency="normal", created_at=NOW),
        ])
        await uow.commit()
    [menu] = await officer.say("/feedback")
    assert "待办 12 件" in menu and "1 件超过 7 天" in menu and "第 1/2 页" in menu
    buttons = officer.buttons()
    # Her own enterprises' items first; the unassigned one in her region after them, marked overdue.
    assert buttons[0] == "➕ 登记新诉求" and buttons[-2:] == ["更多 ›", "🔗 生成业主链接"]
    assert len(buttons) == 13 and all("白洋港" in b for b in buttons[1:11])
    [page] = await officer.tap("更多 ›")
    assert "第 2/2 页" in page
    assert any(b.startswith("⚠ F-") and "董市镇" in b and "9天" in b for b in officer.buttons())
    assert "‹ 上一页" in officer.buttons()
    assert emulator.violations == []


async def test_an_item_moves_open_in_progress_resolved_with_a_note(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer)
    await officer.tap("📄 查看诉求")
    [card] = await officer.tap("▶ 开始办理")
    assert "办理中" in card and officer.toasts()[-1] == "已开始办理"
    assert officer.buttons()[:2] == ["✅ 已办结", "✖ 关闭"]
    [ask] = await officer.tap("✅ 已办结")
    assert "办理结果" in ask
    [again] = await officer.say("   ")
    assert "不能为空" in again
    [receipt] = await officer.say("已对接枝江职院，下月首批 12 名学员到岗。")
    assert "已改为【已办结】" in receipt
    item = await _only_item(factory)
    assert item.status == "resolved" and item.resolution == "已对接枝江职院，下月首批 12 名学员到岗。"
    assert item.closed_at == NOW
    async with factory() as session:
        moves = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "transition")
                                       .order_by(AuditEntry.id))).all()
        assert [(m.before or {}).get("status") for m in moves] == ["open", "in_progress"]
        assert [(m.after or {}).get("status") for m in moves] == ["in_progress", "resolved"]
    [card] = await officer.tap("📄 查看诉求")
    assert "已办结" in card and "办理结果：已对接枝江职院" in card
    assert emulator.violations == []


async def test_an_open_item_is_closed_with_a_note(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer)
    await officer.tap("📄 查看诉求")
    [ask] = await officer.tap("✖ 关闭")
    assert "关闭的原因" in ask
    [receipt] = await officer.say("企业已自行解决。")
    assert "已改为【已关闭】" in receipt
    item = await _only_item(factory)
    assert (item.status, item.resolution, item.closed_at) == ("closed", "企业已自行解决。", NOW)
    assert emulator.violations == []


async def test_a_resolved_item_offers_no_more_transitions_and_stale_presses_are_answered(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer)
    await officer.tap("📄 查看诉求")
    old_card = officer.chat.last_message
    assert old_card is not None
    await officer.tap("✅ 已办结")
    await officer.say("已解决。")
    [card] = await officer.tap("📄 查看诉求")
    assert "已办结" in card
    assert not any(b in officer.buttons() for b in ("▶ 开始办理", "✅ 已办结", "✖ 关闭"))
    # The buttons of the card shown before it was resolved are still on the screen.
    replies = await officer._after(officer.chat.tap("▶ 开始办理", message_id=old_card["message_id"]))
    assert replies == [] and officer.toasts()[-1] == "这条诉求现在是【已办结】，这个操作已不适用。"
    await officer._after(officer.chat.tap("✖ 关闭", message_id=old_card["message_id"]))
    assert "这个操作已不适用" in officer.toasts()[-1]
    item = await _only_item(factory)
    assert item.status == "resolved" and item.resolution == "已解决。"
    assert emulator.violations == []


async def test_an_item_can_be_corrected_for_24_hours_and_the_change_is_audited(
    officer: Talk, clock: FixedClock, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer, "第一次写的内容")
    await officer.tap("📄 查看诉求")
    [card] = await officer.tap("✏ 更正")
    assert "请确认更正" in card and "第一次写的内容" in card and "反映人：业主本人" in card
    await officer.tap("修改内容")
    await officer.say("改正后的内容")
    await officer.tap("修改类别")
    [card] = await officer.tap("融资")
    assert "类别：融资" in card and "改正后的内容" in card
    [receipt] = await officer.tap("提交")
    assert "已更正（编号 F-" in receipt
    async with factory() as session:
        items = (await session.scalars(select(Feedback))).all()
        assert len(items) == 1 and (items[0].content, items[0].category) == ("改正后的内容", "financing")
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.entity == "feedback"
        assert entry.before == {"content": "第一次写的内容", "category": "hiring"}
        assert entry.after == {"content": "改正后的内容", "category": "financing"}
    clock.advance(timedelta(hours=25))
    await officer.tap("📄 查看诉求")
    assert "✏ 更正" not in officer.buttons()
    await officer._after(officer.chat.tap("✏ 更正"))  # the button on the older card
    assert "24 小时" in officer.toasts()[-1]
    assert emulator.violations == []


async def test_a_voice_note_can_be_the_content(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await officer.say("/feedback")
    await officer.tap("➕ 登记新诉求")
    await officer.tap("枝江市白洋港机械制造有限公司")
    await officer.tap("业主本人")
    await officer.tap("融资")
    await officer.voice()
    [card] = await officer.tap("一般")
    assert "内容：（语音）" in card
    await officer.tap("提交")
    [card] = await officer.tap("📄 查看诉求")
    assert "（语音留言）" in card
    item = await _only_item(factory)
    assert item.content.startswith("voice:")
    assert emulator.violations == []


async def test_an_item_outside_the_region_is_refused(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    async with unit_of_work(factory) as uow:
        other = Feedback(enterprise_id=world.yuanan, raised_by="外县", channel="officer", category="other",
                         content="别的县的诉求", urgency="normal", created_at=NOW)
        uow.session.add(other)
        await uow.commit()
        other_id = other.id
    for data in (f"fb:show:{other_id}", f"fb:start:{other_id}", f"fb:resolve:{other_id}"):
        replies = await officer.forge(data)
        assert replies == [] and officer.toasts()[-1] == "这条诉求不在您的范围内。"
    await officer.forge(f"fb:correct:{other_id}")
    assert "24 小时" in officer.toasts()[-1]
    async with factory() as session:
        assert (await session.get_one(Feedback, other_id)).status == "open"
    assert emulator.violations == []


async def test_a_supervisor_sees_and_handles_items_in_their_scope_only(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer, "需要政策解读")
    async with unit_of_work(factory) as uow:
        wuhan = Enterprise(name="武汉某公司", credit_code="91420100MA4F0000X5", region="武汉市/江岸区")
        uow.session.add(wuhan)
        await uow.session.flush()
        outside = Feedback(enterprise_id=wuhan.id, raised_by="外市", channel="officer", category="other",
                           content="外市的诉求", urgency="normal", created_at=NOW)
        uow.session.add(outside)
        await uow.commit()
        outside_id = outside.id
    supervisor = Talk(emulator, emulator.user(950, "督导"))
    await supervisor.say(f"/start {world.supervisor_code}")
    [menu] = await supervisor.say("/feedback")
    assert "待办 1 件" in menu
    assert "➕ 登记新诉求" not in supervisor.buttons() and "🔗 生成业主链接" not in supervisor.buttons()
    [card] = await supervisor.tap("F-")
    assert "需要政策解读" in card and "枝江市楚韵纺织有限公司" in card
    assert "✏ 更正" not in supervisor.buttons()  # only the author corrects
    await supervisor.forge(f"fb:show:{outside_id}")
    assert supervisor.toasts()[-1] == "这条诉求不在您的范围内。"
    await supervisor.forge("fb:new")
    assert supervisor.toasts()[-1] == "只有联系员可以这样做。"
    assert emulator.violations == []


async def test_an_unfinished_request_is_offered_back_by_name(officer: Talk, emulator: BotApiEmulator) -> None:
    await officer.say("/feedback")
    await officer.tap("➕ 登记新诉求")
    await officer.tap("枝江市楚韵纺织有限公司")
    [offer] = await officer.say("/visit")
    assert "未完成的业主诉求登记（枝江市楚韵纺织有限公司）" in offer
    [ask] = await officer.tap("继续填写")
    assert "是谁反映的" in ask
    assert emulator.violations == []


async def test_resolving_while_another_form_is_open_carries_the_item_into_the_new_form(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _record(officer)
    await officer.tap("📄 查看诉求")
    await officer.say("/visit")  # a visit draft is now open
    [offer] = await officer.tap("✅ 已办结")
    assert "未完成的走访记录" in offer
    [ask] = await officer.tap("放弃并新建")
    assert "办理结果" in ask
    await officer.say("已协调人社局专场招聘会")
    assert (await _only_item(factory)).status == "resolved"
    assert emulator.violations == []


async def test_the_enterprise_card_buttons_start_with_the_enterprise_chosen(
    officer: Talk, world: World, emulator: BotApiEmulator
) -> None:
    [ask] = await officer.forge(new_feedback_button(world.chuyun))
    assert ask == "是谁反映的？"
    await officer.say("/cancel")
    [ask] = await officer.forge(new_feedback_button(world.yuanan))  # another county: choose again
    assert "哪家企业的诉求" in ask
    await officer.say("/cancel")
    [link] = await officer.forge(owner_link_button(world.baiyang))
    assert "枝江市白洋港机械制造有限公司" in link and "https://t.me/liaison_sandbox_bot?start=" in link
    replies = await officer.forge(owner_link_button(world.yuanan))
    assert replies == [] and officer.toasts()[-1] == "这家企业不在您的负责区域内。"
    assert emulator.violations == []


async def test_a_supervisor_with_nothing_open_gets_a_plain_answer(
    bot: Any, emulator: BotApiEmulator, world: World
) -> None:
    supervisor = Talk(emulator, emulator.user(951, "督导"))
    await supervisor.say(f"/start {world.supervisor_code}")
    [menu] = await supervisor.say("/feedback")
    assert menu and supervisor.chat.last_message is not None
    assert "reply_markup" not in supervisor.chat.last_message
    assert emulator.violations == []
