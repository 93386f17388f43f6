"""Update processing: different chats concurrently, one chat strictly in order.

PTB's default processes all updates one by one; with `concurrent_updates` it processes them
in any order. An officer's two quick taps must not race on one draft, while fifty officers
should not wait for each other — so updates are serialised per chat with a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64,
                 on_processed: Callable[[int], None] | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        # Called with the update id once its handlers are done: the sandbox and the tests use
        # it to know when the bot has finished answering, without sleeping.
        self.on_processed = on_processed

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        try:
            if key is None:
                await coroutine
                return
            lock = self._locks.setdefault(key, asyncio.Lock())
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                async with lock:
                    await coroutine
            finally:
                self._waiting[key] -= 1
                if not self._waiting[key]:  # forget idle chats, so the dict stays small
                    del self._waiting[key]
                    self._locks.pop(key, None)
        finally:
            if self.on_processed is not None and isinstance(update, Update):
                self.on_processed(update.update_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None
