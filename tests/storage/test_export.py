import io
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from output.ledger import (
    FEEDBACK_HEADERS,
    FOUNDING_HEADERS,
    LEDGER_HEADERS,
    ORGANISATION_HEADERS,
    PEOPLE_HEADERS,
    REPLACEMENT,
    SUMMARY_HEADERS,
    VISIT_HEADERS,
    build_ledger,
    export_ledger,
    sub_region,
)
from storage import organisations
from storage.creditcode import check_character
from storage.enums import Formation, OrgCategory
from storage.models import (
    Assignment,
    AuditEntry,
    Enterprise,
    Feedback,
    Founding,
    PartyOrganisation,
    Person,
    ReviewNote,
    User,
    Visit,
)
from storage.organisations import NewOrganisation
from storage.uow import unit_of_work

TODAY = date(2026, 11, 25)
TRICKY = "<b>&amp;\"' 😀 =1+1 楚韵"


def code(serial: int, kind: str = "91") -> str:
    """A valid credit code; `kind` 91 is an enterprise (企业法人), 92 a 个体工商户."""
    first17 = f"{kind}420583MA4F{serial:05d}"
    return first17 + check_character(first17)


async def _seed(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = User(name="李明", role="officer", region="宜昌市/枝江市")
        other = User(name="王芳", role="officer", region="宜昌市/远安县")
        chuyun = Enterprise(
            name="枝江市楚韵纺织有限公司", credit_code=code(1), region="宜昌市/枝江市/马家店街道", kind="private",
            industry="纺织", employees=120, party_members=4, mass_orgs=["union", "youth_league"],
            owner_name=TRICKY, owner_political_status="群众", demonstration_point=True, visit_cadence_days=30,
        )
        organisation = PartyOrganisation(name="中共枝江三峡机械支部委员会", category="branch", formation="single",
                                         region="宜昌市/枝江市/七星台镇")
        s.add(organisation)
        await s.flush()
        branch = Enterprise(
            name="枝江三峡机械", credit_code=code(2), region="宜昌市/枝江市/七星台镇", kind="restructured",
            employees=40, party_members=5, party_org_id=organisation.id, visit_cadence_days=30,
        )
        never = Enterprise(
            name="枝江市本级商贸", credit_code=code(3), region="宜昌市/枝江市", kind="individual",
            employees=2, party_members=0, visit_cadence_days=60,
        )
        outside = Enterprise(
            name="远安茶业", credit_code=code(4), region="宜昌市/远安县", employees=9,
        )
        s.add_all([officer, other, chuyun, branch, never, outside])
        await s.flush()
        s.add_all([
            Assignment(
                enterprise_id=chuyun.id, officer_id=other.id, started_on=date(2025, 1, 1), ended_on=date(2026, 1, 1)
            ),
            Assignment(enterprise_id=chuyun.id, officer_id=officer.id, started_on=date(2026, 1, 1)),
            Assignment(enterprise_id=outside.id, officer_id=other.id, started_on=date(2026, 1, 1)),
        ])
        latest = Visit(
            enterprise_id=chuyun.id, officer_id=officer.id, visit_date=date(2026, 11, 20),
            activities=["policy", "activists"], employees=120, party_members=4,
            summary=TRICKY, follow_up="下周再访\n带上政策文件\x07", summary_voice_file_id="voice-1",
            media=[{"type": "photo", "file_id": "p1"}, {"type": "photo", "file_id": "p2"}],
            latitude=30.425, longitude=111.7601, created_at=datetime(2026, 11, 20, 7, 30, tzinfo=UTC),
        )
        older = Visit(
            enterprise_id=branch.id, officer_id=officer.id, visit_date=date(2026, 9, 1), activities=["help"],
            summary="=1+1", follow_up='=HYPERLINK("http://example.invalid","点我")',
            created_at=datetime(2026, 9, 1, 1, 0, tzinfo=UTC),
        )
        far = Visit(
            enterprise_id=outside.id, officer_id=other.id, visit_date=date(2026, 11, 24), activities=["other"],
            created_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        )
        s.add_all([latest, older, far])
        await s.flush()
        ids = {"officer": officer.id, "latest": latest.id, "older": older.id}
        ids |= await _seed_records(s, officer, other, chuyun, branch, outside)
        await uow.commit()
    return ids


async def _seed_records(
    s: AsyncSession, officer: User, other: User, chuyun: Enterprise, branch: Enterprise, outside: Enterprise
) -> dict[str, int]:
    """People in development, feedback and foundings: two of each in 枝江市, one in 远安县."""
    activist = Person(
        enterprise_id=chuyun.id, officer_id=officer.id, name="张三", gender="female", birth_date=date(1995, 3, 2),
        position=TRICKY, stage="activist", applied_on=date(2025, 3, 1), talked_on=date(2025, 3, 20),
        activist_on=date(2025, 9, 1), contacts=["王五", "赵六"],
    )
    owner = Person(
        enterprise_id=branch.id, officer_id=officer.id, name="=SUM(A1:A9)", gender="male",
        birth_date=date(1970, 1, 1), position="董事长", is_owner=True, stage="applicant", applied_on=date(2026, 10, 1),
    )
    far_person = Person(
        enterprise_id=outside.id, officer_id=other.id, name="远安某人", gender="male", birth_date=date(1990, 1, 1),
        stage="applicant", applied_on=date(2026, 1, 1),
    )
    resolved = Feedback(
        enterprise_id=chuyun.id, raised_by="业主张总", channel="officer", category="hiring", content=TRICKY,
        urgency="urgent", status="resolved", resolution="已对接人社局", rating=5, officer_id=officer.id,
        created_at=datetime(2026, 11, 1, 1, 0, tzinfo=UTC), closed_at=datetime(2026, 11, 3, 16, 30, tzinfo=UTC),
    )
    voice = Feedback(
        enterprise_id=branch.id, raised_by="业主", channel="owner", category="financing",
        content="voice:AwACAgUAAxkBAAI", urgency="critical", status="open",
        created_at=datetime(2026, 11, 20, 17, 0, tzinfo=UTC),
    )
    far_feedback = Feedback(
        enterprise_id=outside.id, raised_by="某人", channel="officer", category="other", content="远安的诉求",
        urgency="normal", status="open", created_at=datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
    )
    independent = Founding(
        enterprise_id=branch.id, founded_on=date(2026, 6, 1), category="branch", formation="single",
        secretary="张建国", members=5, officer_id=officer.id,
    )
    joint = Founding(
        enterprise_id=chuyun.id, founded_on=date(2026, 11, 10), category="branch", formation="joint",
        secretary=TRICKY, members=3, officer_id=officer.id,
    )
    far_founding = Founding(
        enterprise_id=outside.id, founded_on=date(2026, 7, 1), category="branch", formation="single",
        secretary="远安书记", members=3, officer_id=other.id,
    )
    s.add_all([activist, owner, far_person, resolved, voice, far_feedback, independent, joint, far_founding])
    await s.flush()
    s.add_all([
        ReviewNote(person_id=activist.id, written_on=date(2026, 2, 1), content="表现好", author_id=officer.id),
        ReviewNote(person_id=activist.id, written_on=date(2026, 4, 1), content="继续培养", author_id=officer.id),
    ])
    await s.flush()
    return {"resolved": resolved.id, "voice": voice.id}


async def _ledger(factory: async_sessionmaker[AsyncSession], scope: str, actor_id: int | None = None) -> Workbook:
    async with unit_of_work(factory) as uow:
        data = await build_ledger(uow.session, scope=scope, today=TODAY, actor_label="督导甲", actor_id=actor_id)
        await uow.commit()
    return load_workbook(io.BytesIO(data))


# The row of column headers: below the title row, and on the ledger below the group headers too.
HEADER_ROW = {"分类台账": 3}
OFFICER = "党建工作指导员（联系员）"


def _rows(workbook: Workbook, sheet: str) -> list[tuple[object, ...]]:
    """The header row and every row below it."""
    rows = workbook[sheet].iter_rows(min_row=HEADER_ROW.get(sheet, 2), values_only=True)
    return [tuple(row) for row in rows]


async def test_ledger_has_seven_sheets_with_bold_frozen_filtered_headers(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    assert workbook.sheetnames == ["分类台账", "党组织", "走访记录", "党员发展", "业主诉求", "新建党组织", "汇总"]
    all_headers = (LEDGER_HEADERS, ORGANISATION_HEADERS, VISIT_HEADERS, PEOPLE_HEADERS, FEEDBACK_HEADERS,
                   FOUNDING_HEADERS, SUMMARY_HEADERS)
    for title, headers in zip(workbook.sheetnames, all_headers, strict=True):
        sheet = workbook[title]
        header_row = HEADER_ROW.get(title, 2)
        assert _rows(workbook, title)[0] == headers
        # Frozen below the header; the ledger keeps 序号 and 企业名称 in view too.
        assert sheet.freeze_panes == ("C4" if title == "分类台账" else "A3")
        assert sheet[f"A{header_row}"].font.b
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith(f"A{header_row}:")
    ledger = workbook["分类台账"]
    # CJK characters count double, so Chinese names get twice the width of their length.
    assert ledger.column_dimensions["C"].width >= 18
    assert ledger.column_dimensions["B"].width >= 2 * len("枝江市楚韵纺织有限公司")


async def test_ledger_classifies_and_flags_enterprises_in_scope_only(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    blocks = _blocks(workbook)
    records = [record for _, block in blocks for record in block]
    # 已建 (单独组建) before 未建 (应建未建, then 无党员); within a class by region, then name.
    # 远安 is outside the scope.
    assert [r["企业名称"] for r in records] == ["枝江三峡机械", "枝江市楚韵纺织有限公司", "枝江市本级商贸"]
    branch, chuyun, never = records
    assert _block_of(blocks, "枝江三峡机械") == "已建立党组织：单独组建"  # the chat's own words
    assert _block_of(blocks, "枝江市楚韵纺织有限公司") == "未建立党组织：应建未建（正式党员 3 名以上）；工作措施：单独组建党组织"
    assert (chuyun["工会"], chuyun["共青团"], chuyun["妇联"]) == ("有", "有", "无")
    assert chuyun["示范点"] == "是" and chuyun["企业类型"] == "私营企业"
    assert chuyun[OFFICER] == "李明"  # the rotated-out officer is history, not current
    assert chuyun["最近走访"] == datetime(2026, 11, 20) and chuyun["距今天数"] == 5
    assert chuyun["是否超期"] == "否" and chuyun["具备组建条件"] == "是" and chuyun["百人以上未建"] == "是"
    assert branch["是否超期"] == "是" and branch["具备组建条件"] == "否"
    assert never["最近走访"] is None and never["距今天数"] is None and never["是否超期"] == "是"
    assert never[OFFICER] is None and never["企业类型"] == "个体工商户"


async def test_visits_sheet_lists_visits_in_scope_newest_first(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    header, *rows = _rows(workbook, "走访记录")
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["编号"] for r in records] == [f"V-{ids['latest']}", f"V-{ids['older']}"]
    latest = records[0]
    assert latest["工作内容"] == "宣传政策、培养入党积极分子"
    assert latest[OFFICER] == "李明" and latest["所属地区"] == "宜昌市/枝江市/马家店街道"
    assert latest["语音"] == "有" and latest["照片数"] == 2 and latest["定位"] == "30.425000,111.760100"
    assert latest["填报时间"] == datetime(2026, 11, 20, 15, 30)  # 07:30 UTC is 15:30 in Yichang
    assert records[1]["语音"] == "无" and records[1]["照片数"] == 0 and records[1]["定位"] is None


async def test_the_digests_ledger_lists_the_visits_of_the_last_twelve_months(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A weekly attachment must not grow with the years: the digest's ledger starts its visits
    sheet a year back (the 2026-09-01 visit is out on 2027-09-15), the rest of the workbook and
    `/export`'s ledger keep everything; the audit entry says which visits went out."""
    from output.digests import LEDGER_VISITS_DAYS, supervisor_messages
    from storage.digests import week_of

    ids = await _seed(session_factory)
    later = date(2027, 9, 15)
    async with unit_of_work(session_factory) as uow:
        boss = User(name="督导甲", role="supervisor", region="宜昌市/枝江市")
        uow.session.add(boss)
        await uow.session.flush()
        _texts, _png, data = await supervisor_messages(
            uow.session, scope="宜昌市/枝江市", actor_id=boss.id, actor_label=boss.name, week_start=week_of(later),
            tz=ZoneInfo("Asia/Shanghai"), today=later, locale="zh_CN")
        entry = (await uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "ledger"))).one()
        await uow.commit()
    assert LEDGER_VISITS_DAYS == 365
    header, *rows = _rows(load_workbook(io.BytesIO(data)), "走访记录")
    assert [row[header.index("编号")] for row in rows] == [f"V-{ids['latest']}"]
    assert entry.after is not None and entry.after["visits_since"] == "2026-09-15"
    assert entry.after["rows"]["visits"] == 1 and entry.after["rows"]["enterprises"] == 3
    # The full ledger still has both.
    header, *rows = _rows(await _ledger(session_factory, "宜昌市/枝江市"), "走访记录")
    assert [row[header.index("编号")] for row in rows] == [f"V-{ids['latest']}", f"V-{ids['older']}"]


async def test_typed_text_round_trips_exactly_and_formulas_stay_text(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    owner = workbook["分类台账"].cell(row=_row_of(workbook, "枝江市楚韵纺织有限公司"),
                                     column=LEDGER_HEADERS.index("出资人姓名") + 1)
    assert owner.value == TRICKY and owner.data_type == "s"
    summary = workbook["走访记录"].cell(row=3, column=VISIT_HEADERS.index("走访情况") + 1)
    assert summary.value == TRICKY
    follow_up = workbook["走访记录"].cell(row=3, column=VISIT_HEADERS.index("后续跟进") + 1)
    assert follow_up.value == "下周再访\n带上政策文件" + REPLACEMENT
    formula_like = workbook["走访记录"].cell(row=4, column=VISIT_HEADERS.index("走访情况") + 1)
    assert formula_like.value == "=1+1" and formula_like.data_type == "s"
    link = workbook["走访记录"].cell(row=4, column=VISIT_HEADERS.index("后续跟进") + 1)
    assert link.value == '=HYPERLINK("http://example.invalid","点我")' and link.data_type == "s"


async def test_no_cell_of_the_file_is_a_formula(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _seed(session_factory)
    async with unit_of_work(session_factory) as uow:
        data = await build_ledger(uow.session, scope="宜昌市", today=TODAY, actor_label="cli", actor_id=None)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/")]
    assert sheets and all(b"<f>" not in sheet and b"<f " not in sheet for sheet in sheets)


async def test_summary_counts_per_classification_and_sub_region(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    _, *rows = _rows(workbook, "汇总")
    table = {(row[0], row[1]): row[2:] for row in rows}
    # 企业数, 按期走访, 按期走访率, 具备组建条件, 百人以上未建 per class: 楚韵 (visited 5 days ago,
    # 4 members, 120 employees) is 应建未建, 本级商贸 (never visited) 无党员, 三峡机械 单独组建.
    assert table[("党组织状况", "应建未建（正式党员 3 名以上）")] == (1, 1, 1, 1, 1)
    assert table[("党组织状况", "无党员")] == (1, 0, 0, 0, 0)
    assert table[("党组织状况", "单独组建")] == (1, 0, 0, 0, 0)
    assert table[("党组织状况", "联合组建")] == (0, 0, None, 0, 0)
    assert table[("党组织状况", "挂靠")] == (0, 0, None, 0, 0)
    assert table[("党组织状况", "有党员未建（正式党员 1–2 名）")] == (0, 0, None, 0, 0)
    assert table[("下级地区", "马家店街道")] == (1, 1, 1, 1, 1)
    assert table[("下级地区", "七星台镇")] == (1, 0, 0, 0, 0)
    assert table[("下级地区", "（本级）")] == (1, 0, 0, 0, 0)
    assert table[("合计", "宜昌市/枝江市")] == (3, 1, pytest.approx(1 / 3), 1, 1)


def test_sub_region_is_one_level_below_the_scope() -> None:
    assert sub_region("宜昌市/枝江市/马家店街道/某社区", "宜昌市/枝江市") == "马家店街道"
    assert sub_region("宜昌市/枝江市", "宜昌市/枝江市") == "（本级）"
    assert sub_region("宜昌市/枝江市/马家店街道", "") == "宜昌市"


async def test_the_whole_database_is_exported_without_a_scope(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "")
    assert len(_enterprise_records(workbook)) == 4 and len(_rows(workbook, "走访记录")) == 4


async def test_export_is_audited_with_scope_and_row_counts(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _seed(session_factory)
    await _ledger(session_factory, "宜昌市/枝江市/", actor_id=ids["officer"])
    async with unit_of_work(session_factory) as uow:
        entry = await uow.session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert entry is not None
        assert (entry.entity, entry.entity_id, entry.actor_id) == ("ledger", None, ids["officer"])
        assert entry.actor_label == "督导甲"
        # summary: 6 classes, 3 sub-regions and the total; organisations: 三峡机械's.
        assert entry.after == {"scope": "宜昌市/枝江市", "rows": {
            "enterprises": 3, "organisations": 1, "visits": 2, "people": 2, "feedback": 2, "foundings": 2,
            "summary": 10,
        }}


async def test_export_ledger_writes_the_file_and_commits_the_audit_entry(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await _seed(session_factory)
    out = tmp_path / "台账.xlsx"
    summary = await export_ledger(session_factory, out, scope="宜昌市/远安县", today=TODAY)
    assert (summary.enterprises, summary.visits, summary.scope) == (1, 1, "宜昌市/远安县")
    assert summary.size == out.stat().st_size and not out.with_name(out.name + ".part").exists()
    workbook = load_workbook(out)
    assert [r["企业名称"] for r in _enterprise_records(workbook)] == ["远安茶业"]
    async with unit_of_work(session_factory) as uow:
        entry = await uow.session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert entry is not None and entry.actor_label == "cli"


def _records(workbook: Workbook, sheet: str) -> list[dict[object, object]]:
    header, *rows = _rows(workbook, sheet)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _blocks(workbook: Workbook) -> list[tuple[str, list[dict[object, object]]]]:
    """The ledger's class blocks: (heading, the enterprises' records); each block ends with its
    subtotal, the sheet with the total. An enterprise's 序号 is a number, a heading's is text."""
    blocks: list[tuple[str, list[dict[object, object]]]] = []
    for record in _records(workbook, "分类台账"):
        number = record["序号"]
        if isinstance(number, int):
            blocks[-1][1].append(record)
        elif isinstance(number, str) and number.startswith(("已建立党组织：", "未建立党组织：")):
            blocks.append((number, []))
    return blocks


def _block_of(blocks: list[tuple[str, list[dict[object, object]]]], name: str) -> str:
    [heading] = [heading for heading, records in blocks if name in [r["企业名称"] for r in records]]
    return heading


def _enterprise_records(workbook: Workbook) -> list[dict[object, object]]:
    return [record for _, block in _blocks(workbook) for record in block]


def _row_of(workbook: Workbook, name: str) -> int:
    """The sheet row of an enterprise in the ledger."""
    column = LEDGER_HEADERS.index("企业名称") + 1
    [row] = [cell.row for cell in workbook["分类台账"][get_column_letter(column)] if cell.value == name]
    return row


async def test_people_sheet_lists_people_in_scope_with_their_next_milestone(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    records = _records(workbook, "党员发展")
    # By region, as the ledger sheet: 七星台镇 (the owner) before 马家店街道 (张三); 远安 is outside.
    assert [r["企业"] for r in records] == ["枝江三峡机械", "枝江市楚韵纺织有限公司"]
    owner, activist = records
    assert activist == {
        "姓名": "张三", "性别": "女", "出生日期": datetime(1995, 3, 2), "企业": "枝江市楚韵纺织有限公司",
        "职务": TRICKY, "是否业主": "否", "当前阶段": "入党积极分子", "申请日期": datetime(2025, 3, 1),
        "谈话日期": datetime(2025, 3, 20), "积极分子日期": datetime(2025, 9, 1), "公示开始": None,
        "发展对象日期": None, "预备党员日期": None, "转正日期": None, "退出日期": None,
        "培养联系人": "王五、赵六",
        # Reviewed 2026-04-01, so the next review is due 2026-10-01; eligibility as a development
        # object (a year after 2025-09-01) comes first and is never overdue.
        "下一节点": "可列为发展对象 2026-09-01", OFFICER: "李明",
    }
    # Applied 2026-10-01 with no talk: the talk was due within a month, by 2026-11-01.
    assert owner["是否业主"] == "是" and owner["当前阶段"] == "入党申请人"
    assert owner["下一节点"] == "申请后谈话 2026-11-01（已逾期）"
    assert owner["姓名"] == "=SUM(A1:A9)" and owner["培养联系人"] is None


async def test_feedback_sheet_lists_items_in_scope_with_local_times_and_days(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    records = _records(workbook, "业主诉求")
    assert [r["编号"] for r in records] == [f"F-{ids['voice']}", f"F-{ids['resolved']}"]  # newest first
    voice, resolved = records
    assert voice["内容"] == "（语音留言）" and voice["渠道"] == "业主链接" and voice["状态"] == "待办理"
    assert voice["紧急程度"] == "紧急" and voice["类别"] == "融资" and voice["办结时间"] is None
    # Registered 2026-11-21 01:00 local; open on the export day 11-25: 4 days.
    assert voice["登记时间"] == datetime(2026, 11, 21, 1, 0) and voice["已用天数"] == 4
    assert resolved == {
        "编号": f"F-{ids['resolved']}", "企业": "枝江市楚韵纺织有限公司", "反映人": "业主张总", "渠道": "联系员登记",
        "类别": "用工招工", "内容": TRICKY, "紧急程度": "较急", "状态": "已办结", "办理结果": "已对接人社局",
        "满意度": 5,
        # 01:00 UTC is 09:00 in Yichang; 16:30 UTC on 11-03 is 00:30 on 11-04: from 11-01 to 11-04, 3 days.
        "登记时间": datetime(2026, 11, 1, 9, 0), "办结时间": datetime(2026, 11, 4, 0, 30), "已用天数": 3,
    }


async def test_foundings_sheet_lists_foundings_in_scope_newest_first(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    records = _records(workbook, "新建党组织")
    # Records of the old kind: no organisation linked, no name, one enterprise each.
    assert records == [
        {"党组织名称": None, "事项": "新建", "覆盖企业": "枝江市楚韵纺织有限公司", "覆盖企业数": 1,
         "所属地区": "宜昌市/枝江市/马家店街道", "成立日期": datetime(2026, 11, 10), "党组织类别": "党支部",
         "组建方式": "联合组建", "书记": TRICKY, "书记来源": None, "党员人数": 3, OFFICER: "李明"},
        {"党组织名称": None, "事项": "新建", "覆盖企业": "枝江三峡机械", "覆盖企业数": 1,
         "所属地区": "宜昌市/枝江市/七星台镇", "成立日期": datetime(2026, 6, 1), "党组织类别": "党支部",
         "组建方式": "单独组建", "书记": "张建国", "书记来源": None, "党员人数": 5, OFFICER: "李明"},
    ]


async def test_new_sheets_keep_typed_text_as_text_and_dates_formatted(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    name = workbook["党员发展"].cell(row=3, column=PEOPLE_HEADERS.index("姓名") + 1)
    assert name.value == "=SUM(A1:A9)" and name.data_type == "s"
    content = workbook["业主诉求"].cell(row=4, column=FEEDBACK_HEADERS.index("内容") + 1)
    assert content.value == TRICKY and content.data_type == "s"
    secretary = workbook["新建党组织"].cell(row=3, column=FOUNDING_HEADERS.index("书记") + 1)
    assert secretary.value == TRICKY and secretary.data_type == "s"
    assert workbook["党员发展"].cell(row=3, column=PEOPLE_HEADERS.index("申请日期") + 1).number_format == "yyyy-mm-dd"
    registered = workbook["业主诉求"].cell(row=3, column=FEEDBACK_HEADERS.index("登记时间") + 1)
    assert registered.number_format == "yyyy-mm-dd hh:mm"
    # Below the title row: the header in row 2, two records in rows 3 and 4.
    for title, headers in (("党员发展", PEOPLE_HEADERS), ("业主诉求", FEEDBACK_HEADERS), ("新建党组织", FOUNDING_HEADERS)):
        assert workbook[title].auto_filter.ref == f"A2:{get_column_letter(len(headers))}4"
        assert workbook[title].freeze_panes == "A3"


async def test_new_sheets_cover_the_whole_database_without_a_scope(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "")
    assert [len(_rows(workbook, title)) for title in ("党员发展", "业主诉求", "新建党组织")] == [4, 4, 4]
    only_yuanan = await _ledger(session_factory, "宜昌市/远安县")
    assert [r["姓名"] for r in _records(only_yuanan, "党员发展")] == ["远安某人"]
    assert [r["内容"] for r in _records(only_yuanan, "业主诉求")] == ["远安的诉求"]
    assert [r["书记"] for r in _records(only_yuanan, "新建党组织")] == ["远安书记"]


# --- the registry as a county keeps it ------------------------------------------------------

JOINT = "中共枝江市马家店街道非公企业联合支部委员会"
WORKING_COMMITTEE = "中共枝江市委两新工委"


async def _seed_registry(factory: async_sessionmaker[AsyncSession]) -> None:
    """Beside `_seed`'s three: a joint branch over three enterprises (two in 马家店街道, one in
    七星台镇, so it is counted in 枝江市), an enterprise attached (挂靠) to a town branch, one
    with 5 members of whom only 2 have their 组织关系 there (so 1–2: 有党员未建), a committee the
    branches report to, and a dissolved branch."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    async with unit_of_work(factory) as uow:
        s = uow.session
        changjiang = Enterprise(
            name="枝江市长江建材有限公司", credit_code=code(11), region="宜昌市/枝江市/七星台镇", kind="private",
            industry="建材", employees=150, party_members=3, members_here=2, members_elsewhere=1,
            operating_status="suspended", location_kind="park", location_name="枝江经济开发区", above_scale=True,
            revenue=2500.5, owner_name="陈总", owner_is_member=True, owner_is_secretary=False,
        )
        boyuan = Enterprise(name="枝江市博远科技有限公司", credit_code=code(12), region="宜昌市/枝江市/马家店街道",
                            employees=30, party_members=2, location_kind="building", location_name="星光大厦")
        anda = Enterprise(name="枝江市安达物流有限公司", credit_code=code(13), region="宜昌市/枝江市/马家店街道",
                          employees=20, party_members=1)
        snack = Enterprise(name="枝江市丁记餐饮店", credit_code=code(14, "92"), region="宜昌市/枝江市/马家店街道",
                           kind="individual", employees=5, party_members=1)
        wuchen = Enterprise(name="枝江市戊辰建材有限公司", credit_code=code(15), region="宜昌市/枝江市/七星台镇",
                            employees=60, party_members=5, members_here=2, members_elsewhere=3,
                            unformed_reason="owner_unsupportive")
        committee = PartyOrganisation(name=WORKING_COMMITTEE, category="committee", formation="single",
                                      region="宜昌市/枝江市")
        dissolved = PartyOrganisation(name="中共枝江市旧厂支部委员会", category="branch", formation="single",
                                      region="宜昌市/枝江市/七星台镇", dissolved_on=date(2026, 1, 1))
        s.add_all([changjiang, boyuan, anda, snack, wuchen, committee, dissolved])
        await s.flush()
        joint = await organisations.create(s, NewOrganisation(
            name=JOINT, category=OrgCategory.BRANCH, formation=Formation.JOINT, founded_on=date(2025, 7, 1),
            parent_name="中共枝江市马家店街道工作委员会", secretary="刘洋", secretary_source="sent", members=6,
        ), [changjiang, boyuan, anda], actor_id=None, actor_label="test", now=now)
        await organisations.create(s, NewOrganisation(
            name="中共枝江市马家店街道综合支部委员会", category=OrgCategory.BRANCH, formation=Formation.ATTACHED,
            parent_id=committee.id, members=9,
        ), [snack], actor_id=None, actor_label="test", now=now)
        officer = await s.scalar(select(User).where(User.name == "李明"))
        assert officer is not None
        s.add(Founding(enterprise_id=boyuan.id, organisation_id=joint.id, enterprise_ids=[boyuan.id, anda.id,
                       changjiang.id], founded_on=date(2025, 7, 1), category="branch", formation="joint",
                       secretary="刘洋", secretary_source="sent", members=6, officer_id=officer.id))
        await uow.commit()


async def test_enterprises_are_grouped_by_class_with_headings_and_subtotals(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    await _seed_registry(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    blocks = _blocks(workbook)
    # Every class in the ledger's order, each with the practice's response when 未建; within a
    # class by region (七星台镇 before 马家店街道, as Python orders them), then name.
    assert [(heading, [r["企业名称"] for r in records]) for heading, records in blocks] == [
        ("已建立党组织：单独组建", ["枝江三峡机械"]),
        ("已建立党组织：联合组建", ["枝江市长江建材有限公司", "枝江市博远科技有限公司", "枝江市安达物流有限公司"]),
        ("已建立党组织：挂靠", ["枝江市丁记餐饮店"]),
        ("未建立党组织：应建未建（正式党员 3 名以上）；工作措施：单独组建党组织", ["枝江市楚韵纺织有限公司"]),
        ("未建立党组织：有党员未建（正式党员 1–2 名）；工作措施：联合组建或挂靠", ["枝江市戊辰建材有限公司"]),
        ("未建立党组织：无党员；工作措施：派党建工作指导员，先建群团组织", ["枝江市本级商贸"]),
    ]
    records = {r["企业名称"]: r for _, block in blocks for r in block}
    # 序号 runs on through the sheet.
    assert [r["序号"] for _, block in blocks for r in block] == [1, 2, 3, 4, 5, 6, 7, 8]
    changjiang = records["枝江市长江建材有限公司"]
    assert {key: changjiang[key] for key in (
        "统一社会信用代码", "市场主体类型", "企业类型", "所属乡镇（街道）", "所属地区", "坐落", "园区（楼宇）名称", "行业",
        "经营状态", "从业人员数", "是否规模以上", "年营业收入（万元）", "出资人姓名", "出资人是否党员",
        "出资人是否兼任党组织书记", "正式党员数", "组织关系在本企业", "组织关系不在本企业", "是否建立党组织", "党组织名称",
        "党组织类别", "组建方式", "隶属党组织", "成立时间", "书记", "书记来源", "未建立党组织原因", "具备组建条件",
        "百人以上未建",
    )} == {
        "统一社会信用代码": code(11), "市场主体类型": "企业法人", "企业类型": "私营企业", "所属乡镇（街道）": "七星台镇",
        "所属地区": "宜昌市/枝江市/七星台镇", "坐落": "园区", "园区（楼宇）名称": "枝江经济开发区", "行业": "建材",
        "经营状态": "停业", "从业人员数": 150, "是否规模以上": "是", "年营业收入（万元）": 2500.5, "出资人姓名": "陈总",
        "出资人是否党员": "是", "出资人是否兼任党组织书记": "否", "正式党员数": 3, "组织关系在本企业": 2,
        "组织关系不在本企业": 1, "是否建立党组织": "是", "党组织名称": JOINT, "党组织类别": "党支部",
        "组建方式": "联合组建", "隶属党组织": "中共枝江市马家店街道工作委员会", "成立时间": datetime(2025, 7, 1),
        "书记": "刘洋", "书记来源": "上级选派", "未建立党组织原因": None, "具备组建条件": "否", "百人以上未建": "否",
    }
    snack = records["枝江市丁记餐饮店"]
    assert snack["市场主体类型"] == "个体工商户" and snack["组建方式"] == "挂靠"
    assert snack["隶属党组织"] == WORKING_COMMITTEE  # the parent as a record: its name
    boyuan = records["枝江市博远科技有限公司"]
    assert boyuan["坐落"] == "楼宇" and boyuan["园区（楼宇）名称"] == "星光大厦" and boyuan["经营状态"] == "在营"
    assert boyuan["出资人是否党员"] is None and boyuan["是否规模以上"] is None  # not known, not 否
    wuchen = records["枝江市戊辰建材有限公司"]
    # 5 members, but only 2 whose 组织关系 is here: not ready to form one of its own.
    assert wuchen["是否建立党组织"] == "否" and wuchen["党组织名称"] is None and wuchen["具备组建条件"] == "否"
    assert wuchen["未建立党组织原因"] == "出资人不支持"
    assert records["枝江市本级商贸"]["所属乡镇（街道）"] is None  # registered at the county itself

    # Subtotals count the block's enterprises and add up its numbers; the total all of them.
    totals = [r for r in _records(workbook, "分类台账")
              if isinstance(r["序号"], str) and r["序号"].startswith(("小计", "合计"))]
    assert [r["序号"] for r in totals] == [
        "小计：1 家", "小计：3 家", "小计：1 家", "小计：1 家", "小计：1 家", "小计：1 家", "合计：8 家"]
    joint_total = totals[1]
    assert (joint_total["从业人员数"], joint_total["正式党员数"], joint_total["组织关系在本企业"],
            joint_total["组织关系不在本企业"], joint_total["年营业收入（万元）"]) == (200, 6, 2, 1, 2500.5)
    assert joint_total["企业名称"] is None and joint_total["统一社会信用代码"] is None
    # 40 + 150 + 30 + 20 + 5 + 120 + 60 + 2 employees; 5 + 3 + 2 + 1 + 1 + 4 + 5 + 0 members.
    assert (totals[-1]["从业人员数"], totals[-1]["正式党员数"]) == (427, 21)
    # The department's words only: never 独立党支部 / 独立组建, and no code left untranslated.
    cells = {str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
             for value in row if value is not None}
    assert not [cell for cell in cells if "独立" in cell or cell in {"branch", "joint", "single", "attached", "sent"}]


async def test_an_empty_class_keeps_its_heading_and_a_subtotal_of_none(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    rows = [r["序号"] for r in _records(workbook, "分类台账")]
    start = rows.index("已建立党组织：联合组建")
    assert rows[start + 1] == "小计：0 家"


async def test_organisations_sheet_lists_each_organisation_with_the_enterprises_it_covers(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    await _seed_registry(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    records = _records(workbook, "党组织")
    # By region (枝江市 itself first), then 党委 before 党支部, then name. The dissolved branch is gone.
    assert [r["党组织名称"] for r in records] == [
        WORKING_COMMITTEE, JOINT, "中共枝江三峡机械支部委员会", "中共枝江市马家店街道综合支部委员会"]
    committee, joint, branch, attached = records
    assert joint == {
        "序号": 2, "党组织名称": JOINT, "党组织类别": "党支部", "组建方式": "联合组建",
        "隶属党组织": "中共枝江市马家店街道工作委员会", "所属地区": "宜昌市/枝江市", "成立时间": datetime(2025, 7, 1),
        "书记": "刘洋", "书记来源": "上级选派", "党员数": 6, "覆盖企业数": 3,
        "覆盖企业": "枝江市博远科技有限公司、枝江市安达物流有限公司、枝江市长江建材有限公司",
    }
    assert committee["党组织类别"] == "党委" and committee["覆盖企业数"] == 0 and committee["覆盖企业"] is None
    assert attached["组建方式"] == "挂靠" and attached["隶属党组织"] == WORKING_COMMITTEE
    assert attached["覆盖企业"] == "枝江市丁记餐饮店" and branch["覆盖企业数"] == 1

    # A township's ledger lists the joint branch counted above it, because it covers two of its
    # enterprises, with all three; not the committee nor 七星台镇's branch.
    township = _records(await _ledger(session_factory, "宜昌市/枝江市/马家店街道"), "党组织")
    assert [(r["党组织名称"], r["覆盖企业数"]) for r in township] == [
        (JOINT, 3), ("中共枝江市马家店街道综合支部委员会", 1)]


async def test_foundings_sheet_names_the_organisation_and_every_enterprise_it_covers(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    await _seed_registry(session_factory)
    # The township's ledger: the record was made from 博远 (in it); 长江建材 is in 七星台镇.
    records = _records(await _ledger(session_factory, "宜昌市/枝江市/马家店街道"), "新建党组织")
    assert records[-1] == {
        "党组织名称": JOINT, "事项": "新建", "覆盖企业": "枝江市博远科技有限公司、枝江市安达物流有限公司、枝江市长江建材有限公司",
        "覆盖企业数": 3, "所属地区": "宜昌市/枝江市", "成立日期": datetime(2025, 7, 1), "党组织类别": "党支部",
        "组建方式": "联合组建", "书记": "刘洋", "书记来源": "上级选派", "党员人数": 6, OFFICER: "李明",
    }


async def test_every_sheet_is_set_up_for_printing_as_counties_print_ledgers(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "宜昌市/枝江市")
    for title in workbook.sheetnames:
        sheet = workbook[title]
        wide = title == "分类台账"
        assert sheet.page_setup.orientation == "landscape", title
        assert int(sheet.page_setup.paperSize) == (8 if wide else 9), title  # A3 for the wide ledger, else A4
        # One page wide, as many tall as needed; the header rows on every page; the grid printed.
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, title
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0), title
        assert sheet.print_title_rows == ("$2:$3" if wide else "$2:$2"), title
        assert sheet.print_options.gridLines, title
        last = get_column_letter(sheet.max_column)
        assert f"A1:{last}1" in {str(merged) for merged in sheet.merged_cells.ranges}, title
        assert sheet["A1"].font.b
        expected = "宜昌市/枝江市 非公有制企业党建工作分类台账" + ("" if wide else f" · {title}") + "（截至 2026-11-25）"
        assert sheet["A1"].value == expected
    ledger = workbook["分类台账"]
    # Two rows of headers: the groups merged over their columns, then the columns.
    assert {str(merged) for merged in ledger.merged_cells.ranges} == {
        "A1:AO1", "A2:J2", "K2:N2", "O2:R2", "S2:U2", "V2:AG2", "AH2:AJ2", "AK2:AO2"}
    assert [ledger[f"{column}2"].value for column in ("A", "K", "O", "S", "V", "AH", "AK")] == [
        "基本情况", "经营情况", "出资人", "党员", "党组织", "群团", OFFICER]
    assert [ledger[f"{column}3"].value for column in ("A", "K", "O", "S", "V", "AH", "AK")] == [
        "序号", "经营状态", "出资人姓名", "正式党员数", "是否建立党组织", "工会", OFFICER]
    # A header wraps rather than widening its column: 出资人是否兼任党组织书记 (24 wide) takes 14.
    assert ledger.column_dimensions["R"].width == 14 and ledger["R3"].alignment.wrap_text
    # 序号 stays narrow: the headings and the subtotals' counts spill over the empty cells beside them.
    assert ledger.column_dimensions["A"].width == 6


async def test_a_ledger_of_the_whole_database_has_a_title_without_a_region(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _seed(session_factory)
    workbook = await _ledger(session_factory, "")
    assert workbook["分类台账"]["A1"].value == "非公有制企业党建工作分类台账（截至 2026-11-25）"
