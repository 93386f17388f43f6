"""The owner 业主: joins through a one-time link from the officer, sends requests about their own
enterprise, follows them, rates the service — and can do nothing else."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import AuditEntry, Draft, Feedback, OutboxMessage, User, Visit
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World

LINK = re.compile(r"https://t\.me/liaison_sandbox_bot\?start=([A-Za-z0-9_-]+)")


async def _owner_link(officer: Talk, enterprise: str = "枝江市楚韵纺织有限公司") -> str:
    await officer.say("/feedback")
    await officer.tap("🔗 生成业主链接")
    [message] = await officer.tap(enterprise)
    found = LINK.search(message)
    assert found is not None, message
    return found[1]


async def _owner(emulator: BotApiEmulator, officer: Talk, user_id: int = 777) -> Talk:
    code = await _owner_link(officer)
    owner = Talk(emulator, emulator.user(user_id, "总", last_name="张"))
    await owner.say(f"/start {code}")
    return owner


async def _send(owner: Talk, content: str = "想申请技改贷款，不清楚贴息政策。") -> list[str]:
    await owner.say("/feedback")
    await owner.tap("融资")
    await owner.say(content)
    await owner.tap("紧急")
    return await owner.tap("提交")


async def test_an_owner_joins_by_link_sends_a_request_follows_it_and_rates_the_service(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    await officer.say("/feedback")
    [ask] = await officer.tap("🔗 生成业主链接")
    assert "为哪家企业的业主生成链接" in ask
    [message] = await officer.tap("枝江市楚韵纺织有限公司")
    assert LINK.search(message) and "只能使用一次" in message and "7 天内有效" in message
    code = LINK.search(message)[1]  # type: ignore[index]

    owner = Talk(emulator, emulator.user(777, "总", last_name="张"))
    [greeting] = await owner.say(f"/start {code}")
    assert "【业主】" in greeting and "/feedback" in greeting
    async with factory() as session:
        user = await session.scalar(select(User).where(User.telegram_user_id == 777))
        assert user is not None and (user.role, user.enterprise_id) == ("owner", world.chuyun)
        assert user.region == "宜昌市/枝江市/马家店街道"

    [ask] = await owner.say("/feedback")
    assert "枝江市楚韵纺织有限公司" in ask  # the enterprise is fixed to theirs
    await owner.tap("融资")
    await owner.say("想申请技改贷款，不清楚贴息政策。")
    [card] = await owner.tap("紧急")
    assert "企业：枝江市楚韵纺织有限公司" in card and "类别：融资" in card and "紧急程度：紧急" in card
    before = len(officer.chat.messages)
    [receipt] = await owner.tap("提交")
    assert "已提交（编号 F-" in receipt
    # The officer looking after the enterprise hears of it at once.
    told = officer.chat.messages[before:]
    assert told and "反映了新诉求" in told[-1]["text"] and "技改贷款" in told[-1]["text"]

    [items] = await owner.tap("📋 我的诉求")
    assert "技改贷款" in items and "待办理" in items

    async with factory() as session:
        item = await session.scalar(select(Feedback))
        assert item is not None and (item.channel, item.enterprise_id, item.raised_by) == ("owner", world.chuyun,
                                                                                           user.name)
        assert item.owner_id == user.id and item.officer_id is None

    await officer.tap("📄 查看诉求")
    before = len(owner.chat.messages)
    await officer.tap("▶ 开始办理")
    assert "已开始办理" in owner.chat.messages[-1]["text"] and len(owner.chat.messages) == before + 1
    await officer.tap("✅ 已办结")
    [receipt] = await officer.say("已协助对接农商行技改贷款，贴息政策已当面讲解。")
    assert "已通知业主" in receipt
    notice = owner.chat.messages[-1]
    assert "已办结" in notice["text"] and "农商行" in notice["text"] and "打分" in notice["text"]
    assert owner.buttons() == ["1 ⭐", "2 ⭐", "3 ⭐", "4 ⭐", "5 ⭐"]
    await owner._after(owner.chat.tap("3 ⭐"))
    assert owner.toasts()[-1] == "感谢您的评价：3 星"
    async with factory() as session:
        item = await session.scalar(select(Feedback))
        assert item is not None and item.rating == 3
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "rate"))
        assert entry is not None and entry.actor_id == user.id and entry.after == {"rating": 3}
    # Rated once; the same stars pressed again change nothing.
    await owner.forge(f"rate:{item.id}:5")
    assert owner.toasts()[-1] == "这条诉求您已经评价过了，谢谢！"
    [card] = await officer.tap("📄 查看诉求")
    assert "业主评价：⭐⭐⭐（3 分）" in card
    assert emulator.violations == []


async def test_the_owner_greeting_names_their_enterprise(officer: Talk, emulator: BotApiEmulator) -> None:
    code = await _owner_link(officer)
    owner = Talk(emulator, emulator.user(777, "总", last_name="张"))
    [greeting] = await owner.say(f"/start {code}")
    assert "枝江市楚韵纺织有限公司" in greeting


async def test_the_owner_sees_their_requests_in_mine(officer: Talk, emulator: BotApiEmulator) -> None:
    owner = await _owner(emulator, officer)
    await _send(owner)
    [items] = await owner.say("/mine")
    assert "我的诉求" in items and "技改贷款" in items and "待办理" in items


async def test_the_link_cannot_be_used_twice(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    code = await _owner_link(officer)
    owner = Talk(emulator, emulator.user(777, "总"))
    await owner.say(f"/start {code}")
    stranger = Talk(emulator, emulator.user(778, "路人"))
    [refused] = await stranger.say(f"/start {code}")
    assert "已经用过了" in refused
    [refused] = await stranger.say("/feedback")
    assert "还没有加入" in refused
    async with factory() as session:
        assert await session.scalar(select(func.count(User.id)).where(User.role == "owner")) == 1
        assert await session.scalar(select(User).where(User.telegram_user_id == 778)) is None
    assert emulator.violations == []


async def test_a_new_link_retires_the_unused_one(officer: Talk, emulator: BotApiEmulator) -> None:
    first = await _owner_link(officer)
    second = await _owner_link(officer)
    late = Talk(emulator, emulator.user(779, "晚到"))
    [refused] = await late.say(f"/start {first}")
    assert "过期" in refused
    owner = Talk(emulator, emulator.user(777, "总"))
    [greeting] = await owner.say(f"/start {second}")
    assert "【业主】" in greeting


async def test_the_owner_can_do_nothing_else(
    officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    # An item of another enterprise in the same town, and one of the owner's own, still open.
    async with unit_of_work(factory) as uow:
        other = Feedback(enterprise_id=world.baiyang, raised_by="别家", channel="officer", category="other",
                         content="别家的诉求", urgency="normal", status="resolved", created_at=NOW)
        uow.session.add(other)
        await uow.commit()
        other_id = other.id
    owner = await _owner(emulator, officer)
    await _send(owner)
    async with factory() as session:
        own = await session.scalar(select(Feedback).where(Feedback.channel == "owner"))
        assert own is not None
        visits_before = await session.scalar(select(func.count(Visit.id)))

    for command in ("/visit", "/nominate", "/people", "/found", "/review", "/export"):
        [refused] = await owner.say(command)
        assert "只供" in refused or "没有这个命令" in refused, (command, refused)
    async with factory() as session:
        assert await session.scalar(select(Draft)) is None  # nothing was started
        assert await session.scalar(select(func.count(Visit.id))) == visits_before

    refusals: dict[str, str] = {
        f"rate:{other_id}:5": "这条诉求不属于您的企业。",
        f"fb:show:{other_id}": "这条诉求不在您的范围内。",
        f"rate:{own.id}:4": "诉求办结或关闭后才能评价。",
        f"rate:{own.id}:9": "请在 1 到 5 星之间选择。",
        f"fb:start:{own.id}": "只有联系员可以这样做。",
        f"fb:resolve:{own.id}": "只有联系员可以这样做。",
        f"fb:correct:{own.id}": "已超过 24 小时更正期限，或无权更正这条记录。",
        "fb:new": "只有联系员可以这样做。",
        f"fb:new:{world.chuyun}": "只有联系员可以这样做。",
        f"fb:link:{world.chuyun}": "只有联系员可以这样做。",
        "fb:page:1": "只有联系员可以这样做。",
        f"ent:show:{world.chuyun}": "这个按钮已失效。",
    }
    for data, toast in refusals.items():
        replies: list[Any] = await owner.forge(data)
        assert replies == [] and owner.toasts()[-1] == toast, (data, owner.toasts()[-1])
    async with factory() as session:
        assert (await session.get_one(Feedback, other_id)).rating is None
        assert (await session.get_one(Feedback, own.id)).status == "open"
        assert await session.scalar(select(func.count(User.id)).where(User.role == "owner")) == 1
    # Their own item opens, without any officer's buttons.
    [card] = await owner.forge(f"fb:show:{own.id}")
    assert "技改贷款" in card and owner.chat.buttons(owner.chat.last_message) == []
    assert emulator.violations == []


async def test_an_officers_rating_press_is_refused(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(factory) as uow:
        item = Feedback(enterprise_id=world.chuyun, raised_by="业主", channel="officer", category="other",
                        content="内容", urgency="normal", status="resolved", created_at=NOW)
        uow.session.add(item)
        await uow.commit()
        item_id = item.id
    await officer.forge(f"rate:{item_id}:5")
    assert officer.toasts()[-1] == "只有业主本人可以评价。"
    async with factory() as session:
        assert (await session.get_one(Feedback, item_id)).rating is None


async def test_an_owner_who_blocked_the_bot_does_not_fail_the_officers_action(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    owner = await _owner(emulator, officer)
    await _send(owner)
    owner.chat.block()
    await officer.say("/feedback")
    await officer.tap("📄 查看诉求")
    replies = await officer.tap("▶ 开始办理")
    # The officer's card still turns to 办理中; the owner's notice is dropped, not retried.
    assert replies and "办理中" in replies[-1]
    assert officer.toasts()[-1] == "已开始办理"
    async with factory() as session:
        item = await session.scalar(select(Feedback))
        assert item is not None and item.status == "in_progress"
        row = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.dedupe_key == f"notice:feedback:{item.id}:in_progress"))
        assert row is not None and row.status == "dropped"
        user = await session.scalar(select(User).where(User.telegram_user_id == 777))
        assert user is not None and user.blocked_bot is True
    # Pressed again (a stale card): answered, and no second notice queued.
    await officer.forge(f"fb:start:{item.id}")
    async with factory() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.dedupe_key.like("notice:feedback:%")))
        assert count == 1
    assert emulator.violations == []


async def test_a_rating_forged_onto_a_message_without_stars_is_stored_and_edits_nothing(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    # Found by tests/conversations/test_fuzz.py: the stars were taken off whatever message the
    # press came on; Telegram refuses taking off a keyboard that is not there.
    owner = await _owner(emulator, officer)
    await _send(owner)
    async with unit_of_work(factory) as uow:
        item = await uow.session.scalar(select(Feedback))
        assert item is not None
        item.status, item.resolution, item.closed_at = "resolved", "已办结", NOW
        await uow.commit()
    await owner.say("/help")  # the message the forged press comes on: no stars on it
    replies = await owner.forge(f"rate:{item.id}:4")
    assert replies == [] and owner.toasts()[-1] == "感谢您的评价：4 星"
    async with factory() as session:
        assert (await session.get_one(Feedback, item.id)).rating == 4
    assert emulator.violations == []
