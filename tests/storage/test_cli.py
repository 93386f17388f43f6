"""The operator's commands, called as `python -m bot ...` would call them."""

from __future__ import annotations

import asyncio
import re
import sqlite3
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
from tests.storage import coverage_world

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


def test_the_report_commands_print_the_figures_and_write_the_workbooks(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 季报 and 年终统计 of the hand-built world of `coverage_world`, made on demand: the
    figures the scheduler sends (counted by hand in tests/storage/test_coverage.py)."""
    assert main(["db", "upgrade"]) == 0
    asyncio.run(_build_world(f"sqlite:///{db}"))
    capsys.readouterr()

    year_book = tmp_path / "年终统计.xlsx"
    assert main(["report", "year-end", "--year", "2026", "--region", "宜昌市", "--out", str(year_book)]) == 0
    printed = capsys.readouterr().out
    assert "<b>" not in printed
    for line in (
        "📈 宜昌市 2026年 年终统计",
        "· 非公有制企业（法人单位）：13 户（另有个体工商户 3 户、农民专业合作社 1 个；停业 1 户、注销 1 户不计入）",
        "· 已建立党组织的企业：7 户（单独建立 4、联合建立 3；另挂靠 1 户）",
        "· 党组织覆盖率：53.8%；单独组建率：30.8%",  # 7/13, 4/13
        "· 应建已建率：80.0%（正式党员 3 名以上的企业 5 户，已建 4 户）",
        "· 党的工作覆盖率：84.6%（11 户）",  # 11/13
        "· 规上覆盖率：75.0%（规模以上企业 4 户，已建 3 户）",
        "· 党组织：8 个（党委 1、党总支 1、党支部 6；单独组建 6、联合组建 1、挂靠 1），本年新建 3 个；上级选派书记 3 名",
        "· 党员：64 名（组织关系在本企业 46、不在本企业 6、未填报 12）",
        "· 选派党建工作指导员（联系员）：3 人，累计 7 人次（按人年计）",
        "· 业主提出建立党组织诉求：3 件（2 户）",
        "· 示范点：1 个",
        "· 先建群团组织（未建党组织、有工会或共青团）：2 户",
    ):
        assert line in printed, line
    book = openpyxl.load_workbook(year_book)
    assert book.sheetnames == ["两个覆盖", "党组织", "党员", "个体工商户及其他", "工作情况"]
    rows = list(book["两个覆盖"].iter_rows(values_only=True))
    assert rows[0][:7] == ("地区", "非公有制企业（法人单位）数", "已建立党组织企业数", "其中：单独建立", "其中：联合建立",
                           "挂靠", "党组织覆盖率")
    assert rows[1] == ("宜昌市/枝江市", 8, 4, 1, 3, 1, 0.5, 0.125, 2, 1, 0.5, 7, 0.875, 2, 1, 0.5)
    assert rows[2] == ("宜昌市/远安县", 5, 3, 3, 0, 0, 0.6, 0.6, 3, 3, 1.0, 4, 0.8, 2, 2, 1.0)
    assert rows[-1][:6] == ("合计", 13, 7, 4, 3, 1) and rows[-1][6] == pytest.approx(7 / 13)
    assert len(rows) == 4
    sheet = book["两个覆盖"]
    assert sheet["G2"].number_format == "0.0%"
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_rows == "$1:$1"
    assert ("选派党建工作指导员（联系员）（人次，按人年累计）", 7) in list(book["工作情况"].iter_rows(values_only=True))

    quarter_book = tmp_path / "季报.xlsx"
    assert main(["report", "quarter", "--quarter", "2026Q4", "--region", "宜昌市", "--out", str(quarter_book)]) == 0
    printed = capsys.readouterr().out
    for line in (
        "📊 宜昌市 季报 · 2026年第4季度",
        "2026-10-01 至 2026-12-31，新建党组织 2 个：",
        "· 枝江市：1 个", "· 远安县：1 个",
        "其中：党支部（单独组建）1 个、党支部（联合组建）1 个",
        "截至季末共有党组织 8 个（党委 1、党总支 1、党支部 6），本年累计新建 3 个。",
        "党组织覆盖率：季初 30.8%（4/13 户）→ 季末 53.8%（7/13 户），+23.1 个百分点。",
    ):
        assert line in printed, line
    book = openpyxl.load_workbook(quarter_book)
    assert book.sheetnames == ["2026-Q4季报", "新建党组织（类别×方式）", "党组织累计", "党组织覆盖率变化"]
    assert list(book["2026-Q4季报"].iter_rows(values_only=True)) == [
        ("地区", "新建党组织数"), ("宜昌市/枝江市", 1), ("宜昌市/远安县", 1), ("合计", 2)]
    kinds = list(book["新建党组织（类别×方式）"].iter_rows(values_only=True))
    assert kinds[0][1:4] == ("党委（单独组建）", "党委（联合组建）", "党委（挂靠）") and kinds[0][-1] == "合计"
    assert kinds[-1] == ("合计", 0, 0, 0, 0, 0, 0, 1, 1, 0, 2)  # 党支部 单独 (O7), 联合 (O2)
    change = list(book["党组织覆盖率变化"].iter_rows(values_only=True))
    assert change[-1][:3] == ("合计", 13, 4) and change[-1][4:6] == (13, 7) and change[-1][7] == 23.1

    assert main(["report", "quarter", "--quarter", "2026Q4"]) == 0  # no --out, no --region: everything
    assert "全部地区 季报 · 2026年第4季度" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["report", "quarter", "--quarter", "2026Q5"])


async def _build_world(url: str) -> None:
    engine = make_async_engine(url)
    try:
        await coverage_world.build(make_session_factory(engine))
    finally:
        await engine.dispose()


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
