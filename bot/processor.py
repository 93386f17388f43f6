"""Update processing: different chats concurrently, one chat strictly in order, each update once.

PTB's default processes all updates one by one; with `concurrent_updates` it processes them
in any order. An officer's two quick taps must not race on one draft, while fifty officers
should not wait for each other — so updates are serialised per chat with a lock.

An update Telegram delivers again (same update_id, after a crash or a webhook retry) is
skipped when it was handled already; see `storage.updates` for how "handled" is recorded in
the same transaction as the update's effect. Every log line written while an update is
processed carries its update_id (`bot.logs`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.logs import CORRELATION
from handlers.context import HANDLING
from storage import updates
from storage.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

NOTICE_EVERY = 60.0  # seconds: at most one "your input was kept" notice per chat in this time


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64,
                 on_processed: Callable[[int], None] | None = None,
                 factory: async_sessionmaker[AsyncSession] | None = None,
                 clock: Clock | None = None,
                 on_skipped: Callable[[Update], Awaitable[None]] | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        # Called with the update id once its handlers are done: the sandbox and the tests use
        # it to know when the bot has finished answering, without sleeping.
        self.on_processed = on_processed
        # Without a session factory (unit tests of the locking) updates are not deduplicated.
        self.factory = factory
        self.clock = clock or SystemClock()
        self.skipped = 0
        # Called for a skipped redelivery: its reply may have been lost in the crash.
        self.on_skipped = on_skipped
        self._notified: dict[int, float] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        token = CORRELATION.set(update_id)
        try:
            key = _chat_key(update)
            if key is None:
                await self._once(update, update_id, coroutine)
                return
            lock = self._locks.setdefault(key, asyncio.Lock())
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                async with lock:
                    await self._once(update, update_id, coroutine)
            finally:
                self._waiting[key] -= 1
                if not self._waiting[key]:  # forget idle chats, so the dict stays small
                    del self._waiting[key]
                    self._locks.pop(key, None)
        finally:
            CORRELATION.reset(token)
            if self.on_processed is not None and update_id is not None:
                self.on_processed(update_id)

    async def _once(self, update: object, update_id: int | None, coroutine: Awaitable[Any]) -> None:
        """Runs the handlers unless this update was handled before (checked under the chat's
        lock, so a redelivery queued behind the original sees its record)."""
        if update_id is None or self.factory is None:
            await coroutine
            return
        # The access gate's question (who is this?) is asked in the same statement: one round
        # trip instead of two for every update (`HandlingUpdate.sender`).
        sender_id = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
        sender = None
        # The session stays open for the update's first unit of work (`updates.take_session`).
        checked = self.factory()
        session: AsyncSession | None = checked
        try:
            if sender_id is None:
                already = await updates.seen(checked, update_id)
            else:
                already, sender = await updates.seen_with_sender(checked, update_id, sender_id)
        except Exception:  # the database is away: the handlers will say so to the user
            logger.warning("Could not check whether update %s was handled before", update_id, exc_info=True)
            already, sender_id = False, None
            await _closed(session)
            session = None
        if already:
            await _closed(session)
            self.skipped += 1
            logger.info("Update %s was handled before (redelivered); skipped", update_id)
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never awaited: close it so Python does not warn
            key = _chat_key(update)
            # After a crash Telegram redelivers a chat's unconfirmed updates together; one notice
            # for them is enough (only the last one's reply can have been lost).
            if self.on_skipped is not None and isinstance(update, Update) and key is not None \
                    and time.monotonic() - self._notified.get(key, -NOTICE_EVERY) >= NOTICE_EVERY:
                self._notified[key] = time.monotonic()
                try:
                    await self.on_skipped(update)
                except Exception:
                    logger.warning("Could not tell the user about the redelivered update", exc_info=True)
            return
        handling = updates.HandlingUpdate(update_id, self.clock.now(), sender_id=sender_id, sender=sender,
                                          session=session, factory=self.factory)
        token = HANDLING.set(handling)
        try:
            await coroutine
        finally:
            HANDLING.reset(token)
            # Not taken by a unit of work (no handler used the database): closed or used below.
            left, handling.session = handling.session, None
        try:
            await updates.record_if_unrecorded(self.factory, handling, left)
        except Exception:  # the database is away: the update was answered; a redelivery is rare
            logger.warning("Could not record update %s as handled", update_id, exc_info=True)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def _closed(session: AsyncSession | None) -> None:
    """Closes `session` (its connection goes back to the pool), whatever state it is in."""
    if session is None:
        return
    try:
        await session.close()
    except Exception:
        logger.warning("Could not close a session", exc_info=True)


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None
