import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from output.ledger import LEDGER_LOCALE, build_ledger
from output.render import labels
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.importer import ImportFileError, ImportReport, format_report, import_enterprises, read_rows
from storage.models import (
    Assignment,
    AuditEntry,
    Enterprise,
    HeadcountRecord,
    PartyOrganisation,
    PartyOrgCoverage,
    User,
)
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


# --- a county's own registry ---------------------------------------------------------------

JOINT = "中共枝江市马家店街道非公企业联合支部委员会"
COUNTY = "宜昌市/枝江市"


def county_workbook(path: Path) -> Path:
    """枝江市's 台账 as a county office keeps it: a merged title, a unit and date line, a header
    over two rows (党员情况, 党组织情况 and 出资人情况 merged over their columns, the others merged
    down), 序号, townships only, full organisation names, a joint branch named on three rows,
    numbers as text and in full-width digits, a lower-case spaced credit code, an Excel date, a
    bad row, a 合计 row, blank rows and a 填表说明 row."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["枝江市非公有制企业党建工作台账（2026年）"])
    sheet.merge_cells("A1:U1")
    sheet.append(["填报单位：中共枝江市委组织部（两新工委）", *[None] * 9, "填报日期：2026年11月20日"])
    sheet.merge_cells("A2:J2")
    sheet.merge_cells("K2:U2")
    sheet.append(["序号", "企业名称", "统一社会信用代码", "所属乡镇（街道）", "职工人数", "党员情况", None, None,
                  "党组织情况", None, None, None, None, "经营状态", "是否规模以上企业", "年营业收入（万元）", "坐落",
                  "出资人情况", None, "未建立党组织原因", "备注"])
    sheet.append([None, None, None, None, None, "正式党员数", "组织关系在本企业", "组织关系不在本企业", "党组织名称",
                  "类别", "成立时间", "隶属党组织", "书记", None, None, None, None, "是否党员", "是否兼任党组织书记",
                  None, None])
    for column in "ABCDENOPQTU":
        sheet.merge_cells(f"{column}3:{column}4")
    for cells in ("F3:H3", "I3:M3", "R3:S3"):
        sheet.merge_cells(cells)
    spaced = code(3).lower()[:8] + " " + code(3).lower()[8:]
    for row in [
        [1, "枝江市楚韵纺织有限公司", code(1), "马家店街道", 120, "５", 4, 1, "中共枝江市楚韵纺织有限公司支部委员会", None,
         "2019年5月1日", "中共枝江市马家店街道工作委员会", "张伟", "存续", "是", "1,250.5", "枝江经济开发区仙女工业园",
         "是", "是", None, None],
        [2, "枝江市金润机械有限公司", code(2), "马家店街道", 35, 2, 2, 0, JOINT, None, "2021/7/1", None, "李强",
         "在营", "否", 800, "其他", "否", "否", None, None],
        [3, "枝江市德盛包装有限公司", spaced, "马家店街道", "28", 1, 1, 0, JOINT, None, None, None, None, "开业", "否",
         None, None, "否", "否", None, None],
        [4, "枝江市华通物流有限公司", code(4), "马家店街道", 40, "2", None, None, JOINT, "党支部", None, None, None,
         "在营", "否", None, "马家店物流园", "否", "否", None, None],
        [5, "枝江市鑫达建材有限公司", code(5), "顾家店镇", 60, 2, 2, 0, "无", None, None, None, None, "在营", "否",
         None, "其他", "否", "否", "党员人数不足3人", "拟联合组建"],
        [6, "湖北三宁化工股份有限公司", code(6), "姚家港化工园", 2100, 86, 80, 6,
         "中共湖北三宁化工股份有限公司总支部委员会", None, datetime(2015, 3, 18),
         "中共湖北枝江酒业股份有限公司委员会", "王敏", None, "是", 350000, None, "否", "否", None, None],
        [7, "湖北枝江酒业股份有限公司", code(7), "马家店街道", 1500, 120, 110, 10, "中共湖北枝江酒业股份有限公司委员会",
         None, "2010.06", None, "赵红", "在营", "是", "２３０００", "白洋工业园", "是", "是", None, None],
        [8, "枝江市永旺农资有限公司", code(8), "百里洲镇", 12, 0, None, None, None, None, None, None, None, "吊销",
         None, None, None, None, None, None, None],
        [9, "枝江市佳美服饰店", code(9), "董市镇", 6, 0, None, None, "—", None, None, None, None, "停业", "否", None,
         "楼宇", "否", "否", None, None],
        [10, "坏代码企业", "91420583MA4F0001XX", "董市镇", 6, 0, None, None, "无", None, None, None, None, "在营",
         None, None, None, None, None, None, None],
    ]:
        sheet.append(row)
    sheet.append(["合计", None, None, None, "=SUM(E5:E14)", "=SUM(F5:F14)"])
    sheet.append([])
    sheet.append([None] * 5)
    sheet.append(["填表说明：1. 党组织名称请填写全称；2. 成立时间填写批复成立日期。"])
    sheet.merge_cells("A18:U18")
    workbook.save(path)
    return path


async def _organisations(factory: async_sessionmaker[AsyncSession]) -> dict[str, PartyOrganisation]:
    async with unit_of_work(factory) as uow:
        found = {o.name: o for o in await uow.session.scalars(select(PartyOrganisation))}
        uow.session.expunge_all()
        return found


async def _coverage(factory: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, date | None, date | None]]:
    """(credit code, organisation name, started, ended) of every coverage row."""
    async with unit_of_work(factory) as uow:
        rows = await uow.session.execute(
            select(Enterprise.credit_code, PartyOrganisation.name, PartyOrgCoverage.started_on,
                   PartyOrgCoverage.ended_on)
            .join(Enterprise, Enterprise.id == PartyOrgCoverage.enterprise_id)
            .join(PartyOrganisation, PartyOrganisation.id == PartyOrgCoverage.organisation_id)
            .order_by(Enterprise.credit_code, PartyOrgCoverage.id)
        )
        return [(c, n, s, e) for c, n, s, e in rows.tuples()]


async def _counts(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with unit_of_work(factory) as uow:
        return {
            model.__tablename__: await uow.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Enterprise, PartyOrganisation, PartyOrgCoverage, AuditEntry, HeadcountRecord, Assignment)
        }


async def test_a_county_workbook_with_titles_merged_headers_and_totals_imports_its_registry(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    report = await _import(county_workbook(tmp_path / "枝江市台账.xlsx"), session_factory, region=COUNTY)

    assert (report.rows_read, report.created, report.updated, report.unchanged) == (10, 9, 0, 0)
    assert report.organisations_created == 4
    assert [error.messages for error in report.errors] == [["第 14 行：统一社会信用代码校验位错误（91420583MA4F0001XX）"]]
    assert report.skipped == [
        "第 15 行：合计行，已跳过",
        "第 16–17 行：空行，已跳过",
        "第 18 行：说明行（填表说明：1. 党组织名称请填写全称；2…），已跳过",
    ]
    assert report.header[0] == "表头：第 3–4 行"
    assert {"“序号” → 序号，已忽略", "“党组织情况/党组织名称” → 党组织", "“党组织情况/类别” → 党组织类别",
            "“党组织情况/成立时间” → 党组织成立时间", "“党员情况/组织关系在本企业” → 组织关系在本企业党员数",
            "“出资人情况/是否兼任党组织书记” → 出资人是否兼任党组织书记", "“所属乡镇（街道）” → 所属地区",
            "“备注” → 未识别，已忽略"} <= set(report.header)
    text = format_report(report)
    assert "第 15 行：合计行，已跳过" in text and "新建党组织 4 个" in text

    stored = await _enterprises(session_factory)
    assert set(stored) == {code(n) for n in range(1, 10)}
    chuyun = stored[code(1)]
    assert (chuyun.region, chuyun.employees, chuyun.party_members, chuyun.members_here, chuyun.members_elsewhere) == (
        "宜昌市/枝江市/马家店街道", 120, 5, 4, 1)
    assert (chuyun.operating_status, chuyun.above_scale, chuyun.revenue) == ("operating", True, 1250.5)
    assert (chuyun.location_kind, chuyun.location_name) == ("park", "枝江经济开发区仙女工业园")
    assert (chuyun.owner_is_member, chuyun.owner_is_secretary, chuyun.unformed_reason) == (True, True, None)
    assert (stored[code(2)].location_kind, stored[code(2)].location_name) == ("other", None)
    assert (stored[code(3)].employees, stored[code(3)].operating_status) == (28, "operating")
    assert (stored[code(4)].location_kind, stored[code(4)].location_name) == ("park", "马家店物流园")
    xinda = stored[code(5)]
    assert (xinda.party_org_id, xinda.unformed_reason, xinda.region) == (None, "too_few_members", "宜昌市/枝江市/顾家店镇")
    assert stored[code(6)].operating_status == "operating"  # left blank: the default for a new enterprise
    assert (stored[code(7)].revenue, stored[code(7)].location_kind) == (23000.0, "park")
    assert (stored[code(8)].operating_status, stored[code(8)].party_org_id) == ("deregistered", None)
    assert (stored[code(9)].operating_status, stored[code(9)].location_kind) == ("suspended", "building")

    organisations = await _organisations(session_factory)
    assert set(organisations) == {"中共枝江市楚韵纺织有限公司支部委员会", JOINT, "中共湖北三宁化工股份有限公司总支部委员会",
                                  "中共湖北枝江酒业股份有限公司委员会"}
    chuyun_branch = organisations["中共枝江市楚韵纺织有限公司支部委员会"]
    assert (chuyun_branch.category, chuyun_branch.formation, chuyun_branch.founded_on, chuyun_branch.secretary) == (
        "branch", "single", date(2019, 5, 1), "张伟")
    assert (chuyun_branch.parent_id, chuyun_branch.parent_name) == (None, "中共枝江市马家店街道工作委员会")
    joint = organisations[JOINT]
    assert (joint.category, joint.formation, joint.founded_on, joint.secretary, joint.region) == (
        "branch", "joint", date(2021, 7, 1), "李强", "宜昌市/枝江市/马家店街道")
    sanning = organisations["中共湖北三宁化工股份有限公司总支部委员会"]
    wine = organisations["中共湖北枝江酒业股份有限公司委员会"]
    assert (sanning.category, sanning.founded_on, sanning.parent_id, sanning.parent_name) == (
        "general_branch", date(2015, 3, 18), wine.id, None)  # its parent comes later in the file
    assert (wine.category, wine.formation, wine.founded_on, wine.name_inferred) == (
        "committee", "single", date(2010, 6, 1), False)

    assert await _coverage(session_factory) == [
        (code(1), "中共枝江市楚韵纺织有限公司支部委员会", date(2019, 5, 1), None),
        (code(2), JOINT, date(2021, 7, 1), None),
        (code(3), JOINT, date(2021, 7, 1), None),
        (code(4), JOINT, date(2021, 7, 1), None),
        (code(6), "中共湖北三宁化工股份有限公司总支部委员会", date(2015, 3, 18), None),
        (code(7), "中共湖北枝江酒业股份有限公司委员会", date(2010, 6, 1), None),
    ]


async def test_reimporting_the_county_workbook_changes_nothing(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = county_workbook(tmp_path / "枝江市台账.xlsx")
    await _import(path, session_factory, region=COUNTY)
    before = await _counts(session_factory)
    again = await _import(path, session_factory, region=COUNTY, today=date(2027, 1, 5))
    assert (again.created, again.updated, again.unchanged, again.organisations_created) == (0, 0, 9, 0)
    assert again.warnings == []
    assert await _counts(session_factory) == before  # no audit entry, no coverage row, no organisation


async def test_a_dry_run_reports_each_row_and_writes_nothing(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = county_workbook(tmp_path / "枝江市台账.xlsx")
    empty = await _counts(session_factory)
    report = await _import(path, session_factory, region=COUNTY, dry_run=True)
    assert (report.created, report.organisations_created, len(report.errors)) == (9, 4, 1)
    assert await _counts(session_factory) == empty
    text = format_report(report)
    assert "试运行（--dry-run）" in text
    assert f"第 6 行：枝江市金润机械有限公司：新建党组织“{JOINT}”" in text
    assert "第 7 行：枝江市德盛包装有限公司" in text
    assert "第 14 行：统一社会信用代码校验位错误（91420583MA4F0001XX）" in text

    await _import(path, session_factory, region=COUNTY)
    changed = write_csv(tmp_path / "changed.csv", [
        "企业名称,统一社会信用代码,所属地区,职工人数,党组织,党组织成立时间,经营状态",
        f"枝江市金润机械有限公司,{code(2)},{COUNTY}/马家店街道,36,无,,停业",
    ])
    written = await _counts(session_factory)
    preview = await _import(changed, session_factory, dry_run=True)
    assert (preview.created, preview.updated) == (0, 1)
    assert await _counts(session_factory) == written
    assert (f"第 2 行：枝江市金润机械有限公司：职工人数 35 → 36；经营状态 在营 → 停业；党组织 {JOINT} → （空）"
            in format_report(preview))


async def test_a_joint_branch_named_on_three_rows_is_one_organisation_covering_the_three(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # Spread over the file and over the registry's write chunks (500 rows): still one record.
    lines = ["企业名称,统一社会信用代码,所属地区,党组织"]
    lines += [f"企业{n},{code(n)},{COUNTY}/董市镇,无" for n in range(100, 1300)]
    lines[1] = f"枝江市甲公司,{code(100)},{COUNTY}/董市镇,中共枝江市董市镇商会联合支部委员会"
    lines[700] = f"枝江市乙公司,{code(799)},{COUNTY}/董市镇/工业园,中共枝江市董市镇商会联合支部委员会"
    lines[1200] = f"枝江市丙公司,{code(1299)},{COUNTY}/仙女镇,中共枝江市董市镇商会联合支部委员会"
    report = await _import(write_csv(tmp_path / "a.csv", lines), session_factory)
    assert (report.created, report.organisations_created, report.errors) == (1200, 1, [])
    (branch,) = (await _organisations(session_factory)).values()
    assert (branch.category, branch.formation, branch.founded_on, branch.region) == ("branch", "joint", None, COUNTY)
    assert await _coverage(session_factory) == [
        (code(100), branch.name, None, None), (code(799), branch.name, None, None), (code(1299), branch.name, None, None)
    ]


async def test_an_organisation_without_a_founding_date_has_none_until_the_registry_gives_it(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    header = "企业名称,统一社会信用代码,所属地区,党组织名称,党组织成立时间"
    name = "中共枝江市楚韵纺织有限公司支部委员会"
    await _import(write_csv(tmp_path / "a.csv", [header, f"楚韵纺织,{code(20)},{COUNTY},{name},"]), session_factory)
    assert (await _organisations(session_factory))[name].founded_on is None  # never the day of the import
    assert await _coverage(session_factory) == [(code(20), name, None, None)]

    dated = await _import(write_csv(tmp_path / "b.csv", [header, f"楚韵纺织,{code(20)},{COUNTY},{name},2018-09-30"]),
                          session_factory)
    assert (dated.updated, dated.unchanged) == (1, 0)
    assert (await _organisations(session_factory))[name].founded_on == date(2018, 9, 30)
    # No enterprise was covered before its organisation existed.
    assert await _coverage(session_factory) == [(code(20), name, date(2018, 9, 30), None)]
    assert [e.after for e in await _audit(session_factory, "party_organisation")][-1] == {"founded_on": "2018-09-30"}


async def test_a_kind_alone_then_the_full_name_renames_the_made_up_organisation(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    header = "企业名称,统一社会信用代码,所属地区,党组织"
    await _import(write_csv(tmp_path / "a.csv", [header, f"楚韵纺织,{code(21)},{COUNTY},党支部（单独组建）"]),
                  session_factory)
    (made_up,) = (await _organisations(session_factory)).values()
    assert (made_up.name, made_up.name_inferred, made_up.category, made_up.formation) == (
        "楚韵纺织党组织", True, "branch", "single")

    await _import(write_csv(tmp_path / "b.csv", [header, f"楚韵纺织,{code(21)},{COUNTY},中共楚韵纺织支部委员会"]),
                  session_factory)
    (named,) = (await _organisations(session_factory)).values()
    assert (named.id, named.name, named.name_inferred) == (made_up.id, "中共楚韵纺织支部委员会", False)

    kept = await _import(write_csv(tmp_path / "d.csv", [header, f"楚韵纺织,{code(21)},{COUNTY},"]), session_factory)
    assert kept.unchanged == 1  # an empty cell says nothing: the organisation stays

    later = date(2027, 3, 1)
    gone = await _import(write_csv(tmp_path / "c.csv", [header, f"楚韵纺织,{code(21)},{COUNTY},无党组织"]),
                         session_factory, today=later)
    assert gone.updated == 1
    # It has none from the day the registry said so (its organisation's founding date unknown).
    assert await _coverage(session_factory) == [(code(21), "中共楚韵纺织支部委员会", None, later)]
    assert (await _enterprises(session_factory))[code(21)].party_org_id is None
    # Covering nobody now, it is dissolved that day; named for the enterprise again, it exists again.
    assert (await _organisations(session_factory))["中共楚韵纺织支部委员会"].dissolved_on == later
    await _import(write_csv(tmp_path / "e.csv", [header, f"楚韵纺织,{code(21)},{COUNTY},中共楚韵纺织支部委员会"]),
                  session_factory, today=date(2027, 6, 1))
    assert (await _organisations(session_factory))["中共楚韵纺织支部委员会"].dissolved_on is None
    assert (await _enterprises(session_factory))[code(21)].party_org_id == named.id


async def test_a_gb18030_csv_county_file_with_a_title_and_a_two_row_header_imports(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "名册.csv", [
        "枝江市两新组织党建名册,,,,,,,,",
        "序号,企业名称,统一社会信用代码,所属地区,党组织情况,,,,经营状态",
        ",,,,名称,类别,组建方式,成立时间,",
        f"1,枝江市楚韵纺织有限公司,{code(30)},{COUNTY}/马家店街道,中共枝江市楚韵纺织有限公司委员会,党委,单独组建,"
        "2019-05-01,在营",
        f"2,枝江市金润机械有限公司,{code(31)},{COUNTY}/马家店街道,中共枝江市金润机械有限公司党支部,,挂靠,2020.3,注销",
        f"3,枝江市德盛包装有限公司,{code(32)},{COUNTY}/董市镇,,党支部（联合组建）,,2021年7月1日,存续",
        f"4,枝江市华通物流有限公司,{code(33)},{COUNTY}/董市镇,未建,,,,在营",
        "合  计,,,,,,,,",
        "注：成立时间以上级党组织批复为准。,,,,,,,,",
    ], encoding="gb18030")
    report = await _import(path, session_factory)
    assert (report.created, report.errors, report.organisations_created) == (4, [], 3)
    assert report.skipped == ["第 8 行：合计行，已跳过", "第 9 行：说明行（注：成立时间以上级党组织批复为准。），已跳过"]
    assert "“党组织情况/组建方式” → 组建方式" in report.header
    assert await _org_kind(session_factory, code(30)) == ("committee", "single")
    assert await _org_kind(session_factory, code(31)) == ("branch", "attached")
    assert await _org_kind(session_factory, code(32)) == ("branch", "joint")
    assert await _org_kind(session_factory, code(33)) is None
    stored = await _enterprises(session_factory)
    assert [stored[code(n)].operating_status for n in range(30, 34)] == [
        "operating", "deregistered", "operating", "operating"]
    organisations = await _organisations(session_factory)
    assert organisations["中共枝江市金润机械有限公司党支部"].founded_on == date(2020, 3, 1)
    assert organisations["枝江市德盛包装有限公司党组织"].founded_on == date(2021, 7, 1)


async def test_an_exported_ledger_imports_back_unchanged_and_into_an_empty_registry(
    session_factory: async_sessionmaker[AsyncSession], sqlite_template: Path, tmp_path: Path
) -> None:
    await _officer(session_factory, "王芳", COUNTY)
    await _import(county_workbook(tmp_path / "枝江市台账.xlsx"), session_factory, region=COUNTY)
    await _import(write_csv(tmp_path / "officers.csv", [
        "企业名称,统一社会信用代码,所属地区,群团组织,示范点,走访周期,联系员,企业类型,行业,业主姓名,业主政治面貌",
        f"枝江市楚韵纺织有限公司,{code(1)},{COUNTY}/马家店街道,工会、共青团,是,60,王芳,改制企业,纺织,张伟,中共党员",
        f"枝江市佳美服饰店,{code(9)},{COUNTY}/董市镇,无,否,45,王芳,个体工商户,零售,刘丽,群众",
    ]), session_factory)
    ledger = await _ledger(session_factory, tmp_path / "台账.xlsx")
    before = await _counts(session_factory)

    back = await _import(ledger, session_factory)
    assert (back.rows_read, back.created, back.updated, back.unchanged, back.errors) == (9, 0, 0, 9, [])
    assert not [line for line in back.header if "未识别" in line]
    assert await _counts(session_factory) == before

    # Into an empty registry (with the same officer): the ledger it gives reads the same.
    shutil.copy(sqlite_template, tmp_path / "empty.db")
    engine = make_async_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        empty = make_session_factory(engine)
        await _officer(empty, "王芳", COUNTY)
        fresh = await _import(ledger, empty)
        assert (fresh.created, fresh.errors, fresh.warnings) == (9, [], [])
        again = await _ledger(empty, tmp_path / "台账2.xlsx")
    finally:
        await engine.dispose()
    assert _imported_columns(again) == _imported_columns(ledger)


async def _ledger(factory: async_sessionmaker[AsyncSession], path: Path) -> Path:
    async with unit_of_work(factory) as uow:
        path.write_bytes(await build_ledger(uow.session, scope=COUNTY, today=TODAY, actor_label="test", actor_id=None))
    return path


def _imported_columns(path: Path) -> list[dict[str, str]]:
    """The ledger's rows as the importer reads them, by credit code order."""
    return sorted((raw for _, raw in read_rows(path)), key=lambda raw: raw["credit_code"])


async def test_rows_naming_one_organisation_that_disagree_keep_the_first_and_say_so(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    report = await _import(write_csv(tmp_path / "a.csv", [
        "企业名称,统一社会信用代码,所属地区,党组织名称,成立时间,书记",
        f"甲公司,{code(40)},{COUNTY}/董市镇,{JOINT},2021-07-01,李强",
        f"乙公司,{code(41)},{COUNTY}/董市镇,{JOINT},2021-08-01,李强",
        f"丙公司,{code(42)},{COUNTY}/董市镇,{JOINT},,",
    ]), session_factory)
    assert (report.created, report.organisations_created) == (3, 1)
    assert report.warnings == [f"第 3 行：党组织“{JOINT}”的党组织成立时间与第 2 行不同，以第 2 行为准"]
    assert (await _organisations(session_factory))[JOINT].founded_on == date(2021, 7, 1)
