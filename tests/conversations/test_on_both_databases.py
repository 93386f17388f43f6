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
from tests.conversations.test_visit import test_officer_files_a_visit_in_a_few_taps as full_journey


@pytest.fixture
def conversation_db(database_url: str) -> str:
    return database_url


async def test_the_visit_journey_runs_on_this_backend(
    officer: Talk, world: World, factory: async_sessionmaker[AsyncSession], emulator: BotApiEmulator
) -> None:
    await full_journey(officer, world, factory, emulator)


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
