"""Settings, read once from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["zh_CN", "en"]
TELEGRAM_API = "https://api.telegram.org/bot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    # python-telegram-bot's base_url: the token is appended (or put where `{token}` stands).
    telegram_api_base_url: str = TELEGRAM_API
    database_url: str = "sqlite:///liaison.db"
    bot_timezone: str = "Asia/Shanghai"
    bot_locale: Locale = "zh_CN"

    @field_validator("bot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, at start-up rather than at the first reminder
        return value

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)
