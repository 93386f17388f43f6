"""Settings, read once from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import POOL_SIZE

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


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which the outbox holds messages: from `start` up to `end`, across midnight
    when `end` comes first (21:00–08:00)."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def parse_quiet_hours(value: str) -> QuietHours | None:
    """`"21:00-08:00"` -> QuietHours(21:00, 08:00); `""` -> None (no quiet hours); ValueError else."""
    if not value.strip():
        return None
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*", value)
    if match is None or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 or int(match[4]) > 59:
        raise ValueError(f"expected QUIET_HOURS like '21:00-08:00' (local start-end, or empty for none), got {value!r}")
    quiet = QuietHours(time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4])))
    if quiet.start == quiet.end:
        raise ValueError(f"QUIET_HOURS {value!r} starts and ends at the same time; leave it empty for no quiet hours")
    return quiet
def proxies_from_environment() -> dict[str, str]:
    """HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or lower case, which wins) as urllib reads them:
    `{"https": url, "http": url, "no": hosts}`, for the Bot API client (`bot.transport`).

    Read from the process environment, not from `.env`, as every HTTP client reads them; once,
    at start-up (aiohttp's `trust_env` read them on every call)."""
    found = urllib.request.getproxies()
    return {key: found[key] for key in ("https", "http", "no") if key in found}


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
    # Local hours in which messages the bot sends unasked (reminders, digests) wait, `start-end`
    # (across midnight when end comes first); empty: none. Replies to the user are never held.
    quiet_hours: str = "21:00-08:00"
    # Seconds to wait for the Bot API's answer to a call (python-telegram-bot's read timeout).
    # A call that times out may still have been performed: see bot/retry.py for what is retried.
    telegram_read_timeout: float = 5.0
    # Webhook mode (`python -m bot run --webhook`): Telegram posts updates to WEBHOOK_URL (https,
    # through the proxy), which forwards to this process on WEBHOOK_LISTEN:WEBHOOK_PORT. Telegram
    # sends WEBHOOK_SECRET in the X-Telegram-Bot-Api-Secret-Token header of every request.
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    # How often a follower instance tries to become the scheduler leader (PostgreSQL).
    leader_poll_seconds: float = 5.0
    # PostgreSQL connections an instance keeps (storage.db.POOL_SIZE explains the default).
    # Instances × this, plus the operator's tools, must stay under the server's max_connections.
    database_pool_size: int = Field(default=POOL_SIZE, ge=1, le=1000)
    # `json` (one object per line, for log collectors) or `text`.
    log_format: Literal["json", "text"] = "json"

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

    @field_validator("quiet_hours")
    @classmethod
    def _valid_quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)  # a typo fails at start-up, not with a reminder at midnight
        return value

    @field_validator("telegram_bot_token", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `WEBHOOK_SECRET=` copied from .env.example means "not set", not "the empty secret".
        return None if value == "" else value

    @field_validator("webhook_secret")
    @classmethod
    def _valid_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def digest_schedule(self) -> tuple[str, int, int]:
        return parse_weekly(self.digest_cron)

    @property
    def quiet_window(self) -> QuietHours | None:
        return parse_quiet_hours(self.quiet_hours)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)
