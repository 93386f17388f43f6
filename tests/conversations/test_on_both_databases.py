"""The main journey once more on each backend: SQLite and the real PostgreSQL.

Here `conversation_db` is the storage tests' `database_url`, so the same officer files the
same visit through the emulator with the draft rows locked FOR UPDATE on PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import Draft, Visit
from tests.conversations.conftest import Talk, World
from tests.conversations.test_blocked_bot import test_a_flagged_user_who_writes_is_reachable_again as writes_again
from tests.conversations.test_blocked_bot import (
    test_blocking_and_unblocking_are_recorded_without_a_word_to_the_user as blocks_and_unblocks,
)
from tests.conversations.test_edited_messages import (
    test_an_edited_summary_is_corrected_and_does_not_answer_the_follow_up as edited_summary,
)
from tests.conversations.test_party_organisations import (
    test_a_joint_branch_covers_three_enterprises_and_each_card_names_it as joint_branch,
)
from tests.conversations.test_party_organisations import (
    test_a_split_founds_branches_that_day_and_keeps_the_history as split,
)
from tests.conversations.test_visit import test_officer_files_a_visit_in_a_few_taps as full_journey


@pytest.fixture
def conversation_db(database_url: str) -> str:
    return database_url


async def test_the_visit_journey_runs_on_this_backend(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await full_journey(officer, world, factory, emulator)


async def test_a_joint_branch_is_founded_on_this_backend(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await joint_branch(officer, world, emulator, factory)


async def test_a_joint_branch_is_split_on_this_backend(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await split(officer, world, emulator, factory)


async def test_an_edited_summary_is_corrected_on_this_backend(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await edited_summary(officer, factory, emulator)


async def test_blocking_and_unblocking_on_this_backend(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await blocks_and_unblocks(officer, emulator, factory)


async def test_a_flagged_user_who_writes_is_reachable_again_on_this_backend(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    # The gate clears the flag in a unit of work of its own, beside the update's session.
    await writes_again(officer, emulator, factory)


async def test_quick_taps_on_this_backend_are_applied_in_order(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    # Three ticks sent before the bot answers any: each must see the one before it, and all
    # count, since they are presses on one and the same question.
    ids = [officer.chat.tap("宣传政策"), officer.chat.tap("帮助解决困难"), officer.chat.tap("其他")]
    for update_id in ids:
        await emulator.wait_processed(update_id)
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None
        assert draft.answers["_pending"] == ["policy", "help", "other"]
        assert await session.scalar(select(func.count(Visit.id))) == 2
    assert emulator.violations == []


async def test_forged_ids_too_large_for_the_database_are_refused_on_this_backend(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    # Found by tests/conversations/test_fuzz.py (FUZZ_DATABASE=postgresql): callback patterns took
    # ids of up to 12 digits, and PostgreSQL fails a query comparing its INTEGER ids with one
    # beyond 2³¹ ("integer out of range"), so every such forged press was a crash there.
    huge = 999_999_999_999
    for pattern in ("ent:show:{}", "visit:start:{}", "visit:correct:{}", "nominate:start:{}", "nominate:correct:{}",
                    "found:start:{}", "found:correct:{}", "org:change:{}", "fb:new:{}", "fb:link:{}", "fb:show:{}", "fb:start:{}",
                    "fb:correct:{}", "rate:{}:5", "review:ok:v:{}", "people:ent:{}", "people:page:1:e{}",
                    "people:show:{}", "people:talk:{}", "people:review:{}", "people:withdraw:{}",
                    "people:advance:{}:activist", "remind:later:{}", "remind:skip:{}"):
        replies = await officer.forge(pattern.format(huge))
        assert replies == [] and officer.toasts()[-1] == "这个按钮已失效。", (pattern, replies)
    # An enterprise key of a form button, on the draft's current question.
    await officer.say("/visit")
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None
    [again] = await officer.forge(f"f:{draft.id}:{draft.seq}:e{huge}")
    assert "走访哪家企业" in again and "出了点问题" not in again
    assert emulator.violations == []


async def test_nul_characters_typed_are_dropped_on_this_backend(
    officer: Talk, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    # Found by tests/conversations/test_fuzz.py (FUZZ_DATABASE=postgresql): PostgreSQL refuses a
    # NUL character in a text or JSON value, so a search or an answer holding one crashed there.
    await officer.say("/visit")
    await officer.tap("搜索其他企业")
    [found] = await officer.say("酒\x00业")
    assert "找到 1 家" in found
    await officer.tap("枝江市董市镇酒业有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    await officer.tap("没有变化")
    await officer.say("用工\x00难")
    await officer.tap("跳过")
    [card] = await officer.tap("跳过")
    assert "用工难" in card
    [receipt] = await officer.tap("提交")
    assert "已保存" in receipt
    async with factory() as session:
        visit = (await session.scalars(select(Visit).order_by(Visit.id.desc()))).first()
        assert visit is not None and visit.summary == "用工难"
    assert emulator.violations == []
