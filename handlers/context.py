"""Typed access to what the wiring puts in `bot_data`, and the per-update context."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application, CallbackContext, ExtBot

from bot.clock import Clock, SystemClock
from storage.officers import Member

if TYPE_CHECKING:
    from bot.sender import OutboxSender
    from handlers.adapter import FormRunner
    from handlers.forms import FormEngine


class BotData:
    """Filled once by `bot.app.build_application`; handlers only read it."""

    session_factory: async_sessionmaker[AsyncSession]
    engine: FormEngine
    runner: FormRunner
    sender: OutboxSender
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

    def locale(self) -> str:
        if self.member is not None and self.member.locale:
            return self.member.locale
        return self.bot_data.locale
