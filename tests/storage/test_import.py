from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from output.ledger import LEDGER_LOCALE
from output.render import labels
from storage.creditcode import check_character
from storage.enums import Role
from storage.importer import ImportFileError, ImportReport, format_report, import_enterprises
from storage.models import Assignment, AuditEntry, Enterprise, HeadcountRecord, PartyOrganisation, User
from storage.officers import create_invite
from storage.pinyin import initials
from storage.registry import NEW_DEFAULTS, EnterpriseRecord, upsert_enterprises
from storage.uow import unit_of_work

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
HEADER = "企业名称,统一社会信用代码,所属地区,行业,职工人数,正式党员数,党组织,群团组织,联系员"


def code(serial: int) -> str:
    first17 = f"91420583MA4F{serial:05d}"
    return first17 + check_character(first17)


def write_csv(path: Path, lines: list[str], *, bom: bool = False, encoding: str = "utf-8") -> Path:
    text = "\n".join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


async def _import(path: Path, factory: async_sessionmaker[AsyncSession], today: date = TODAY,
                  **options: Any) -> ImportReport:
    # The ledger's words, as the command line gives them.
    return await import_enterprises(path, factory, today=today, progress=False, labels=labels(LEDGER_LOCALE),
                                    **options)


async def _enterprises(factory: async_sessionmaker[AsyncSession]) -> dict[str, Enterprise]:
    async with unit_of_work(factory) as uow:
        stored = {e.credit_code: e for e in await uow.session.scalars(select(Enterprise))}
        uow.session.expunge_all()  # detached before the rollback at the end of the block expires them
        return stored


async def _org_kind(factory: async_sessionmaker[AsyncSession], credit_code: str) -> tuple[str, str] | None:
    """The (category, formation) of the enterprise's organisation now, None without one."""
    async with unit_of_work(factory) as uow:
        found = (await uow.session.execute(
            select(PartyOrganisation.category, PartyOrganisation.formation)
            .join(Enterprise, Enterprise.party_org_id == PartyOrganisation.id)
            .where(Enterprise.credit_code == credit_code)
        )).tuples().first()
        return None if found is None else (found[0], found[1])


async def _audit(factory: async_sessionmaker[AsyncSession], entity: str) -> list[AuditEntry]:
    async with unit_of_work(factory) as uow:
        entries = await uow.session.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id)
        )
        found = list(entries)
        uow.session.expunge_all()
        return found


async def _officer(factory: async_sessionmaker[AsyncSession], name: str, region: str) -> int:
    async with unit_of_work(factory) as uow:
        invite = await create_invite(uow.session, role=Role.OFFICER, name=name, region=region, now=NOW)
        await uow.commit()
        return invite.user_id


@pytest.mark.parametrize("bom", [True, False])
async def test_csv_import_creates_enterprises_with_codes_and_initials(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, bom: bool
) -> None:
    path = write_csv(tmp_path / "企业.csv", [
        HEADER,
        f"枝江市楚韵纺织有限公司,{code(1)},宜昌市/枝江市/马家店街道,纺织,120,4,联合党支部,工会、共青团,",
        f"三峡机械,{code(2).lower()},宜昌市 / 夷陵区,机械,8,,,,",
    ], bom=bom)
    report = await _import(path, session_factory)
    assert (report.rows_read, report.created, report.updated, report.unchanged, report.errors) == (2, 2, 0, 0, [])
    stored = await _enterprises(session_factory)
    chuyun = stored[code(1)]
    assert chuyun.name == "枝江市楚韵纺织有限公司"
    assert chuyun.name_initials == initials("枝江市楚韵纺织有限公司")
    assert (chuyun.employees, chuyun.party_members) == (120, 4)
    assert await _org_kind(session_factory, code(1)) == ("branch", "joint")
    assert chuyun.mass_orgs == ["union", "youth_league"]
    machinery = stored[code(2)]
    assert machinery.region == "宜昌市/夷陵区"
    assert (machinery.party_org_id, machinery.kind, machinery.visit_cadence_days, machinery.mass_orgs) == (
        None, "private", 30, [],
    )


async def test_gb18030_csv_from_chinese_excel_imports(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "企业.csv", [HEADER, f"宜都红花套茶业,{code(3)},宜昌市/宜都市,茶叶,30,1,无,妇联,"],
                     encoding="gb18030")
    report = await _import(path, session_factory)
    assert report.created == 1
    assert (await _enterprises(session_factory))[code(3)].name == "宜都红花套茶业"


async def test_xlsx_import_reads_the_first_sheet(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "企业名录"
    sheet.append(["企业名称", "统一社会信用代码", "所属地区", "职工人数", "示范点", "走访周期"])
    sheet.append(["当阳玉阳建材", code(4), "宜昌市/当阳市/玉阳街道", 150.0, "是", 60])
    workbook.create_sheet("说明").append(["企业名称", "统一社会信用代码", "所属地区"])
    path = tmp_path / "企业.xlsx"
    workbook.save(path)
    report = await _import(path, session_factory)
    assert report.created == 1
    stored = (await _enterprises(session_factory))[code(4)]
    assert (stored.employees, stored.demonstration_point, stored.visit_cadence_days) == (150, True, 60)


async def test_bad_rows_are_reported_by_row_number_while_good_rows_import(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    bad_check = code(6)[:17] + ("0" if code(6)[17] != "0" else "1")
    path = write_csv(tmp_path / "企业.csv", [
        HEADER,
        f"好企业一,{code(5)},宜昌市/枝江市,,10,2,,,",
        f"坏校验位,{bad_check},宜昌市/枝江市,,10,2,,,",
        f",{code(7)},宜昌市/枝江市,,10,2,,,",
        f"党员太多,{code(8)},宜昌市/枝江市,,3,5,,,",
        f"好企业二,{code(9)},宜昌市/远安县,,,,党委,,",
    ])
    report = await _import(path, session_factory)
    assert report.created == 2
    assert [error.row for error in report.errors] == [3, 4, 5]
    assert report.errors[0].messages == [f"第 3 行：统一社会信用代码校验位错误（{bad_check}）"]
    text = format_report(report)
    assert "共读取 5 行：新增 2 家" in text and "出错 3 行" in text
    assert "第 5 行：正式党员数（5）多于职工人数（3）" in text
    assert set(await _enterprises(session_factory)) == {code(5), code(9)}


async def test_a_credit_code_twice_in_one_file_keeps_the_later_row(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "企业.csv", [
        HEADER,
        f"旧名称,{code(10)},宜昌市/枝江市,,10,,,,",
        f"新名称,{code(10)},宜昌市/枝江市,,12,,,,",
    ])
    report = await _import(path, session_factory)
    assert report.created == 1
    assert [error.row for error in report.errors] == [2]
    assert "第 3 行为准" in report.errors[0].messages[0]
    assert (await _enterprises(session_factory))[code(10)].name == "新名称"


async def test_reimport_updates_by_credit_code_without_duplicates(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "first.csv", [
        HEADER,
        f"楚韵纺织,{code(11)},宜昌市/枝江市,纺织,120,4,无,,",
        f"三峡机械,{code(12)},宜昌市/夷陵区,机械,8,1,无,,",
    ])
    await _import(first, session_factory)
    again = await _import(first, session_factory)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert len(await _audit(session_factory, "enterprise")) == 2  # the two creations only

    second = write_csv(tmp_path / "second.csv", [
        HEADER,
        f"楚韵纺织集团,{code(11)},宜昌市/枝江市,纺织,130,4,独立党支部,,",
        f"三峡机械,{code(12)},宜昌市/夷陵区,机械,8,1,无,,",
    ])
    report = await _import(second, session_factory)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)

    stored = await _enterprises(session_factory)
    assert len(stored) == 2
    chuyun = stored[code(11)]
    assert (chuyun.name, chuyun.employees) == ("楚韵纺织集团", 130)
    assert await _org_kind(session_factory, code(11)) == ("branch", "single")
    assert chuyun.name_initials == initials("楚韵纺织集团")
    entries = await _audit(session_factory, "enterprise")
    # The organisation is a record of its own now: covering the enterprise is an entry apart.
    assert [e.action for e in entries] == ["create", "create", "update", "cover"]
    update = entries[2]
    assert update.entity_id == chuyun.id and update.actor_label == "cli" and update.actor_id is None
    assert update.before == {"name": "楚韵纺织", "employees": 120}
    assert update.after == {"name": "楚韵纺织集团", "employees": 130}
    assert entries[3].entity_id == chuyun.id and entries[3].before == {"party_org_id": None}
    async with unit_of_work(session_factory) as uow:
        counts = await uow.session.scalar(
            select(func.count()).select_from(HeadcountRecord).where(HeadcountRecord.enterprise_id == chuyun.id)
        )
    assert counts == 2  # the first report and the changed one


async def test_blank_cells_and_missing_columns_keep_stored_values(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _import(write_csv(tmp_path / "a.csv", [HEADER, f"楚韵纺织,{code(13)},宜昌市/枝江市,纺织,120,4,党委,工会,"]),
                  session_factory)
    report = await _import(
        write_csv(tmp_path / "b.csv", [
            "企业名称,统一社会信用代码,所属地区,职工人数", f"楚韵纺织,{code(13)},宜昌市/枝江市,"
        ]),
        session_factory,
    )
    assert report.unchanged == 1
    stored = (await _enterprises(session_factory))[code(13)]
    assert (stored.industry, stored.employees) == ("纺织", 120)
    assert stored.mass_orgs == ["union"]
    assert await _org_kind(session_factory, code(13)) == ("committee", "single")


async def test_officer_named_in_the_file_is_assigned_and_rotation_keeps_history(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first_officer = await _officer(session_factory, "李明", "宜昌市/枝江市")
    second_officer = await _officer(session_factory, "王芳", "宜昌市/枝江市")
    row = f"楚韵纺织,{code(14)},宜昌市/枝江市/马家店街道,,,,,,"
    report = await _import(write_csv(tmp_path / "a.csv", [HEADER, row + "李明"]), session_factory)
    assert (report.assignments_opened, report.assignments_closed, report.warnings) == (1, 0, [])
    again = await _import(write_csv(tmp_path / "b.csv", [HEADER, row + "李明"]), session_factory, date(2026, 12, 1))
    assert (again.unchanged, again.assignments_opened) == (1, 0)

    rotated = await _import(write_csv(tmp_path / "c.csv", [HEADER, row + "王芳"]), session_factory, date(2027, 3, 1))
    assert (rotated.updated, rotated.assignments_opened, rotated.assignments_closed) == (1, 1, 1)

    async with unit_of_work(session_factory) as uow:
        history = (await uow.session.execute(
            select(Assignment.officer_id, Assignment.started_on, Assignment.ended_on).order_by(Assignment.id)
        )).tuples().all()
    assert history == [
        (first_officer, TODAY, date(2027, 3, 1)),
        (second_officer, date(2027, 3, 1), None),
    ]
    assignment_audit = await _audit(session_factory, "assignment")
    assert [e.action for e in assignment_audit] == ["assign", "unassign", "assign"]


async def test_unknown_ambiguous_or_out_of_region_officer_imports_the_row_unassigned_with_a_warning(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _officer(session_factory, "张伟", "宜昌市/枝江市")
    await _officer(session_factory, "张伟", "宜昌市/宜都市")
    await _officer(session_factory, "刘洋", "宜昌市/当阳市")
    await _officer(session_factory, "刘洋", "宜昌市/远安县")
    await _officer(session_factory, "陈静", "宜昌市/兴山县")
    path = write_csv(tmp_path / "a.csv", [
        HEADER,
        f"无此人企业,{code(15)},宜昌市/枝江市,,,,,,赵六",
        f"同名可分企业,{code(16)},宜昌市/宜都市/陆城街道,,,,,,张伟",
        f"两人都不负责的企业,{code(17)},宜昌市/夷陵区,,,,,,刘洋",
        f"区域外企业,{code(18)},宜昌市/枝江市,,,,,,陈静",
    ])
    report = await _import(path, session_factory)
    assert report.created == 4
    assert report.warnings == [
        "第 2 行：联系员“赵六”不存在（请先用 invite 命令创建），该企业暂未分配给此人",
        "第 4 行：联系员“刘洋”的负责区域不包含该企业所在地区，该企业暂未分配给此人",
        "第 5 行：联系员“陈静”的负责区域不包含该企业所在地区，该企业暂未分配给此人",
    ]
    async with unit_of_work(session_factory) as uow:
        assigned = (await uow.session.execute(
            select(Enterprise.credit_code, User.region)
            .join(Assignment, Assignment.enterprise_id == Enterprise.id)
            .join(User, User.id == Assignment.officer_id)
        )).tuples().all()
    assert assigned == [(code(16), "宜昌市/宜都市")]


async def test_missing_required_column_writes_nothing(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", ["企业名称,所属地区", "楚韵纺织,宜昌市"])
    with pytest.raises(ImportFileError, match="缺少必需的列：统一社会信用代码。文件中的列：企业名称、所属地区"):
        await _import(path, session_factory)
    assert await _enterprises(session_factory) == {}


async def test_upsert_never_commits(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        result = await upsert_enterprises(
            uow.session, [EnterpriseRecord(credit_code=code(18), name="未提交", region="宜昌市")], today=TODAY
        )
        assert result.created == 1
    assert await _enterprises(session_factory) == {}


def test_new_enterprise_defaults_match_the_model() -> None:
    columns = Enterprise.__table__.c
    for key, value in NEW_DEFAULTS.items():
        default = columns[key].default
        if default is None:
            assert value is None, key
        elif default.is_scalar:
            assert value == default.arg, key
    assert NEW_DEFAULTS["mass_orgs"] == []


def test_records_refuse_invalid_codes_and_normalize_the_region() -> None:
    with pytest.raises(ValueError):
        EnterpriseRecord(credit_code="91350100M000100Y44", name="x", region="宜昌市")
    with pytest.raises(ValueError):
        EnterpriseRecord(credit_code=code(1), name=" ", region="宜昌市")
    assert EnterpriseRecord(credit_code=code(1), name="x", region=" 宜昌市 /枝江市/").region == "宜昌市/枝江市"
