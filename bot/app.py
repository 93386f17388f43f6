"""Wiring: one place that builds the Application with every conversation (rules-bot style)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.config import Settings, proxies_from_environment
from bot.processor import PerChatUpdateProcessor
from bot.retry import TelegramRetry
from bot.sender import OutboxSender
from bot.transport import AiohttpRequest, TolerantBot
from handlers import (
    common,
    enterprise,
    feedback,
    founding,
    mine,
    nomination,
    org_change,
    owner,
    people,
    reminders,
    review,
    supervisor,
    visit,
)
from handlers import digest as digest_commands
from handlers.adapter import FormRunner
from handlers.context import BotContext, BotData
from handlers.forms import FormEngine
from storage.clock import Clock, SystemClock
from storage.db import make_async_engine, make_session_factory

logger = logging.getLogger(__name__)

# Each conversation module declares its FORMS and its handlers(); they are registered in this
# order, all before the fallbacks (which take any text or button left over for the open form).
MODULES = (visit, founding, org_change, nomination, people, feedback, owner, mine, supervisor, enterprise, review, reminders,
           digest_commands)
FORMS = tuple(form for module in MODULES for form in module.FORMS)
SANDBOX_TOKEN = "1000001:SANDBOX-offline-token"


def make_sender(settings: Settings, clock: Clock) -> OutboxSender:
    """The outbox sender as the settings configure it: the bot's time zone, locale and quiet
    hours. One per process: its pacing carries Telegram's limits from one drain to the next."""
    return OutboxSender(clock=clock, tz=settings.timezone, locale=settings.bot_locale,
                        quiet_hours=settings.quiet_window)


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_processed: Callable[[int], None] | None = None,
    scheduler: bool = False,
) -> Application[Any, BotContext, Any, Any, BotData, Any]:
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else SANDBOX_TOKEN
    clock = clock or SystemClock()
    session_factory = make_session_factory(make_async_engine(settings.database_url, pool_size=settings.database_pool_size))
    processor = PerChatUpdateProcessor(on_processed=on_processed, factory=session_factory, clock=clock)
    # 429s, 5xx, timeouts and dropped connections on the bot's own calls: what is retried and
    # what is not is bot/retry.py's policy.
    retry = TelegramRetry()
    # A Bot that skips an update it cannot parse rather than stalling polling on it, over aiohttp
    # rather than PTB's httpx client (a quarter of the CPU per call): both in bot/transport.py.
    # Its proxies are read here, once, not by aiohttp on every call.
    proxies = proxies_from_environment()
    telegram_bot = TolerantBot(
        token,
        base_url=settings.telegram_api_base_url,
        request=AiohttpRequest(read_timeout=settings.telegram_read_timeout, proxies=proxies),
        get_updates_request=AiohttpRequest(connection_pool_size=1, proxies=proxies),
        defaults=Defaults(tzinfo=settings.timezone),
        rate_limiter=retry,
    )
    application = (
        ApplicationBuilder()
        .bot(telegram_bot)
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .concurrent_updates(processor)
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
        .build()
    )
    processor.on_skipped = lambda update: common.after_redelivery(update, application.bot_data, application.bot)

    engine = FormEngine(FORMS)
    data: BotData = application.bot_data
    data.session_factory = session_factory
    runner = FormRunner(engine)
    data.runner = runner
    # One sender per process: its pacing carries Telegram's limits from one drain to the next.
    data.outbox = make_sender(settings, clock)
    data.answered = retry.answered
    data.clock = clock
    # Only `python -m bot run` schedules jobs; tests and the sandbox call the sweep themselves.
    data.scheduling = settings if scheduler else None
    data.tz = settings.timezone
    data.locale = settings.bot_locale

    # Group -1 runs first for every update: strangers stop here, known users get `member`.
    application.add_handler(common.gate_handler(), group=-1)
    # Group 0, first match wins: edited messages (before the commands, which PTB would run for
    # an edited `/visit` too) and blocking/unblocking, then commands, then form buttons, then
    # free input for the draft. The catch-all MessageHandler must come last, or it would
    # swallow commands.
    application.add_handlers([*common.handlers(runner), *(h for module in MODULES for h in module.handlers())])
    application.add_handlers(common.fallback_handlers(runner))
    application.add_error_handler(common.on_error)
    return application


async def on_startup(application: Application[Any, BotContext, Any, Any, BotData, Any]) -> None:
    locale = application.bot_data.locale
    await application.bot.set_my_commands(common.commands_for(None, common.DEFAULT_COMMANDS, locale))
    application.bot_data.bot_username = application.bot.username
    data = application.bot_data
    if data.scheduling is not None:
        from bot.leader import LeaderElection
        from bot.scheduler import Runtime, start_scheduler

        settings = data.scheduling

        async def elected() -> None:
            data.scheduler = await start_scheduler(Runtime(application.bot, data.session_factory, data.clock,
                                                           settings, data.outbox))

        async def deposed() -> None:
            if data.scheduler is not None:
                data.scheduler.shutdown(wait=False)
                data.scheduler = None

        # Only the leader runs the scheduler; the others take over if it goes away.
        data.leader = LeaderElection(settings.database_url, on_elected=elected, on_deposed=deposed,
                                     poll_seconds=settings.leader_poll_seconds)
        await data.leader.start()
    logger.info("Bot @%s ready", application.bot.username)


async def on_shutdown(application: Application[Any, BotContext, Any, Any, BotData, Any]) -> None:
    if application.bot_data.leader is not None:
        await application.bot_data.leader.stop()
    if application.bot_data.scheduler is not None:
        application.bot_data.scheduler.shutdown(wait=False)
    await application.bot_data.session_factory.kw["bind"].dispose()


def configure_logging(settings: Settings, level: int = logging.INFO, *, json_lines: bool = True) -> None:
    """Structured logs with the update as correlation id; the settings' secrets redacted."""
    from sqlalchemy.engine import make_url

    from bot import logs

    secrets = [s.get_secret_value() for s in (settings.telegram_bot_token, settings.webhook_secret) if s is not None]
    password = make_url(settings.database_url).password
    logs.configure(level, json_lines=json_lines, secrets=[*secrets, *([str(password)] if password else [])])
