"""A webhook retry can reach a second instance while the first still works on the update:
on PostgreSQL, both process it at once and it is applied once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update

from bot.app import build_application
from bot.config import Settings
from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.models import ProcessedUpdate, Visit
from tests.conftest import _truncate_all
from tests.conversations.conftest import Talk
from tests.conversations.test_redelivery import STEPS, _act

pytestmark = pytest.mark.postgres


@pytest.fixture
def conversation_db(pg_run_database: str | None) -> Iterator[str]:
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    _truncate_all(pg_run_database)
    yield pg_run_database


async def test_two_instances_given_the_same_update_at_once_apply_it_once(
    bot: Any, officer: Talk, emulator: BotApiEmulator, clock: FixedClock, factory: async_sessionmaker[AsyncSession],
) -> None:
    for kind, arg in STEPS[:-1]:
        await _act(officer, kind, arg)
    await bot.updater.stop()  # the polling instance steps aside; the confirm tap is delivered by hand
    confirm = officer.chat.tap("提交")
    [raw] = [u for u in emulator.world.pending_updates if u["update_id"] == confirm]
    apps = [build_application(Settings(_env_file=None), clock=clock) for _ in range(2)]
    for app in apps:
        await app.initialize()
    try:
        updates = [Update.de_json(raw, app.bot) for app in apps]
        await asyncio.gather(*(app.update_processor.process_update(update, app.process_update(update))
                               for app, update in zip(apps, updates, strict=True)))
    finally:
        for app in apps:
            await app.shutdown()
            await app.bot_data.session_factory.kw["bind"].dispose()
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Visit)) == 3
        assert await session.scalar(select(func.count()).where(ProcessedUpdate.update_id == confirm)) == 1
    receipts = [c for c in emulator.calls if "已保存" in str(c.params.get("text"))]
    assert len(receipts) == 1
    assert emulator.violations == []
