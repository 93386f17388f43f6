"""Glue between python-telegram-bot and the emulator (imported only where PTB is used)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from .server import BotApiEmulator

logger = logging.getLogger(__name__)

__all__ = ["MarkingUpdateProcessor"]


class MarkingUpdateProcessor(SimpleUpdateProcessor):
    """Reports every finished update to the emulator so tests can ``await wait_processed``.

    Pass it with ``ApplicationBuilder().concurrent_updates(MarkingUpdateProcessor(emu))``.
    """

    def __init__(self, emulator: BotApiEmulator, max_concurrent_updates: int = 1) -> None:
        super().__init__(max_concurrent_updates)
        self.emulator = emulator

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await super().do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                self.emulator.mark_processed(update.update_id)
