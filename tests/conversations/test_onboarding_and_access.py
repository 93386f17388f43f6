"""Joining by invite, refusing strangers, and what each role may do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage import officers
from storage.clock import FixedClock
from storage.creditcode import check_character
from storage.enums import Role
from storage.models import Assignment, AuditEntry, Draft, Enterprise, User
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, TODAY, Talk, World


async def _table_counts(factory: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with factory() as session:
        return (
            await session.scalar(select(func.count(User.id))) or 0,
            await session.scalar(select(func.count(Draft.id))) or 0,
            await session.scalar(select(func.count(AuditEntry.id))) or 0,
        )


async def test_invite_binds_the_account_greets_by_name_and_sets_role_commands(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    talk = Talk(emulator, emulator.user(601, "芳"))
    [greeting] = await talk.say(f"/start {world.officer_code}")
    assert "王芳同志，您好" in greeting and "【联系员】" in greeting and "宜昌市/枝江市" in greeting
    assert "您联系的企业：2 家（1 家超过走访周期未走访）" in greeting
    scoped = [c for c in emulator.calls_to("setMyCommands") if c.params.get("scope", {}).get("type") == "chat"]
    assert [cmd["command"] for cmd in scoped[-1].params["commands"]] == [
        "visit", "nominate", "feedback", "people", "mine", "found", "away", "back", "digest", "cancel", "help"]
    default = [c for c in emulator.calls_to("setMyCommands") if "scope" not in c.params]
    assert [cmd["command"] for cmd in default[-1].params["commands"]] == ["start", "help"]
    async with factory() as session:
        user = await session.scalar(select(User).where(User.telegram_user_id == 601))
        assert user is not None and user.name == "王芳"
    # /start again (no code) greets again instead of refusing.
    [again] = await talk.say("/start")
    assert "王芳同志，您好" in again
    assert emulator.violations == []


async def test_a_used_code_cannot_be_reused_by_someone_else(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await Talk(emulator, emulator.user(601, "芳")).say(f"/start {world.officer_code}")
    stranger = Talk(emulator, emulator.user(666, "陌生人"))
    before = await _table_counts(factory)
    [refused] = await stranger.say(f"/start {world.officer_code}")
    assert "已经用过了" in refused
    [refused] = await stranger.say("/visit")
    assert "您还没有加入" in refused
    assert await _table_counts(factory) == before  # nothing about the stranger was stored


async def test_expired_and_unknown_codes_are_refused(
    bot: Any, emulator: BotApiEmulator, world: World, clock: FixedClock
) -> None:
    talk = Talk(emulator, emulator.user(602, "某"))
    [refused] = await talk.say("/start not-a-real-code")
    assert "邀请码无效" in refused
    [refused] = await talk.say("/start " + "x" * 65)
    assert "邀请码无效" in refused
    clock.advance(timedelta(days=7, seconds=1))
    [refused] = await talk.say(f"/start {world.officer_code}")
    assert "已过期" in refused
    assert emulator.violations == []


async def test_strangers_get_a_polite_refusal_for_everything(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await _table_counts(factory)
    talk = Talk(emulator, emulator.user(700, "路人"))
    for text in ("/start", "/visit", "/mine", "/help", "/cancel", "你好", "/nonsense"):
        [reply] = await talk.say(text)
        assert reply == "您还没有加入。请向组织部索取邀请链接。"
    [reply] = await talk.photo()
    assert "您还没有加入" in reply
    await talk._after(talk.chat.forge_callback("f:1:1:~submit"))
    assert "您还没有加入" in talk.toasts()[-1]
    assert await _table_counts(factory) == before
    assert emulator.violations == []


async def test_supervisors_cannot_file_visits_and_see_their_own_help(
    bot: Any, emulator: BotApiEmulator, world: World
) -> None:
    talk = Talk(emulator, emulator.user(603, "督导"))
    [greeting] = await talk.say(f"/start {world.supervisor_code}")
    assert "【督导】" in greeting and "区域内企业：4 家" in greeting
    [refused] = await talk.say("/visit")
    assert "只供联系员使用" in refused
    [help_text] = await talk.say("/help")
    assert "督导" in help_text and "/visit" not in help_text


async def test_unknown_commands_and_free_text_without_a_form_get_guidance(officer: Talk) -> None:
    [reply] = await officer.say("/frobnicate")
    assert "没有这个命令" in reply
    [reply] = await officer.say("随便说点什么")
    assert "/visit" in reply
    [reply] = await officer.say("/cancel")
    assert "没有正在填写" in reply


async def test_mine_lists_overdue_first_with_last_visits(officer: Talk) -> None:
    [listing] = await officer.say("/mine")
    lines = listing.splitlines()
    assert lines[0] == "我的企业（2 家，1 家超期）"
    assert lines[1] == "1. ⚠ 枝江市楚韵纺织有限公司"
    assert "最近走访 10-11（45 天前）" in lines[2]
    assert lines[3] == "2. 枝江市白洋港机械制造有限公司"


async def test_help_is_written_for_each_role(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(factory) as uow:
        admin = await officers.create_invite(uow.session, role=Role.ADMIN, name="管理员", region="宜昌市", now=NOW)
        await uow.commit()
    helps = {}
    for user_id, code in ((801, world.officer_code), (802, world.supervisor_code), (803, admin.code)):
        talk = Talk(emulator, emulator.user(user_id, "某"))
        await talk.say(f"/start {code}")
        [helps[user_id]] = await talk.say("/help")
    assert "/visit" in helps[801] and "/mine" in helps[801]
    assert "督导" in helps[802] and "/visit" not in helps[802]
    assert "python -m bot invite" in helps[803] and "import-enterprises" in helps[803]


async def test_mine_pages_through_many_enterprises(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(factory) as uow:
        officer_id = await uow.session.scalar(select(User.id).where(User.name == "王芳"))
        for n in range(11):
            body = f"91420583MA4F1{n:04d}"
            enterprise = Enterprise(name=f"枝江测试企业{n:02d}", name_initials="", credit_code=body + check_character(body),
                                    region="宜昌市/枝江市")
            uow.session.add(enterprise)
            await uow.session.flush()
            uow.session.add(Assignment(enterprise_id=enterprise.id, officer_id=officer_id, started_on=TODAY))
        await uow.commit()
    [first] = await officer.say("/mine")
    assert "我的企业（13 家，12 家超期，第 1/2 页）" in first
    assert len(officer.buttons()) == 11 and officer.buttons()[0].startswith("1. ⚠ ")
    assert officer.buttons()[-1] == "下一页 ›"
    [second] = await officer.tap("下一页")
    assert "第 2/2 页" in second and "11. " in second and "13. " in second
    assert officer.buttons()[-1] == "‹ 上一页" and len(officer.buttons()) == 4
