"""Updates Telegram delivers again (same update_id) are applied once.

Telegram redelivers what a crashed bot never confirmed. Each case here files part of a visit,
"crashes" (the bot stops and the emulator hands the same updates out again, as Telegram does
after a restart), and checks that the redelivered updates change nothing and get no second
answer, then that the conversation carries on to exactly one saved visit.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.models import Draft, ProcessedUpdate, Visit
from tests.conversations.conftest import Talk, start_bot, stop_bot

STEPS = [("say", "/visit"), ("tap", "枝江市楚韵纺织有限公司"), ("tap", "今天"), ("tap", "宣传政策"), ("tap", "下一步"),
         ("tap", "没有变化"), ("say", "与董事长交流了用工难问题"), ("tap", "跳过"), ("tap", "跳过"), ("tap", "提交")]


async def _visits(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Visit)) or 0)


async def _draft(factory: async_sessionmaker[AsyncSession]) -> tuple[str, int] | None:
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        return (draft.step, draft.seq) if draft else None


async def _act(officer: Talk, kind: str, arg: str) -> int:
    update_id = officer.chat.send_text(arg) if kind == "say" else officer.chat.tap(arg)
    await officer.emu.wait_processed(update_id)
    return update_id


@pytest.mark.parametrize("done", range(1, len(STEPS) + 1))
async def test_redelivered_updates_after_a_crash_are_not_applied_again(
    bot: Any, officer: Talk, emulator: BotApiEmulator, clock: FixedClock, factory: async_sessionmaker[AsyncSession],
    done: int,
) -> None:
    ids = [await _act(officer, kind, arg) for kind, arg in STEPS[:done]]
    visits, draft = await _visits(factory), await _draft(factory)
    await stop_bot(bot)
    # The crash: Telegram never got the confirmation of the last three updates.
    redelivered = ids[-3:]
    emulator.redeliver(*redelivered)
    start = len(emulator.calls)
    second = await start_bot(emulator, clock)
    try:
        for update_id in redelivered:
            emulator.world.processed.discard(update_id)
            await emulator.wait_processed(update_id)
        replies = [c for c in emulator.calls[start:] if c.method in ("sendMessage", "editMessageText")]
        # Nothing is applied again; while a form is open, the user learns their input was kept
        # (the crash may have eaten the reply) and gets the button to the current question.
        if draft is None:
            assert replies == []
        else:
            [notice] = replies  # one for the batch: only the last one's reply can have been lost
            assert "已经保存" in str(notice.params["text"])
            assert officer.buttons() == ["继续填写"]
        assert second.update_processor.skipped == len(redelivered)
        assert (await _visits(factory), await _draft(factory)) == (visits, draft)
        if draft is not None:
            [ask] = await officer.tap("继续填写")
            assert "已经保存" not in ask
        for kind, arg in STEPS[done:]:
            await _act(officer, kind, arg)
    finally:
        await stop_bot(second)
    assert await _visits(factory) == 3  # the fixture's two, and this one
    assert emulator.violations == []


async def test_a_redelivery_racing_the_original_in_the_same_instance_is_skipped(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession], bot: Any
) -> None:
    for kind, arg in STEPS[:-1]:
        await _act(officer, kind, arg)
    confirm = officer.chat.tap("提交")
    emulator.redeliver(confirm)  # queued right behind the original, same chat
    await emulator.wait_processed(confirm)
    receipts = [c for c in emulator.calls_to("editMessageText") + emulator.calls_to("sendMessage")
                if "已保存" in str(c.params.get("text"))]
    assert len(receipts) == 1  # the visit is saved and the draft gone: nothing more to say
    assert await _visits(factory) == 3


async def test_every_handled_update_is_recorded_once_including_read_only_ones(
    officer: Talk, factory: async_sessionmaker[AsyncSession]
) -> None:
    help_id = officer.chat.send_text("/help")  # changes nothing
    await officer.emu.wait_processed(help_id)
    visit_id = await _act(officer, "say", "/visit")  # writes a draft
    async with factory() as session:
        rows = set((await session.scalars(select(ProcessedUpdate.update_id))).all())
    assert {help_id, visit_id} <= rows
