"""The operator's commands, called as `python -m bot ...` would call them."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.cli import _bot_username, _send_digests, main
from bot.config import Settings
from bot.emulator import BotApiEmulator
from storage.clock import FixedClock
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.models import User
from storage.uow import unit_of_work
from tests.sqlite_lock import HOLD_SECONDS, hold_write_lock

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return path


def _code(body: str) -> str:
    return body + check_character(body)


def test_invite_import_export_and_seed_work_from_the_command_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["invite", "--role", "officer", "--name", "王芳", "--region", "宜昌市/枝江市"]) == 0
    printed = capsys.readouterr().out
    code = re.search(r"邀请码：(\S+)", printed)
    assert code is not None and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code[1])

    registry = tmp_path / "企业名册.csv"
    registry.write_text(
        "企业名称,统一社会信用代码,所属地区,职工人数,正式党员数,党组织,联系员\n"
        f"枝江市楚韵纺织有限公司,{_code('91420583MA4F00001')},宜昌市/枝江市/马家店街道,120,3,无,王芳\n"
        "坏行,123,宜昌市/枝江市,,,,\n",
        encoding="utf-8-sig",
    )
    assert main(["import-enterprises", str(registry)]) == 1  # one bad row: reported, the good one imported
    report = capsys.readouterr().out
    assert "新增 1 家" in report and "第 3 行" in report

    out = tmp_path / "台账.xlsx"
    assert main(["export", "--out", str(out), "--region", "宜昌市/枝江市"]) == 0
    assert "企业 1 家" in capsys.readouterr().out
    ledger = openpyxl.load_workbook(out)
    assert "分类台账" in ledger.sheetnames

    assert main(["seed-demo"]) == 1  # the registry is not empty: the demo would mix with real data
    assert "only fills an empty one" in capsys.readouterr().out


def test_seed_demo_fills_an_empty_database_once(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo"]) == 0
    assert "演示数据已载入" in capsys.readouterr().out
    assert main(["seed-demo"]) == 1


async def test_the_deep_link_uses_the_bots_username_from_the_bot_api() -> None:
    async with BotApiEmulator() as emu:
        settings = Settings(_env_file=None, telegram_bot_token="777:DEEP-link-token",
                            telegram_api_base_url=emu.base_url)
        assert await _bot_username(settings) == "liaison_sandbox_bot"


async def test_send_digests_in_quiet_hours_says_the_messages_wait_and_until_when(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 22:00 the digests are queued but held: the operator is told so, and until when, rather
    than seeing nothing arrive. With QUIET_HOURS=12:00-14:00, 12:30 holds them until 14:00 today."""
    engine = make_async_engine(sqlite_url)
    factory = make_session_factory(engine)
    try:
        async with BotApiEmulator() as emu, unit_of_work(factory) as uow:
            chat = emu.user(704, "王芳")
            chat.send_text("/start")
            uow.session.add(User(name="王芳", role=Role.OFFICER, region="宜昌市/枝江市", telegram_user_id=chat.id,
                                 chat_id=chat.id))
            await uow.commit()
            settings = Settings(_env_file=None, telegram_bot_token="1000001:SANDBOX-offline-token",
                                telegram_api_base_url=emu.base_url)
            evening = FixedClock(datetime(2026, 11, 25, 22, 0, tzinfo=TZ))
            assert await _send_digests(factory, settings, evening, current=True) == 0
            printed = capsys.readouterr().out
            assert "1 条消息已排队；免打扰时段（21:00–08:00）暂不发送，明天 08:00 起" in printed
            assert chat.messages == []

            lunch = settings.model_copy(update={"quiet_hours": "12:00-14:00"})
            noon = FixedClock(datetime(2026, 11, 27, 12, 30, tzinfo=TZ))
            assert await _send_digests(factory, lunch, noon, current=True) == 0
            assert "免打扰时段（12:00–14:00）暂不发送，今天 14:00 起" in capsys.readouterr().out
            assert chat.messages == []

            assert await _send_digests(factory, lunch, FixedClock(datetime(2026, 11, 27, 14, 0, tzinfo=TZ)),
                                       current=True) == 0
            assert "暂不发送" not in capsys.readouterr().out and len(chat.messages) == 1
            assert emu.violations == []
    finally:
        await engine.dispose()


def test_a_command_waits_for_the_write_lock_the_bot_holds_instead_of_failing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The bot (here another process standing in for it) holds the database's write lock for
    longer than writers used to wait: the operator's import waits its turn and succeeds."""
    assert main(["db", "upgrade"]) == 0
    registry = tmp_path / "企业名册.csv"
    registry.write_text("企业名称,统一社会信用代码,所属地区,职工人数,正式党员数,党组织\n"
                        f"枝江市楚韵纺织有限公司,{_code('91420583MA4F00001')},宜昌市/枝江市,120,3,无\n", encoding="utf-8")
    holder = hold_write_lock(str(db))
    started = time.monotonic()
    assert main(["import-enterprises", str(registry)]) == 0
    assert time.monotonic() - started > HOLD_SECONDS / 2  # it did wait for the lock
    assert holder.wait(timeout=30) == 0
    assert "新增 1 家" in capsys.readouterr().out
