"""An update the bot cannot parse (a field PTB requires missing, a newer Bot API shape) is
skipped, logged without its content and counted; the rest of its batch is handled, and
polling moves past it instead of fetching the same batch forever. The webhook side is in
test_webhook.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import ProcessedUpdate
from tests.conversations.conftest import World

# Personal data a log line must never show.
PRIVATE = "身份证号420583199001011234"


def without_date(user_id: int) -> dict[str, Any]:
    """A message without its `date`: PTB's Message cannot be built from it."""
    return {"message": {"message_id": 900, "chat": {"id": user_id, "type": "private"},
                        "from": {"id": user_id, "is_bot": False, "first_name": PRIVATE}, "text": PRIVATE}}


def fetched(emulator: BotApiEmulator, update_id: int) -> int:
    """How many getUpdates answers carried `update_id`."""
    return sum(any(u.get("update_id") == update_id for u in call.result or [])
               for call in emulator.calls_to("getUpdates") if call.ok)


async def test_an_unparseable_update_is_skipped_and_the_rest_of_its_batch_answered(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    officer, stranger = emulator.user(501, "芳", last_name="王"), emulator.user(599, "路人")
    # Queued together, so one getUpdates answer carries all three.
    first = officer.send_text(f"/start {world.officer_code}")
    bad = emulator.queue_raw(without_date(officer.id))
    last = stranger.send_text("/start")
    with caplog.at_level(logging.WARNING):
        await emulator.wait_processed(first)
        await emulator.wait_processed(last)
        await emulator.wait_confirmed(bad)
    assert "王芳同志，您好" in officer.plain() and "您还没有加入" in stranger.plain()
    assert fetched(emulator, bad) == 1 and bad not in emulator.world.processed
    assert bot.bot.unparseable_updates == 1
    [warning] = [r for r in caplog.records if str(bad) in r.getMessage()]
    assert warning.levelno == logging.WARNING and "KeyError" in warning.getMessage()
    assert PRIVATE not in caplog.text
    async with factory() as session:
        recorded = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert bad not in recorded and {first, last} <= recorded
    assert emulator.violations == []


async def test_an_unparseable_update_last_in_its_batch_is_confirmed_and_never_fetched_again(
    bot: Any, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession],
) -> None:
    officer = emulator.user(501, "芳", last_name="王")
    first = officer.send_text(f"/start {world.officer_code}")
    # A newer Bot API could send an object where PTB expects another shape.
    bad = emulator.queue_raw({"message": "not an object"})
    await emulator.wait_processed(first)
    await emulator.wait_confirmed(bad)
    # Alone in a batch, with nothing after it to move the offset, it is still passed.
    alone = emulator.queue_raw(without_date(officer.id))
    await emulator.wait_confirmed(alone)
    after = officer.send_text("/help")
    await emulator.wait_processed(after)
    assert fetched(emulator, bad) == 1 and fetched(emulator, alone) == 1
    assert bot.bot.unparseable_updates == 2
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)
                                    .where(ProcessedUpdate.update_id.in_([bad, alone]))) == 0
    assert emulator.violations == []
