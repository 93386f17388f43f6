"""Fixtures for the Bot API emulator tests."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.emulator import BotApiEmulator  # noqa: E402

TOKEN = "123:ABCDEF"
ApiFn = Callable[..., Coroutine[Any, Any, tuple[int, dict[str, Any]]]]


class FakeClock:
    """Injectable monotonic clock for flood-control and query-expiry tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest_asyncio.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def emu(clock: FakeClock) -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(clock=clock)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest_asyncio.fixture
async def api(emu: BotApiEmulator) -> AsyncIterator[ApiFn]:
    """POST a method like PTB does: form-encoded, non-strings JSON-encoded."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, _token: str = TOKEN, **params: Any) -> tuple[int, dict[str, Any]]:
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            async with session.post(f"{emu.base_url}{_token}/{method}", data=form) as resp:
                return resp.status, await resp.json()

        yield call
