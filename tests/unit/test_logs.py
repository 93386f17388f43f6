"""Structured logs: a correlation id on every line of an update, and no secrets anywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import logs

TOKEN = "7234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_line_is_json_with_the_update_being_handled(stream: io.StringIO) -> None:
    logs.configure(secrets=[TOKEN], stream=stream)
    log = logging.getLogger("test.logs")
    log.info("outside any update")
    token = logs.CORRELATION.set(700000042)
    try:
        log.warning("inside an update")
    finally:
        logs.CORRELATION.reset(token)
    first, second = _lines(stream)
    assert "update_id" not in first and first["msg"] == "outside any update"
    assert second["update_id"] == 700000042 and second["level"] == "WARNING" and second["logger"] == "test.logs"
    assert second["instance"] == logs.INSTANCE


@pytest.mark.parametrize("message", [
    f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
    f"token={TOKEN}",
    "postgresql+psycopg://liaison:s3cr3t-pa55@db.internal:5432/liaison",
    "the webhook secret is hook-Secret_123456",
    "another bot's token 1234567:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
])
def test_secrets_are_redacted_in_messages_and_tracebacks(stream: io.StringIO, message: str) -> None:
    logs.configure(secrets=[TOKEN, "hook-Secret_123456", "s3cr3t-pa55"], stream=stream)
    log = logging.getLogger("test.logs")
    log.info("%s", message)
    try:
        raise RuntimeError(message)
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    for secret in (TOKEN, "hook-Secret_123456", "s3cr3t-pa55", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"):
        assert secret not in text
    assert text.count("***") >= 2
    assert "Traceback" in _lines(stream)[1]["exc"]  # the traceback is kept, redacted


def test_text_lines_for_the_terminal_are_redacted_too(stream: io.StringIO) -> None:
    logs.configure(json_lines=False, secrets=[TOKEN], stream=stream)
    logging.getLogger("test.logs").error("calling /bot%s/getMe", TOKEN)
    line = stream.getvalue()
    assert TOKEN not in line and "/bot***/getMe" in line and not line.startswith("{")


def test_redactor_leaves_ordinary_text_alone() -> None:
    redact = logs.Redactor(["abcd1234"])
    assert redact("Update 700000001 handled in 12 ms; 走访 3 条") == "Update 700000001 handled in 12 ms; 走访 3 条"
    assert redact("sqlite:///liaison.db") == "sqlite:///liaison.db"


async def test_database_errors_do_not_carry_the_values_into_logs(tmp_path: object) -> None:
    """An IntegrityError's text would otherwise quote the row: a person's name, their status."""
    from sqlalchemy import text

    from storage.db import make_async_engine

    engine = make_async_engine("sqlite:///:memory:")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE people (name TEXT UNIQUE)"))
            await conn.execute(text("INSERT INTO people VALUES (:n)"), {"n": "张三丰"})
            with pytest.raises(Exception) as raised:
                await conn.execute(text("INSERT INTO people VALUES (:n)"), {"n": "张三丰"})
    finally:
        await engine.dispose()
    assert "UNIQUE" in str(raised.value) and "张三丰" not in str(raised.value)
