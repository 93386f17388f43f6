"""Edited messages: Telegram sends an `edited_message` when a user corrects what they typed. An
edit never answers the question asked now, nor runs a command; it corrects the free-text answer
it typed while the form is still open, and otherwise the user is told how to change an answer."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import Draft, Invite, User, Visit
from tests.conversations.conftest import Talk, World

SUMMARY = "与董事长交流了用工难问题"
CORRECTED = "与董事长交流了用工难问题，车间主任李明递交了入党申请书。"
NOT_TAKEN = "修改过的消息不会被当作回答"


async def _to_summary(officer: Talk) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    [ask] = await officer.tap("没有变化")
    assert "走访情况" in ask


async def _draft(factory: async_sessionmaker[AsyncSession]) -> Draft:
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None
        return draft


def _own_message(talk: Talk, text: str) -> int:
    """The message_id of the user's own message with this text."""
    chat = talk.emu.world.chats[talk.chat.id]
    return next(m["message_id"] for m in chat.messages.values()
                if m["from"]["id"] == talk.chat.id and m.get("text") == text)


async def test_an_edited_summary_is_corrected_and_does_not_answer_the_follow_up(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _to_summary(officer)
    [ask] = await officer.say(SUMMARY)
    assert "跟进" in ask

    [reply] = await officer.edit(CORRECTED)

    assert reply.startswith("已按修改后的消息更新“内容”。") and "跟进" in reply
    draft = await _draft(factory)
    assert draft.step == "follow_up" and "follow_up" not in draft.answers
    assert draft.answers["summary"] == {"text": CORRECTED}
    await officer.tap("跳过")
    [card] = await officer.tap("跳过")
    assert f"情况：{CORRECTED}" in card and "跟进：" not in card
    await officer.tap("提交")
    async with factory() as session:
        visit = await session.scalar(select(Visit).order_by(Visit.id.desc()))
        assert visit is not None and (visit.summary, visit.follow_up) == (CORRECTED, None)
    assert emulator.violations == []


async def test_an_edit_of_a_message_that_typed_no_answer_is_not_taken(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _to_summary(officer)
    await officer.say(SUMMARY)

    # The /visit that started the form, edited into /cancel: neither a command nor an answer.
    [reply] = await officer.edit("/cancel", _own_message(officer, "/visit"))

    assert reply.startswith(NOT_TAKEN) and "“✏ 修改…”" in reply and "跟进" in reply
    draft = await _draft(factory)
    assert draft.step == "follow_up" and "follow_up" not in draft.answers
    assert draft.answers["summary"] == {"text": SUMMARY}
    assert emulator.violations == []


async def test_an_edited_command_starts_nothing(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await officer.say("/help")

    [reply] = await officer.edit("/visit")

    assert reply == "修改过的消息不会被读取，请发一条新消息。已保存的记录，可以在回执上点“✏ 更正”来修改。"
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Draft)) == 0
    assert emulator.violations == []


async def test_a_too_long_edit_keeps_the_summary_typed_first(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await _to_summary(officer)
    await officer.say(SUMMARY)

    [reply] = await officer.edit("长" * 1501)

    assert "内容太长了（1501 字）" in reply and "修改没有生效，“内容”保持不变。" in reply and "跟进" in reply
    draft = await _draft(factory)
    assert (draft.step, draft.answers["summary"]) == ("follow_up", {"text": SUMMARY})
    assert emulator.violations == []


async def test_a_strangers_edit_redeems_no_invite_and_is_not_answered(
    bot: object, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    stranger = Talk(emulator, emulator.user(909, "路人"))
    [refusal] = await stranger.say("你好")
    assert refusal

    assert await stranger.edit(f"/start {world.officer_code}") == []

    async with factory() as session:
        invite = await session.scalar(select(Invite).where(Invite.code == world.officer_code))
        assert invite is not None and invite.used_at is None
        assert await session.scalar(select(User).where(User.telegram_user_id == 909)) is None
    assert emulator.violations == []
