"""Structured logs: one JSON object per line, with the update being handled as correlation id.

Every line logged while an update is processed carries `update_id` (the correlation id: the
same in every instance that touches it, and in the emulator's or Telegram's own records) and
the processing instance. Secrets never reach the output: the bot token (httpx and PTB put it in
URLs), the webhook secret and database passwords are replaced by `***` in every message and
traceback. People's names and texts are not logged by the bot's own code (a rule, not a filter:
see the personal-data section of DESIGN.md).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import traceback
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

# The update being processed by the current task (set by bot.processor), or None.
CORRELATION: ContextVar[int | None] = ContextVar("correlation_update_id", default=None)
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"

# A bot token anywhere (`123456:AA…`), and the password part of a database URL.
_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
_URL_PASSWORD = re.compile(r"(?P<head>\w+(?:\+\w+)?://[^:/@\s]+:)[^@\s]+(?=@)")


class Redactor:
    """Replaces known secrets and anything shaped like a bot token or a URL password."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _TOKEN.sub("***", text)
        return _URL_PASSWORD.sub(r"\g<head>***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.redact(record.getMessage()),
            "instance": INSTANCE,
        }
        update_id = getattr(record, "update_id", None)
        if update_id is not None:
            entry["update_id"] = update_id
        if record.exc_info:
            entry["exc"] = self.redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines (the sandbox and operator commands), redacted the same way."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        update_id = getattr(record, "update_id", None)
        return self.redact(f"{line} [update {update_id}]" if update_id is not None else line)


class _Correlate(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "update_id", None) is None:
            record.update_id = CORRELATION.get()
        return True


def configure(level: int = logging.INFO, *, json_lines: bool = True, secrets: Iterable[str] = (),
              stream: TextIO | None = None) -> None:
    """Sets up the root logger once for the process (replacing earlier handlers)."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Correlate())
    handler.setFormatter(JsonFormatter(redact) if json_lines else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL, and the URL holds the bot token (redacted anyway).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
