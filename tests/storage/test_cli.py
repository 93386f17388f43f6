"""The operator's commands, called as `python -m bot ...` would call them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import openpyxl
import pytest

from bot.cli import _bot_username, main
from bot.config import Settings
from bot.emulator import BotApiEmulator
from storage.creditcode import check_character
from tests.sqlite_lock import HOLD_SECONDS, hold_write_lock


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
