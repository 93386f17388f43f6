"""`/export`: a supervisor receives the ledger of their region as an XLSX document."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage import officers
from storage.creditcode import check_character
from storage.enums import Role
from storage.models import AuditEntry, Enterprise, Feedback, Founding, Person, User
from storage.uow import unit_of_work
from tests.conversations.conftest import NOW, Talk, World


def _column(workbook: Workbook, sheet: str, header: str) -> list[object]:
    """The values of one column below its header (the ledger has a title row, and on the
    enterprise sheet a row of group headers, above it); on the enterprise sheet only the
    enterprises' rows, whose 序号 is a number, not the classes' headings and subtotals."""
    header_row = 3 if sheet == "分类台账" else 2
    header_cells, *rows = workbook[sheet].iter_rows(min_row=header_row, values_only=True)
    index = list(header_cells).index(header)
    return [row[index] for row in rows if sheet != "分类台账" or isinstance(row[0], int)]


async def _records_in_and_out_of_the_city(factory: async_sessionmaker[AsyncSession], world: World) -> None:
    """One person, feedback item and founding at 楚韵纺织 (宜昌市), and the same in 荆州市."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = await s.scalar(select(User).where(User.name == "王芳"))
        assert officer is not None
        first17 = "91421002MA4F00009"
        jingzhou = Enterprise(name="荆州市沙市鱼糕有限公司", credit_code=first17 + check_character(first17),
                              region="荆州市/沙市区")
        s.add(jingzhou)
        await s.flush()
        for enterprise_id, tag in ((world.chuyun, "宜昌"), (jingzhou.id, "荆州")):
            s.add_all([
                Person(enterprise_id=enterprise_id, officer_id=officer.id, name=f"{tag}申请人", gender="male",
                       birth_date=date(1990, 1, 1), stage="applicant", applied_on=date(2026, 11, 1)),
                Feedback(enterprise_id=enterprise_id, raised_by=f"{tag}业主", channel="officer", category="hiring",
                         content=f"{tag}招工难", urgency="normal", status="open",
                         created_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC)),
                Founding(enterprise_id=enterprise_id, founded_on=date(2026, 11, 10), category="branch",
                         formation="single", secretary=f"{tag}书记", members=3, officer_id=officer.id),
            ])
        await uow.commit()


async def test_supervisor_receives_the_ledger_of_their_region(
    bot: object, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _records_in_and_out_of_the_city(factory, world)
    supervisor = Talk(emulator, emulator.user(601, "督导", last_name="李"))
    await supervisor.say(f"/start {world.supervisor_code}")
    before = len(emulator.calls_to("sendDocument"))
    await supervisor.say("/export")

    [call] = emulator.calls_to("sendDocument")[before:]
    assert call.ok and str(call.params["chat_id"]) == str(supervisor.chat.id)
    filename, content = call.files["document"]
    assert filename == "台账-宜昌市-20261125.xlsx"
    assert call.result["document"]["mime_type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    caption = str(call.params["caption"])
    assert "宜昌市" in caption and "截至 2026-11-25" in caption
    assert "企业 4 家" in caption and "党员发展 1 人" in caption and "新建党组织 1 个" in caption

    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["分类台账", "党组织", "走访记录", "党员发展", "业主诉求", "新建党组织", "汇总"]
    enterprises = set(_column(workbook, "分类台账", "企业名称"))
    # The city: 枝江市's three and 远安县's one; 荆州市 is another city.
    assert enterprises == {"枝江市楚韵纺织有限公司", "枝江市白洋港机械制造有限公司", "枝江市董市镇酒业有限公司",
                           "远安县楚韵茶业有限公司"}
    assert _column(workbook, "党员发展", "姓名") == ["宜昌申请人"]
    assert _column(workbook, "业主诉求", "内容") == ["宜昌招工难"]
    assert _column(workbook, "新建党组织", "书记") == ["宜昌书记"]

    async with factory() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert entry is not None and entry.actor_label == "李督导" and entry.after is not None
        assert entry.after["scope"] == "宜昌市" and entry.after["rows"]["people"] == 1
    assert emulator.violations == []


async def test_officer_is_refused_the_export(
    officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession]
) -> None:
    [refusal] = await officer.say("/export")
    assert "这个命令只供" in refusal and "督导" in refusal
    assert emulator.calls_to("sendDocument") == []
    async with factory() as session:
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == "export")) is None
    assert emulator.violations == []


async def test_admin_of_a_county_receives_only_that_county(
    bot: object, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _records_in_and_out_of_the_city(factory, world)
    async with unit_of_work(factory) as uow:
        invite = await officers.create_invite(uow.session, role=Role.ADMIN, name="远安管理员", region="宜昌市/远安县",
                                              now=NOW)
        await uow.commit()
    admin = Talk(emulator, emulator.user(701, "管理员"))
    await admin.say(f"/start {invite.code}")
    await admin.say("/export")

    [call] = emulator.calls_to("sendDocument")
    filename, content = call.files["document"]
    assert filename == "台账-远安县-20261125.xlsx"
    workbook = load_workbook(io.BytesIO(content))
    assert _column(workbook, "分类台账", "企业名称") == ["远安县楚韵茶业有限公司"]
    for title in ("走访记录", "党员发展", "业主诉求", "新建党组织"):
        assert workbook[title].max_row == 2, title  # the title and the header only: nothing of 枝江市 or 荆州市
    assert emulator.violations == []
