"""Wiring: one place that builds the Application with every conversation (rules-bot style)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.processor import PerChatUpdateProcessor
from bot.sender import OutboxSender
from handlers import common, enterprise, feedback, founding, nomination, owner, people, reminders, review, supervisor, visit
from handlers import digest as digest_commands
from handlers.adapter import FormRunner
from handlers.context import BotContext, BotData
from handlers.forms import FormEngine
from storage.db import make_async_engine, make_session_factory

logger = logging.getLogger(__name__)

# Each conversation module declares its FORMS and its handlers(); they are registered in this
# order, all before the fallbacks (which take any text or button left over for the open form).
MODULES = (visit, founding, nomination, people, feedback, owner, supervisor, enterprise, review, reminders, digest_commands)
FORMS = tuple(form for module in MODULES for form in module.FORMS)
SANDBOX_TOKEN = "1000001:SANDBOX-offline-token"


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_processed: Callable[[int], None] | None = None,
    scheduler: bool = False,
) -> Application[Any, BotContext, Any, Any, BotData, Any]:
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else SANDBOX_TOKEN
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .concurrent_updates(PerChatUpdateProcessor(on_processed=on_processed))
        .defaults(Defaults(tzinfo=settings.timezone))
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
    )
    application = builder.build()

    engine = FormEngine(FORMS)
    data: BotData = application.bot_data
    data.session_factory = make_session_factory(make_async_engine(settings.database_url))
    data.engine = engine
    data.runner = FormRunner(engine)
    # One sender per process: its pacing carries Telegram's limits from one drain to the next.
    data.sender = OutboxSender(clock=clock or SystemClock(), tz=settings.timezone, timer=time.monotonic)
    data.clock = clock or SystemClock()
    # Only `python -m bot run` schedules jobs; tests and the sandbox call the sweep themselves.
    data.scheduling = settings if scheduler else None
    data.tz = settings.timezone
    data.locale = settings.bot_locale

    # Group -1 runs first for every update: strangers stop here, known users get `member`.
    application.add_handler(common.gate_handler(), group=-1)
    # Group 0, first match wins: commands, then form buttons, then free input for the draft.
    # The catch-all MessageHandler must come last, or it would swallow commands.
    application.add_handlers([*common.handlers(), *(h for module in MODULES for h in module.handlers())])
    application.add_handlers(common.fallback_handlers(data.runner))
    application.add_error_handler(common.on_error)
    return application


async def on_startup(application: Application[Any, BotContext, Any, Any, BotData, Any]) -> None:
    locale = application.bot_data.locale
    await application.bot.set_my_commands(common.commands_for(None, common.DEFAULT_COMMANDS, locale))
    application.bot_data.bot_username = application.bot.username
    data = application.bot_data
    if data.scheduling is not None:
        from bot.scheduler import Runtime, start_scheduler

        data.scheduler = start_scheduler(Runtime(application.bot, data.session_factory, data.clock, data.scheduling,
                                                 data.sender))
    logger.info("Bot @%s ready", application.bot.username)


async def on_shutdown(application: Application[Any, BotContext, Any, Any, BotData, Any]) -> None:
    if application.bot_data.scheduler is not None:
        application.bot_data.scheduler.shutdown(wait=False)
    await application.bot_data.session_factory.kw["bind"].dispose()


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request URL, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
