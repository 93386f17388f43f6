"""Typed access to what the wiring puts in `bot_data`, and the per-update context.

How an update's database session reaches a handler, in one place: the update processor
(`bot/processor.py`) asks, before any handler runs, whether the update was handled before and
who sent it, in a session it keeps open; it sets `HANDLING` to that `storage.updates.HandlingUpdate`
for the handlers' task. A handler opens its unit of work with `context.unit_of_work()`, which
passes `context.handling` on to `storage.uow.unit_of_work`: the first unit of work takes over
that session (one connection per update), and its commit records the update as handled in the
same transaction as its effect. Nothing else reads `HANDLING`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update
from telegram.ext import Application, CallbackContext, ExtBot

from storage.clock import Clock, SystemClock
from storage.officers import Member, locale_of
from storage.uow import UnitOfWork, unit_of_work
from storage.updates import HandlingUpdate

# The update the current task is handling (set by `bot.processor` around the handlers).
HANDLING: ContextVar[HandlingUpdate | None] = ContextVar("handling_update", default=None)


class Outbox(Protocol):
    """Sends what the outbox holds now (the wiring's `bot.sender.OutboxSender`): a handler that
    queued a notice for someone else asks for it to go out at once, within Telegram's limits."""

    def drain(self, bot: Bot, factory: async_sessionmaker[AsyncSession], *, limit: int = ...) -> Awaitable[Any]: ...


class Forms(Protocol):
    """Starts and reopens forms for a command or a button (the wiring's `handlers.adapter.FormRunner`)."""

    async def start(self, update: Update, context: BotContext, form: str,
                    answers: dict[str, Any] | None = None) -> None: ...

    async def start_from_button(self, update: Update, context: BotContext, form: str,
                                pattern: re.Pattern[str]) -> None: ...

    async def reopen(self, update: Update, context: BotContext, form: str, pattern: re.Pattern[str]) -> None: ...


class BotData:
    """Filled once by `bot.app.build_application`; handlers only read it."""

    session_factory: async_sessionmaker[AsyncSession]
    runner: Forms
    outbox: Outbox
    bot_username: str
    clock: Clock
    tz: ZoneInfo
    locale: str

    def __init__(self) -> None:
        self.scheduling: Any = None  # bot.config.Settings when this process runs the scheduler
        self.scheduler: Any = None
        self.leader: Any = None  # bot.leader.LeaderElection when this process may run the scheduler
        self.clock = SystemClock()
        self.tz = ZoneInfo("Asia/Shanghai")
        self.locale = "zh_CN"
        # Whether the bot answered that callback query already (Telegram refuses a second
        # answer): the wiring sets the Bot API retry policy's memory of it.
        self.answered: Callable[[str], bool] = lambda query_id: False

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The per-update context. `member` is set by the access gate for a known user."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.member: Member | None = None

    @property
    def handling(self) -> HandlingUpdate | None:
        """The update being handled, as the update processor checked it (None in a job)."""
        return HANDLING.get()

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """The update's unit of work: on the session the processor opened for it (see above)."""
        return unit_of_work(self.bot_data.session_factory, self.handling)

    def locale(self) -> str:
        return locale_of(self.member.locale if self.member is not None else None, self.bot_data.locale)
