"""Settings that size the deployment: the PostgreSQL pool each instance keeps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.app import build_application
from bot.config import Settings
from storage.db import POOL_SIZE


def test_the_pool_size_defaults_to_the_processors_ceiling_and_is_bounded() -> None:
    assert Settings(_env_file=None).database_pool_size == POOL_SIZE == 40
    assert Settings(_env_file=None, database_pool_size=12).database_pool_size == 12
    for wrong in (0, -1, 5000):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, database_pool_size=wrong)


async def test_the_application_keeps_as_many_postgresql_connections_as_configured() -> None:
    """Building the application opens no connection; its engine's pool is the configured size,
    with no overflow (instances × pool size is what the server must allow)."""
    settings = Settings(_env_file=None, database_url="postgresql://liaison@127.0.0.1:1/none", database_pool_size=7)
    application = build_application(settings)
    engine = application.bot_data.session_factory.kw["bind"]
    try:
        assert engine.pool.size() == 7
        assert engine.pool._max_overflow == 0  # no public accessor
    finally:
        await engine.dispose()
