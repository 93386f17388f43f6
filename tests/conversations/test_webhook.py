"""Webhook mode in one process: the secret header, the health endpoint, a conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import webhook
from bot.app import build_application
from bot.config import Settings
from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.models import ProcessedUpdate, Visit
from tests.conversations.conftest import Talk, World
from tests.conversations.test_redelivery import STEPS, _act
from tests.conversations.test_unparseable_updates import PRIVATE, without_date
from tests.proxy import free_port

SECRET = "hook-secret_0123456789"


@pytest.fixture
async def hooked(
    emulator: BotApiEmulator, conversation_db: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Any, webhook.WebhookServer]]:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", emulator.base_url)
    monkeypatch.setenv("DATABASE_URL", conversation_db)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    port = free_port()
    settings = Settings(_env_file=None, webhook_url=f"http://127.0.0.1:{port}/telegram/hook", webhook_secret=SECRET,
                        webhook_listen="127.0.0.1", webhook_port=port)
    app = build_application(settings, clock=clock, on_processed=emulator.mark_processed)
    server = await webhook.start(app, settings)
    try:
        yield app, server
    finally:
        await webhook.stop(app, server)


async def test_a_conversation_runs_through_the_webhook(
    hooked: tuple[Any, webhook.WebhookServer], emulator: BotApiEmulator, world: World,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    assert emulator.world.webhook_secret == SECRET and emulator.world.webhook_url.endswith("/telegram/hook")
    officer = Talk(emulator, emulator.user(501, "芳", last_name="王"))
    [welcome] = await officer.say(f"/start {world.officer_code}")
    assert "王芳同志，您好" in welcome
    for kind, arg in STEPS:
        await _act(officer, kind, arg)
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Visit)) == 3
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == len(STEPS) + 1
    assert emulator.world.webhook_last_error is None
    assert emulator.violations == []


@pytest.mark.parametrize("header", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
async def test_requests_without_the_right_secret_are_refused(
    hooked: tuple[Any, webhook.WebhookServer], header: str | None, factory: async_sessionmaker[AsyncSession],
) -> None:
    _, server = hooked
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 501, "type": "private"},
                                          "from": {"id": 501, "is_bot": False, "first_name": "x"}, "text": "/help"}}
    headers = {} if header is None else {webhook.SECRET_HEADER: header}
    async with aiohttp.ClientSession() as session, session.post(
        f"http://127.0.0.1:{server.port}/telegram/hook", json=update, headers=headers
    ) as response:
        assert response.status == 403
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0


async def test_a_body_that_is_not_an_update_is_refused(hooked: tuple[Any, webhook.WebhookServer]) -> None:
    _, server = hooked
    async with aiohttp.ClientSession() as session:
        for body in (b"not json", b"[1, 2]", b'{"no": "update_id"}'):
            async with session.post(f"http://127.0.0.1:{server.port}/telegram/hook", data=body,
                                    headers={webhook.SECRET_HEADER: SECRET}) as response:
                assert response.status == 400


async def test_an_unparseable_update_is_acknowledged_skipped_and_counted(
    hooked: tuple[Any, webhook.WebhookServer], emulator: BotApiEmulator, world: World,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    _, server = hooked
    officer, stranger = emulator.user(501, "芳", last_name="王"), emulator.user(599, "路人")
    first = officer.send_text(f"/start {world.officer_code}")
    bad = emulator.queue_raw(without_date(officer.id))
    last = stranger.send_text("/start")
    for update_id in (first, bad, last):
        await emulator.wait_delivered(update_id, timeout=10)
    assert "王芳同志，您好" in officer.plain() and "您还没有加入" in stranger.plain()
    # Answered 200 the first time: Telegram does not retry it.
    assert emulator.world.webhook_delivered.count(bad) == 1 and emulator.world.webhook_last_error is None
    assert bad not in emulator.world.processed
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{server.port}/healthz") as r:
        assert (await r.json())["unparseable_updates"] == 1
    async with factory() as db:
        recorded = set(await db.scalars(select(ProcessedUpdate.update_id)))
    assert bad not in recorded and {first, last} <= recorded
    assert emulator.violations == []


async def test_a_body_that_is_not_a_telegram_update_is_refused_and_nothing_is_done(
    hooked: tuple[Any, webhook.WebhookServer], emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, server = hooked
    message = {"message_id": 1, "date": 1, "chat": {"id": 599, "type": "private"},
               "from": {"id": 599, "is_bot": False, "first_name": PRIVATE}, "text": "/start"}
    bodies: list[Any] = [{"update_id": "abc", "message": message}, {"update_id": 1.5, "message": message},
                         {"update_id": True, "message": message}, {"update_id": None, "message": message},
                         {"update_id": "7", "message": message}, [{"update_id": 7, "message": message}],
                         "an update", 7, None]
    calls = len(emulator.calls)
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(f"http://127.0.0.1:{server.port}/telegram/hook", json=body,
                                    headers={webhook.SECRET_HEADER: SECRET}) as response:
                assert response.status == 400, body
    assert emulator.calls[calls:] == [] and emulator.world.processed == set()
    assert app.bot.unparseable_updates == 0
    assert PRIVATE not in caplog.text
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0


async def test_health_reports_the_database_and_leadership(hooked: tuple[Any, webhook.WebhookServer]) -> None:
    _, server = hooked
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{server.port}/healthz") as r:
        assert r.status == 200
        body = await r.json()
    assert body["ok"] is True and body["database"] == "ok" and body["leader"] is False  # no scheduler here


async def test_health_fails_when_the_database_is_unreachable(clock: FixedClock) -> None:
    settings = Settings(_env_file=None, database_url="postgresql://postgres@127.0.0.1:1/nothing",
                        webhook_url="http://127.0.0.1:1/hook", webhook_secret=SECRET, webhook_listen="127.0.0.1",
                        webhook_port=0)
    app = build_application(settings, clock=clock)
    server = webhook.WebhookServer(app, settings)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{server.port}/healthz") as r:
            assert r.status == 503
            body = await r.json()
        assert body["ok"] is False and body["database"] != "ok"
    finally:
        await server.stop()
        await app.bot_data.session_factory.kw["bind"].dispose()


def test_webhook_settings_are_checked_at_start_up() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Settings(_env_file=None, webhook_secret="has spaces")
    assert Settings(_env_file=None, webhook_secret="", webhook_url="").webhook_secret is None
    with pytest.raises(ValueError, match="WEBHOOK_URL and WEBHOOK_SECRET"):
        webhook.WebhookServer(object(), Settings(_env_file=None, webhook_url="https://x.example/hook"))
