"""Settings that size the deployment (the PostgreSQL pool each instance keeps) and that time it
(quiet hours)."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError

from bot.app import build_application
from bot.config import QuietHours, Settings, parse_quiet_hours
from bot.sender import DEFAULT_QUIET_HOURS
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


def test_quiet_hours_are_a_setting_of_two_local_times() -> None:
    assert Settings(_env_file=None).quiet_window == QuietHours(time(21, 0), time(8, 0)) == DEFAULT_QUIET_HOURS
    assert parse_quiet_hours("22:30-06:00") == QuietHours(time(22, 30), time(6, 0))  # across midnight
    assert parse_quiet_hours("12:00-14:00") == QuietHours(time(12, 0), time(14, 0))  # within a day
    assert parse_quiet_hours(" 7:05 – 9:30 ") == QuietHours(time(7, 5), time(9, 30))  # spaces, an en dash
    assert str(parse_quiet_hours("21:00-08:00")) == "21:00–08:00"
    for none in ("", "  "):
        assert parse_quiet_hours(none) is None
        assert Settings(_env_file=None, quiet_hours=none).quiet_window is None


@pytest.mark.parametrize("wrong", ["21-8", "21:00", "21:00-24:00", "25:00-08:00", "21:60-08:00", "21:00/08:00",
                                   "08:00-08:00", "evening"])
def test_a_wrong_quiet_hours_setting_fails_at_start_and_says_what_is_expected(wrong: str) -> None:
    with pytest.raises(ValueError, match="QUIET_HOURS"):
        parse_quiet_hours(wrong)
    with pytest.raises(ValidationError, match="QUIET_HOURS"):
        Settings(_env_file=None, quiet_hours=wrong)
