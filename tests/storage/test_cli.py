"""The operator's commands, called as `python -m bot ...` would call them."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import openpyxl
import pytest

from bot.cli import _bot_username, main
from bot.config import Settings
from bot.emulator import BotApiEmulator
from storage.creditcode import check_character


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


def test_import_exits_0_when_every_row_imports_and_a_dry_run_writes_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "枝江市名册.csv"
    registry.write_bytes((
        "枝江市非公有制企业名册（2026年）,,,,,\n"
        "序号,企业名称,统一社会信用代码,所属乡镇（街道）,党组织名称,备注\n"
        f"1,枝江市楚韵纺织有限公司,{_code('91420583MA4F00001')},马家店街道,中共枝江市楚韵纺织有限公司支部委员会,\n"
        f"2,枝江市金润机械有限公司,{_code('91420583MA4F00002')},董市镇,无,拟联建\n"
        "合计,,,,,\n"
    ).encode("gb18030"))
    assert main(["import-enterprises", str(registry), "--region", "宜昌市/枝江市", "--dry-run"]) == 0
    preview = capsys.readouterr().out
    assert "试运行" in preview and "第 3 行：枝江市楚韵纺织有限公司：新建党组织“中共枝江市楚韵纺织有限公司支部委员会”" in preview
    assert "“党组织名称” → 党组织" in preview and "“备注” → 未识别，已忽略" in preview
    assert "第 5 行：合计行，已跳过" in preview
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM party_organisations").fetchone() == (0,)

    assert main(["import-enterprises", str(registry), "--region", "宜昌市/枝江市"]) == 0
    assert "新增 2 家" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT region FROM enterprises ORDER BY credit_code").fetchall() == [
            ("宜昌市/枝江市/马家店街道",), ("宜昌市/枝江市/董市镇",)]
        assert conn.execute("SELECT name, founded_on FROM party_organisations").fetchall() == [
            ("中共枝江市楚韵纺织有限公司支部委员会", None)]

    assert main(["import-enterprises", str(registry), "--region", "宜昌市/枝江市"]) == 0
    assert "新增 0 家，更新 0 家，未变 2 家" in capsys.readouterr().out


def test_a_dry_run_with_rejected_rows_exits_1(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "名册.csv"
    registry.write_text("企业名称,统一社会信用代码,所属地区\n坏行,123,宜昌市/枝江市\n", encoding="utf-8")
    assert main(["import-enterprises", str(registry), "--dry-run"]) == 1
    assert "第 2 行：统一社会信用代码应为 18 位" in capsys.readouterr().out
