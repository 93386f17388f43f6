"""Webhook mode: Telegram (through the proxy) posts updates to this process over HTTP.

An aiohttp server with two routes:

- `POST <path of WEBHOOK_URL>`: refuses (403) a request without the right
  `X-Telegram-Bot-Api-Secret-Token` and (400) a body that is not an Update (a JSON object with
  an integer update_id), then processes the update and answers 200 only when its handlers are
  done. An instance that dies mid-update never answers, so Telegram delivers the update again
  (to this or another instance) and the update_id record makes sure it is applied once. PTB's
  own webhook server answers before processing, which would lose that update. An Update the
  bot cannot parse is answered 200 and skipped (`bot.transport.TolerantBot`).
- `GET /healthz`: 200 with `{"ok": true, ...}` when this instance can reach the database,
  503 otherwise — for the proxy's health checks; `unparseable_updates` counts the updates
  this instance skipped since it started.

Several instances can serve one bot: they share nothing but the database (drafts, outbox,
update records) and elect one scheduler leader between them (`bot.leader`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text
from telegram import Update

from bot.config import Settings
from bot.logs import INSTANCE

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
HEALTH_DB_TIMEOUT = 2.0


class WebhookServer:
    def __init__(self, application: Any, settings: Settings) -> None:
        if not settings.webhook_url or settings.webhook_secret is None:
            raise ValueError("webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET")
        self.application = application
        self.settings = settings
        self.path = urlsplit(settings.webhook_url).path or "/"
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self.path, self.receive)
        app.router.add_get(HEALTH_PATH, self.health)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        offered = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(offered, self._secret):
            logger.warning("Webhook request without the right secret token from %s refused", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            payload = await request.json(loads=json.loads)
        except Exception:  # not JSON (or not text): Telegram never sends that
            payload = None
        if not is_update(payload):
            logger.warning("Webhook request with a body that is not an update refused")
            return web.Response(status=400, text="bad request")
        application = self.application
        update = application.bot.parse_update(payload)
        if update is None:
            # From Telegram, but PTB cannot read it (logged and counted by the bot). Telegram
            # would send it again for a day if refused, holding back the updates behind it.
            return web.Response(status=200)
        # The same path an update takes in polling mode (per-chat order, once per update_id),
        # awaited here so the answer means "handled".
        await application.update_processor.process_update(update, application.process_update(update))
        return web.Response(status=200)

    async def health(self, _request: web.Request) -> web.Response:
        data = self.application.bot_data
        status = {"ok": True, "instance": INSTANCE, "leader": bool(data.leader and data.leader.is_leader),
                  "unparseable_updates": self.application.bot.unparseable_updates}
        try:
            async with data.session_factory() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), HEALTH_DB_TIMEOUT)
            status["database"] = "ok"
        except Exception as error:
            status.update(ok=False, database=type(error).__name__)
            return web.json_response(status, status=503)
        return web.json_response(status)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.webhook_listen, self.settings.webhook_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        logger.info("Webhook server listening on %s:%s%s", self.settings.webhook_listen, self.port, self.path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def is_update(payload: object) -> bool:
    """Whether a decoded webhook body is an Update as Telegram sends one: an object with an
    integer update_id (what else it holds is the bot's to parse)."""
    return isinstance(payload, dict) and type(payload.get("update_id")) is int  # bool is not an id


async def start(application: Any, settings: Settings) -> WebhookServer:
    """Starts the bot and its webhook server, and points Telegram at WEBHOOK_URL."""
    from bot.app import on_startup

    server = WebhookServer(application, settings)
    await application.initialize()
    await on_startup(application)
    await application.start()
    await server.start()
    # Every instance sets the same webhook; it is idempotent. Updates waiting at Telegram are
    # kept (no drop_pending_updates): they are someone's reports.
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    await application.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret.get_secret_value(),
                                      allowed_updates=Update.ALL_TYPES)
    return server


async def stop(application: Any, server: WebhookServer | None) -> None:
    """Stops taking updates first, then the bot. The webhook stays set for the other instances."""
    from bot.app import on_shutdown

    if server is not None:
        await server.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    await on_shutdown(application)


async def serve(application: Any, settings: Settings) -> None:
    """Runs the bot in webhook mode until SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = None
    try:
        server = await start(application, settings)
        await stopping.wait()
        logger.info("Stopping the webhook server")
    finally:
        await stop(application, server)
