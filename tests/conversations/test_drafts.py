"""The draft lives in the database: cancel, resume, restart and stale buttons."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.models import Draft, Visit
from tests.conversations.conftest import Talk, start_bot, stop_bot


async def _to_summary(officer: Talk) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    await officer.tap("没有变化")


@pytest.mark.parametrize("steps", [0, 1, 2, 4, 5, 6, 7, 8])
async def test_cancel_discards_the_draft_at_every_step(
    officer: Talk, factory: async_sessionmaker[AsyncSession], steps: int
) -> None:
    actions = [
        lambda: officer.tap("枝江市楚韵纺织有限公司"), lambda: officer.tap("今天"),
        lambda: officer.tap("宣传政策"), lambda: officer.tap("下一步"), lambda: officer.tap("没有变化"),
        lambda: officer.say("情况"), lambda: officer.tap("跳过"), lambda: officer.tap("跳过"),
    ]
    await officer.say("/visit")
    for action in actions[:steps]:
        await action()
    [reply] = await officer.say("/cancel")
    assert "已取消" in reply
    async with factory() as session:
        assert await session.scalar(select(Draft)) is None
        assert len((await session.scalars(select(Visit))).all()) == 2  # only the fixture's


async def test_an_unfinished_draft_is_offered_back(officer: Talk) -> None:
    await _to_summary(officer)
    [offer] = await officer.say("/visit")
    assert offer == "您有一份未完成的走访记录（枝江市楚韵纺织有限公司，11-25）。"
    assert officer.buttons() == ["继续填写", "放弃并新建"]
    [ask] = await officer.tap("继续填写")
    assert "走访情况" in ask
    await officer.say("/visit")
    [ask] = await officer.tap("放弃并新建")
    assert "走访哪家企业" in ask


async def test_a_button_on_an_old_question_is_recognised_as_stale(
    officer: Talk, factory: async_sessionmaker[AsyncSession]
) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    date_question = officer.chat.last_message
    assert date_question is not None
    await officer.tap("今天")
    replies = await officer._after(officer.chat.tap("昨天", message_id=date_question["message_id"]))
    assert replies == []
    assert officer.toasts()[-1] == "这个按钮已过期，请看最新的一条消息。"
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None and draft.answers["visit_date"] == "2026-11-25" and draft.step == "activities"


async def test_the_conversation_continues_after_a_restart(
    bot: Any, officer: Talk, emulator: BotApiEmulator, clock: FixedClock, factory: async_sessionmaker[AsyncSession],
) -> None:
    await _to_summary(officer)
    # The bot process goes away mid-conversation; a new one starts on the same database.
    await stop_bot(bot)
    second = await start_bot(emulator, clock)
    try:
        [ask] = await officer.say("重启后继续写的情况")
        assert "跟进" in ask
        await officer.tap("跳过")
        await officer.tap("跳过")
        [receipt] = await officer.tap("提交")
        assert "已保存" in receipt
    finally:
        await stop_bot(second)
    async with factory() as session:
        visit = (await session.scalars(select(Visit).order_by(Visit.id.desc()))).first()
        assert visit is not None and visit.summary == "重启后继续写的情况"
    assert emulator.violations == []


async def test_two_quick_taps_on_one_question_apply_once(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    first = officer.chat.tap("今天")
    second = officer.chat.tap("昨天")
    await emulator.wait_processed(first)
    await emulator.wait_processed(second)
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None and draft.answers["visit_date"] == "2026-11-25"
    assert officer.toasts()[-1] == "这个按钮已过期，请看最新的一条消息。"


@pytest.mark.parametrize("data", ["draft:", "draft:resume", "draft:resume:x", "draft:pause:1", "f:", "f:1:x:~submit"])
async def test_a_malformed_draft_or_form_button_is_answered(officer: Talk, emulator: BotApiEmulator,
                                                            data: str) -> None:
    # Found by tests/conversations/test_fuzz.py: `draft:` data that the draft buttons' pattern
    # did not match was left unanswered (the button kept spinning) instead of refused.
    await _to_summary(officer)
    replies = await officer.forge(data)
    assert replies == [] and officer.toasts()[-1] == "这个按钮已失效。"
    assert emulator.violations == []
