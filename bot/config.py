"""Settings, read once from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["zh_CN", "en"]
TELEGRAM_API = "https://api.telegram.org/bot"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekly(value: str) -> tuple[str, int, int]:
    """`"mon 08:30"` -> ("mon", 8, 30); ValueError for anything else."""
    parts = value.strip().lower().split()
    if len(parts) != 2 or parts[0] not in WEEKDAYS:
        raise ValueError(f"expected a weekday and a time like 'mon 08:30', got {value!r}")
    hour, _, minute = parts[1].partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ValueError(f"expected a time like 08:30, got {parts[1]!r}")
    return parts[0], int(hour), int(minute)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    # python-telegram-bot's base_url: the token is appended (or put where `{token}` stands).
    telegram_api_base_url: str = TELEGRAM_API
    database_url: str = "sqlite:///liaison.db"
    bot_timezone: str = "Asia/Shanghai"
    bot_locale: Locale = "zh_CN"
    # When the weekly digests go out: a weekday (mon … sun) and a local time.
    digest_cron: str = "mon 08:30"

    @field_validator("bot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, at start-up rather than at the first reminder
        return value

    @field_validator("digest_cron")
    @classmethod
    def _valid_digest_cron(cls, value: str) -> str:
        parse_weekly(value)  # a typo fails at start-up, not silently on Monday
        return value

    @property
    def digest_schedule(self) -> tuple[str, int, int]:
        return parse_weekly(self.digest_cron)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)
