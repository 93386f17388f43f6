"""The ledger 分类台账 as an XLSX workbook: `python -m bot export`, and the supervisors' `/export`.

Seven sheets, each printable as counties print their ledgers (a title row, the header repeated
on every page, landscape, one page wide):

- 分类台账: every enterprise in scope with the columns of a real ledger under two rows of group
  headers (基本情况 / 经营情况 / 出资人 / 党员 / 党组织 / 群团 / 党建工作指导员（联系员）), grouped by
  class: 已建 by way of forming (单独组建 / 联合组建 / 挂靠), then 未建 by formal members (应建未建 /
  有党员未建 / 无党员, each with the response the practice prescribes), every class a block with
  its heading row and subtotal;
- 党组织: every party organisation in scope with the enterprises it covers;
- the visits, the people in member development 党员发展, owner feedback 业主诉求, the
  organisations founded 新建党组织, and a summary per class and per sub-region.

Column headers and the words for stored codes are Chinese because the ledger is a Chinese
administrative document whatever the bot's locale; the headers are data, kept here, in the words
of real ledgers (OFFICIAL-FORMATS.md § 3), and the codes' words come from the bot's labels.

A block's heading row and its subtotal have text in 序号 only (spilling over the empty cells to
its right) and no 统一社会信用代码: an enterprise's row is one whose 序号 is a number.

Eight queries feed it (enterprises with their organisation and last visit, current assignments
with officer names, organisations, the enterprises they cover, visits, people, feedback,
foundings), whatever the number of rows, and a ninth when a founding covers enterprises out of
scope (their names).

People in development are named individuals with political status (个人信息保护法): they are
exported only within the caller's scope, and nothing here logs a name.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from output.render import label
from storage import audit, development, rules
from storage import feedback as feedback_store
from storage.enums import (
    Activity,
    EnterpriseKind,
    FeedbackCategory,
    FeedbackStatus,
    Formation,
    Gender,
    LocationKind,
    MarketEntity,
    MassOrg,
    OperatingStatus,
    OrgCategory,
    SecretarySource,
    Stage,
    UnformedReason,
    UnorganisedClass,
    Urgency,
)
from storage.models import (
    Assignment,
    Enterprise,
    Feedback,
    Founding,
    PartyOrganisation,
    Person,
    ReviewNote,
    User,
    Visit,
)
from storage.people import pipeline
from storage.scope import SEPARATOR, in_scope, normalize_region
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = ZoneInfo("Asia/Shanghai")

# The ledger is filed with the organisation department: always in Chinese, whatever BOT_LOCALE says.
LEDGER_LOCALE = "zh_CN"


def _vocabulary(codes: Iterable[str], pattern: str) -> dict[str, str]:
    """The Chinese words of a vocabulary, from the same label templates the bot shows, so the
    ledger and the chat never name a code differently."""
    return {str(code): label(pattern.format(code), LEDGER_LOCALE) for code in codes}


CATEGORY_LABELS = _vocabulary(OrgCategory, "category_{}")
# Organisations are listed 党委, 党总支, 党支部: the larger first, as a registry lists them.
CATEGORY_ORDER = {code: index for index, code in enumerate(CATEGORY_LABELS)}
FORMATION_LABELS = _vocabulary(Formation, "formation_{}")
# 已建: 单独组建 / 联合组建 / 挂靠; 未建: 应建未建 / 有党员未建 / 无党员.
CLASS_LABELS = FORMATION_LABELS | _vocabulary(UnorganisedClass, "class_{}")
CLASS_ORDER = {code: index for index, code in enumerate(rules.LEDGER_CLASSES)}
RESPONSE_LABELS = _vocabulary(UnorganisedClass, "response_{}")
SECRETARY_SOURCE_LABELS = _vocabulary(SecretarySource, "secretary_source_{}")
UNFORMED_REASON_LABELS = _vocabulary(UnformedReason, "unformed_reason_{}")
OPERATING_STATUS_LABELS = _vocabulary(OperatingStatus, "operating_status_{}")
LOCATION_KIND_LABELS = _vocabulary(LocationKind, "location_kind_{}")
MARKET_ENTITY_LABELS = _vocabulary(MarketEntity, "market_entity_{}")

KIND_LABELS = _vocabulary(EnterpriseKind, "kind_{}")
MASS_ORG_LABELS = _vocabulary(MassOrg, "mass_org_{}")
ACTIVITY_LABELS = _vocabulary(Activity, "activity_{}")
STAGE_LABELS = _vocabulary(Stage, "people.stage_{}")
# People are listed in the order of their development, withdrawn ones last.
STAGE_ORDER = {stage: index for index, stage in enumerate(STAGE_LABELS)}
GENDER_LABELS = _vocabulary(Gender, "people.gender_{}")
MILESTONE_LABELS = _vocabulary(development.MILESTONE_CODES, "people.milestone_{}")
OVERDUE_MARK = "（已逾期）"
FEEDBACK_CATEGORY_LABELS = _vocabulary(FeedbackCategory, "feedback.category_{}")
URGENCY_LABELS = _vocabulary(Urgency, "feedback.urgency_{}")
STATUS_LABELS = _vocabulary(FeedbackStatus, "feedback.status_{}")
CHANNEL_LABELS: dict[str, str] = {"officer": "联系员登记", "owner": "业主链接"}
# What a /found record reports (FoundingAction).
ACTION_LABELS: dict[str, str] = {"found": "新建", "change": "变更"}
# Feedback given as a voice note is stored as its Telegram file id, useless in a spreadsheet.
VOICE_NOTE = "（语音留言）"
YES, NO = "是", "否"
PRESENT, ABSENT = "有", "无"
LIST_JOIN = "、"

LEDGER_SHEET, ORGANISATIONS_SHEET, VISITS_SHEET, SUMMARY_SHEET = "分类台账", "党组织", "走访记录", "汇总"
PEOPLE_SHEET, FEEDBACK_SHEET, FOUNDINGS_SHEET = "党员发展", "业主诉求", "新建党组织"
# The title row: `宜昌市/枝江市 非公有制企业党建工作分类台账（截至 2026-12-08）`, and the other sheets'
# `… 分类台账 · 走访记录（截至 …）`.
LEDGER_TITLE = "非公有制企业党建工作分类台账"
TITLE_AS_OF = "（截至 {}）"
TITLE_JOIN = " · "
# How the department writes the liaison officer in its documents (OFFICIAL-FORMATS.md § 0).
OFFICER = "党建工作指导员（联系员）"

# The enterprise sheet's columns under their group headers, as real ledgers group them.
LEDGER_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("基本情况", ("序号", "企业名称", "统一社会信用代码", "市场主体类型", "企业类型", "所属乡镇（街道）", "所属地区",
              "坐落", "园区（楼宇）名称", "行业")),
    ("经营情况", ("经营状态", "从业人员数", "是否规模以上", "年营业收入（万元）")),
    ("出资人", ("出资人姓名", "出资人政治面貌", "出资人是否党员", "出资人是否兼任党组织书记")),
    ("党员", ("正式党员数", "组织关系在本企业", "组织关系不在本企业")),
    ("党组织", ("是否建立党组织", "党组织名称", "党组织类别", "组建方式", "隶属党组织", "成立时间", "书记", "书记来源",
             "未建立党组织原因", "具备组建条件", "百人以上未建", "示范点")),
    ("群团", tuple(MASS_ORG_LABELS.values())),
    (OFFICER, (OFFICER, "最近走访", "距今天数", "走访周期", "是否超期")),
)
LEDGER_HEADERS = tuple(header for _, headers in LEDGER_GROUPS for header in headers)
# Summed in a block's subtotal and in the total.
LEDGER_SUMS = ("从业人员数", "年营业收入（万元）", "正式党员数", "组织关系在本企业", "组织关系不在本企业")
ORGANISED, UNORGANISED, RESPONSE = "已建立党组织", "未建立党组织", "工作措施"
SUBTOTAL, GRAND_TOTAL = "小计：{} 家", "合计：{} 家"
ORGANISATION_HEADERS = (
    "序号", "党组织名称", "党组织类别", "组建方式", "隶属党组织", "所属地区", "成立时间", "书记", "书记来源", "党员数",
    "覆盖企业数", "覆盖企业",
)
VISIT_HEADERS = (
    "编号", "走访日期", "企业名称", "所属地区", OFFICER, "工作内容", "职工人数", "正式党员数",
    "走访情况", "后续跟进", "语音", "照片数", "定位", "填报时间",
)
PEOPLE_HEADERS = (
    "姓名", "性别", "出生日期", "企业", "职务", "是否业主", "当前阶段", "申请日期", "谈话日期", "积极分子日期",
    "公示开始", "发展对象日期", "预备党员日期", "转正日期", "退出日期", "培养联系人", "下一节点", OFFICER,
)
FEEDBACK_HEADERS = (
    "编号", "企业", "反映人", "渠道", "类别", "内容", "紧急程度", "状态", "办理结果", "满意度", "登记时间",
    "办结时间", "已用天数",
)
FOUNDING_HEADERS = (
    "党组织名称", "事项", "覆盖企业", "覆盖企业数", "所属地区", "成立日期", "党组织类别", "组建方式", "书记", "书记来源",
    "党员人数", OFFICER,
)
SUMMARY_HEADERS = ("统计口径", "名称", "企业数", "按期走访", "按期走访率", "具备组建条件", "百人以上未建")
BY_CLASS, BY_REGION, TOTAL = "党组织状况", "下级地区", "合计"
# Enterprises registered at the scope's own level, not in any sub-region.
OWN_LEVEL = "（本级）"
# A region path is 市/县/乡镇（街道）/…: the township is its third part.
TOWNSHIP_LEVEL = 2

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0.0%"
MONEY_FORMAT = "0.00"
MIN_WIDTH, MAX_WIDTH = 6, 60
# A header wraps onto up to this many lines rather than widening its column: a ledger of forty
# columns has to fit one printed page wide.
HEADER_LINES = 2
LINE_HEIGHT = 15  # points per line of an 11-point CJK text
TITLE_HEIGHT = 30
BOLD = Font(bold=True)
TITLE_FONT = Font(bold=True, size=16)
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
TITLE_ALIGNMENT = Alignment(horizontal="center", vertical="center")
# XLSX (XML 1.0) cannot hold control characters other than tab, line feed and carriage
# return; openpyxl raises on them. A stray one pasted into a visit summary must not break
# the export, so it is shown as U+FFFD, visibly marking where something was dropped.
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    scope: str
    enterprises: int
    visits: int
    size: int


@dataclass(frozen=True)
class _LedgerRow:
    enterprise: Enterprise
    organisation: PartyOrganisation | None
    parent_name: str | None  # 隶属: the parent record's name, else the name as imported
    last_visit: date | None
    officers: tuple[str, ...]
    overdue: bool

    @property
    def members(self) -> int:
        return rules.founding_members(self.enterprise.party_members, self.enterprise.members_here)

    @property
    def ledger_class(self) -> str:
        return rules.ledger_class(self.organisation.formation if self.organisation else None, self.members)


@dataclass(frozen=True)
class _OrganisationRow:
    organisation: PartyOrganisation
    parent_name: str | None
    covered: tuple[str, ...]  # the names of the enterprises it covers now


@dataclass
class _Sheet:
    """A sheet as counties print it: a title row, one or two header rows, the rows."""

    name: str
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    # The group header row above `headers`: (group, columns), in order, covering every column.
    groups: Sequence[tuple[str, int]] = ()
    formats: dict[int, str] = field(default_factory=dict)
    # Rows whose first cell is a block's heading, spilling over the empty row: bold, not measured.
    headings: frozenset[int] = frozenset()
    # Subtotal and total rows: bold, their first cell (小计：12 家) spilling over the next, empty one.
    totals: frozenset[int] = frozenset()
    paper: str = Worksheet.PAPERSIZE_A4
    frozen_columns: int = 0  # columns kept in view when scrolling right (序号 and 企业名称)


def _scope_filter(column: Any, scope: str) -> ColumnElement[bool]:
    # An empty scope is the whole database (the operator's export without --region).
    return in_scope(column, scope) if scope else true()


# --- queries -------------------------------------------------------------------------------


async def _enterprises(
    session: AsyncSession, scope: str
) -> list[tuple[Enterprise, PartyOrganisation | None, str | None, date | None]]:
    last: Select[tuple[int, date]] = (
        select(Visit.enterprise_id, func.max(Visit.visit_date).label("last_visit"))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(_scope_filter(Enterprise.region, scope))
        .group_by(Visit.enterprise_id)
    )
    recent = last.subquery()
    parent = aliased(PartyOrganisation)
    stmt = (
        select(Enterprise, PartyOrganisation, parent.name, recent.c.last_visit)
        .outerjoin(PartyOrganisation, PartyOrganisation.id == Enterprise.party_org_id)
        .outerjoin(parent, parent.id == PartyOrganisation.parent_id)
        .outerjoin(recent, recent.c.enterprise_id == Enterprise.id)
        .where(_scope_filter(Enterprise.region, scope))
    )
    return list((await session.execute(stmt)).tuples().all())


async def _officer_names(session: AsyncSession, scope: str) -> dict[int, tuple[str, ...]]:
    stmt = (
        select(Assignment.enterprise_id, User.name)
        .join(User, User.id == Assignment.officer_id)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(Assignment.ended_on.is_(None), _scope_filter(Enterprise.region, scope))
        .order_by(Assignment.enterprise_id, Assignment.started_on, Assignment.id)
    )
    names: dict[int, list[str]] = defaultdict(list)
    for enterprise_id, name in (await session.execute(stmt)).tuples():
        names[enterprise_id].append(name)
    return {key: tuple(value) for key, value in names.items()}


def _organisations_in_scope(scope: str, today: date) -> ColumnElement[bool]:
    """Organisations counted in the scope, or covering an enterprise in it (a joint branch
    counted higher up), and not dissolved."""
    covering = select(Enterprise.party_org_id).where(Enterprise.party_org_id.is_not(None),
                                                     _scope_filter(Enterprise.region, scope))
    return (
        or_(_scope_filter(PartyOrganisation.region, scope), PartyOrganisation.id.in_(covering))
        & or_(PartyOrganisation.dissolved_on.is_(None), PartyOrganisation.dissolved_on > today)
    )


async def _organisations(session: AsyncSession, scope: str, today: date) -> list[_OrganisationRow]:
    parent = aliased(PartyOrganisation)
    wanted = _organisations_in_scope(scope, today)
    stmt = (
        select(PartyOrganisation, parent.name)
        .outerjoin(parent, parent.id == PartyOrganisation.parent_id)
        .where(wanted)
    )
    found = (await session.execute(stmt)).tuples().all()
    # Every enterprise they cover, in scope or not: a joint branch is listed whole.
    covered_stmt = (
        select(Enterprise.party_org_id, Enterprise.name)
        .where(Enterprise.party_org_id.in_(select(PartyOrganisation.id).where(wanted)))
    )
    covered: dict[int, list[str]] = defaultdict(list)
    for organisation_id, name in (await session.execute(covered_stmt)).tuples():
        if organisation_id is not None:  # never, by the query; for the type checker
            covered[organisation_id].append(name)
    return [
        _OrganisationRow(organisation, parent_name or organisation.parent_name,
                         tuple(sorted(covered.get(organisation.id, ()))))
        for organisation, parent_name in found
    ]


async def _visits(session: AsyncSession, scope: str, since: date | None) -> list[tuple[Visit, str, str, str]]:
    stmt = (
        select(Visit, Enterprise.name, Enterprise.region, User.name)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .join(User, User.id == Visit.officer_id)
        .where(_scope_filter(Enterprise.region, scope), *([Visit.visit_date >= since] if since else []))
        .order_by(Visit.visit_date.desc(), Visit.id.desc())
    )
    return list((await session.execute(stmt)).tuples().all())


async def _people(session: AsyncSession, scope: str) -> list[tuple[Person, str, str, str, date | None]]:
    """People with their enterprise's name and region, their officer's name and last review."""
    last_review = (
        select(ReviewNote.person_id, func.max(ReviewNote.written_on).label("last_review"))
        .group_by(ReviewNote.person_id)
        .subquery()
    )
    stmt = (
        select(Person, Enterprise.name, Enterprise.region, User.name, last_review.c.last_review)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .join(User, User.id == Person.officer_id)
        .outerjoin(last_review, last_review.c.person_id == Person.id)
        .where(_scope_filter(Enterprise.region, scope))
    )
    return list((await session.execute(stmt)).tuples().all())


async def _feedback(session: AsyncSession, scope: str) -> list[tuple[Feedback, str]]:
    stmt = (
        select(Feedback, Enterprise.name)
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .where(_scope_filter(Enterprise.region, scope))
        .order_by(Feedback.id.desc())
    )
    return list((await session.execute(stmt)).tuples().all())


@dataclass(frozen=True)
class _FoundingRow:
    founding: Founding
    name: str | None  # the organisation's, as recorded or as the registry has it now
    region: str  # where the organisation is counted, else the enterprise's
    officer: str


async def _foundings(session: AsyncSession, scope: str) -> list[_FoundingRow]:
    stmt = (
        select(Founding, PartyOrganisation.name, PartyOrganisation.region, Enterprise.region, User.name)
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .join(User, User.id == Founding.officer_id)
        .outerjoin(PartyOrganisation, PartyOrganisation.id == Founding.organisation_id)
        # Changes of an organisation (a category, a split) are listed too, their 事项 saying so.
        .where(_scope_filter(Enterprise.region, scope))
        .order_by(Founding.founded_on.desc(), Founding.id.desc())
    )
    return [
        _FoundingRow(founding, founding.name or org_name, org_region or region, officer)
        for founding, org_name, org_region, region, officer in (await session.execute(stmt)).tuples()
    ]


async def _enterprise_names(session: AsyncSession, ids: set[int], known: dict[int, str]) -> dict[int, str]:
    """Names of the enterprises `ids`: those in scope are known already; the rest (a joint
    branch reaching out of scope) are read."""
    missing = ids - known.keys()
    names = dict(known)
    if missing:
        stmt = select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(missing))
        names.update((await session.execute(stmt)).tuples().all())
    return names


# --- cells ---------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, text)


def display_width(value: object) -> int:
    """Columns a value takes on screen: CJK and other wide characters count double."""
    if value is None:
        return 0
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    if text.isascii() and "\n" not in text:
        return len(text)
    longest = max(text.split("\n"), key=len) if text else ""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in longest)


def _cell(
    sheet: WriteOnlyWorksheet, value: object, *, font: Font | None = None, number_format: str | None = None,
    alignment: Alignment | None = None,
) -> WriteOnlyCell:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, clean_text(value))
        # openpyxl would store "=1+1" typed by an officer as a formula; it is text.
        cell.data_type = "s"
    else:
        cell = WriteOnlyCell(sheet, value)
    if font is not None:
        cell.font = font
    if alignment is not None:
        cell.alignment = alignment
    if number_format is not None:
        cell.number_format = number_format
    elif isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    return cell


def _value(sheet: WriteOnlyWorksheet, value: object, number_format: str | None) -> object:
    """What `append` takes for a data cell: the plain value where openpyxl stores it as it is
    (most cells; a styled cell object each costs as much as the rest of the row), else a cell."""
    if number_format is None:
        if isinstance(value, str):
            text = clean_text(value)
            # openpyxl reads "=…" as a formula and "#N/A" as an error: those are text, typed by someone.
            if not text.startswith("=") and text not in ERROR_CODES:
                return text
        elif value is None or isinstance(value, (int, float)):
            return value
        elif isinstance(value, date) and not isinstance(value, datetime):
            return value  # openpyxl gives a date the DATE_FORMAT
    return _cell(sheet, value, number_format=number_format)


def _widths(sheet: _Sheet) -> list[float]:
    """Each column as wide as its widest value (CJK counting double), its header wrapping over
    up to HEADER_LINES lines."""
    # Each distinct value measured once: a column holds few of them (是/否, the region, a label).
    values: list[set[object]] = [set() for _ in sheet.headers]
    for index, row in enumerate(sheet.rows):
        # A heading spills over its row, and so does the count in a subtotal's first cell.
        if index not in sheet.headings:
            for column, value in enumerate(row):
                if column or index not in sheet.totals:
                    values[column].add(value)
    widths = [
        max([math.ceil(display_width(header) / HEADER_LINES), *map(display_width, column)])
        for header, column in zip(sheet.headers, values, strict=True)
    ]
    return [min(max(width + 2, MIN_WIDTH), MAX_WIDTH) for width in widths]


def _header_height(headers: Sequence[str], widths: Sequence[float]) -> float:
    # Excel does not grow a row for wrapped text written by a program: the height is set.
    lines = max(math.ceil(display_width(header) / max(width - 2, 1)) for header, width in zip(headers, widths, strict=True))
    return LINE_HEIGHT * max(lines, 1)


def _print_setup(sheet: WriteOnlyWorksheet, spec: _Sheet, header_rows: int) -> None:
    """Landscape, one page wide and as many tall as needed, the header rows on every page, the
    grid printed."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = spec.paper
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"2:{1 + header_rows}"
    sheet.print_options.gridLines = True


def _write_sheet(workbook: Workbook, spec: _Sheet) -> None:
    """A sheet with its title row, bold header rows (groups merged over their columns), frozen
    below the header, filterable, with widths that fit the content, set up for printing."""
    sheet: WriteOnlyWorksheet = workbook.create_sheet(spec.name)
    header_rows = 2 if spec.groups else 1
    last_column = get_column_letter(len(spec.headers))
    header_row = 1 + header_rows
    # In a write-only sheet, widths, heights, panes and filters must be set before the first row.
    widths = _widths(spec)
    for index, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    sheet.row_dimensions[1].height = TITLE_HEIGHT
    sheet.row_dimensions[header_row].height = _header_height(spec.headers, widths)
    sheet.freeze_panes = f"{get_column_letter(spec.frozen_columns + 1)}{header_row + 1}"
    sheet.auto_filter.ref = f"A{header_row}:{last_column}{header_row + len(spec.rows)}"
    _print_setup(sheet, spec, header_rows)

    sheet.merged_cells.add(f"A1:{last_column}1")
    sheet.append([_cell(sheet, spec.title, font=TITLE_FONT, alignment=TITLE_ALIGNMENT)])
    if spec.groups:
        group_row: list[object] = []
        for group, span in spec.groups:
            start = len(group_row) + 1
            group_row += [_cell(sheet, group, font=BOLD, alignment=HEADER_ALIGNMENT)]
            group_row += [None] * (span - 1)
            if span > 1:
                sheet.merged_cells.add(f"{get_column_letter(start)}2:{get_column_letter(start + span - 1)}2")
        sheet.append(group_row)
    sheet.append([_cell(sheet, header, font=BOLD, alignment=HEADER_ALIGNMENT) for header in spec.headers])
    formats = spec.formats
    for index, row in enumerate(spec.rows):
        if index in spec.headings or index in spec.totals:
            sheet.append([_cell(sheet, value, font=BOLD, number_format=formats.get(i)) if value is not None else None
                          for i, value in enumerate(row)])
        else:
            sheet.append([_value(sheet, value, formats.get(i)) for i, value in enumerate(row)])


def _yes_no(flag: bool) -> str:
    return YES if flag else NO


def _maybe_yes_no(flag: bool | None) -> str | None:
    return None if flag is None else _yes_no(flag)


def _labels(codes: Iterable[str], labels: dict[str, str]) -> str:
    # An unknown code (a vocabulary grown since) is shown as stored rather than dropped.
    return LIST_JOIN.join(labels.get(code, code) for code in codes)


def _word(code: str | None, labels: dict[str, str]) -> str | None:
    return None if code is None else labels.get(code, code)


def _title(scope: str, today: date, sheet: str | None = None) -> str:
    """`宜昌市/枝江市 非公有制企业党建工作分类台账（截至 2026-12-08）`; for another sheet `… · 走访记录（…）`."""
    name = LEDGER_TITLE + (TITLE_JOIN + sheet if sheet else "")
    return f"{scope + ' ' if scope else ''}{name}{TITLE_AS_OF.format(today.isoformat())}"


# --- sheets --------------------------------------------------------------------------------


def township(region: str) -> str | None:
    """所属乡镇（街道）: 马家店街道 for 宜昌市/枝江市/马家店街道/某社区; None above a township."""
    parts = region.split(SEPARATOR)
    return parts[TOWNSHIP_LEVEL] if len(parts) > TOWNSHIP_LEVEL else None


def _class_heading(code: str) -> str:
    """已建立党组织：联合组建; 未建立党组织：应建未建（正式党员 3 名以上）；工作措施：单独组建党组织."""
    if code in FORMATION_LABELS:
        return f"{ORGANISED}：{CLASS_LABELS[code]}"
    return f"{UNORGANISED}：{CLASS_LABELS[code]}；{RESPONSE}：{RESPONSE_LABELS[code]}"


def _enterprise_row(number: int, item: _LedgerRow, today: date) -> list[object]:
    e, org = item.enterprise, item.organisation
    organised = org is not None
    mass_orgs = set(e.mass_orgs or [])
    return [
        # 基本情况
        number,
        e.name,
        e.credit_code,
        MARKET_ENTITY_LABELS[rules.market_entity(e.credit_code)],
        KIND_LABELS.get(e.kind, e.kind),
        township(e.region),
        e.region,
        _word(e.location_kind, LOCATION_KIND_LABELS),
        e.location_name,
        e.industry,
        # 经营情况
        _word(e.operating_status, OPERATING_STATUS_LABELS),
        e.employees,
        _maybe_yes_no(e.above_scale),
        e.revenue,
        # 出资人
        e.owner_name,
        e.owner_political_status,
        _maybe_yes_no(e.owner_is_member),
        _maybe_yes_no(e.owner_is_secretary),
        # 党员
        e.party_members,
        e.members_here,
        e.members_elsewhere,
        # 党组织
        _yes_no(organised),
        org.name if org else None,
        _word(org.category, CATEGORY_LABELS) if org else None,
        _word(org.formation, FORMATION_LABELS) if org else None,
        item.parent_name,
        org.founded_on if org else None,
        org.secretary if org else None,
        _word(org.secretary_source, SECRETARY_SOURCE_LABELS) if org else None,
        None if organised else _word(e.unformed_reason, UNFORMED_REASON_LABELS),
        _yes_no(rules.ready_to_form(item.members, organised)),
        _yes_no(rules.priority(e.employees, organised)),
        _yes_no(e.demonstration_point),
        # 群团
        *(PRESENT if code in mass_orgs else ABSENT for code in MASS_ORG_LABELS),
        # 党建工作指导员（联系员）
        LIST_JOIN.join(item.officers) or None,
        item.last_visit,
        rules.days_since(item.last_visit, today),
        e.visit_cadence_days,
        _yes_no(item.overdue),
    ]


_SUM_COLUMNS = tuple(LEDGER_HEADERS.index(header) for header in LEDGER_SUMS)


def _total_row(text: str, rows: Sequence[Sequence[object]]) -> list[object]:
    """A block's subtotal (or the total): the count in 序号, the sums of the numbers."""
    total: list[object] = [None] * len(LEDGER_HEADERS)
    total[0] = text.format(len(rows))
    for column in _SUM_COLUMNS:
        values = [value for row in rows if isinstance(value := row[column], (int, float))]
        total[column] = sum(values) if values else None
    return total


def _ledger_sheet(ledger: list[_LedgerRow], scope: str, today: date) -> _Sheet:
    """Class by class (LEDGER_CLASSES): its heading, its enterprises numbered on through the
    sheet, its subtotal; the total last. A class with no enterprise keeps its heading and a
    subtotal of 0, so the sheet says there are none."""
    by_class: dict[str, list[_LedgerRow]] = {code: [] for code in rules.LEDGER_CLASSES}
    for item in ledger:
        by_class[item.ledger_class].append(item)
    rows: list[list[object]] = []
    headings: set[int] = set()
    totals: set[int] = set()
    every: list[list[object]] = []
    for code, items in by_class.items():
        headings.add(len(rows))
        rows.append([_class_heading(code)])
        block = [_enterprise_row(len(every) + n, item, today) for n, item in enumerate(items, 1)]
        every += block
        rows += block
        totals.add(len(rows))
        rows.append(_total_row(SUBTOTAL, block))
    totals.add(len(rows))
    rows.append(_total_row(GRAND_TOTAL, every))
    return _Sheet(
        LEDGER_SHEET, _title(scope, today), LEDGER_HEADERS, rows,
        groups=[(group, len(headers)) for group, headers in LEDGER_GROUPS],
        formats={LEDGER_HEADERS.index("年营业收入（万元）"): MONEY_FORMAT},
        headings=frozenset(headings), totals=frozenset(totals), paper=Worksheet.PAPERSIZE_A3, frozen_columns=2,
    )


def _organisation_sort_key(item: _OrganisationRow) -> tuple[str, int, str, int]:
    org = item.organisation
    return (org.region, CATEGORY_ORDER.get(org.category, len(CATEGORY_ORDER)), org.name, org.id)


def _organisation_rows(organisations: list[_OrganisationRow]) -> list[list[object]]:
    return [
        [
            number,
            item.organisation.name,
            _word(item.organisation.category, CATEGORY_LABELS),
            _word(item.organisation.formation, FORMATION_LABELS),
            item.parent_name,
            item.organisation.region,
            item.organisation.founded_on,
            item.organisation.secretary,
            _word(item.organisation.secretary_source, SECRETARY_SOURCE_LABELS),
            item.organisation.members,
            len(item.covered),
            LIST_JOIN.join(item.covered) or None,
        ]
        for number, item in enumerate(sorted(organisations, key=_organisation_sort_key), 1)
    ]


def _media_counts(visit: Visit) -> tuple[bool, int]:
    media = [item for item in visit.media or [] if isinstance(item, dict)]
    voice = bool(visit.summary_voice_file_id) or any(item.get("type") == "voice" for item in media)
    photos = sum(1 for item in media if item.get("type") == "photo")
    return voice, photos


def _visit_rows(visits: list[tuple[Visit, str, str, str]], tz: ZoneInfo) -> list[list[object]]:
    rows: list[list[object]] = []
    for visit, enterprise_name, region, officer_name in visits:
        voice, photos = _media_counts(visit)
        location = (
            f"{visit.latitude:.6f},{visit.longitude:.6f}"
            if visit.latitude is not None and visit.longitude is not None
            else None
        )
        rows.append([
            f"V-{visit.id}",
            visit.visit_date,
            enterprise_name,
            region,
            officer_name,
            _labels(visit.activities or [], ACTIVITY_LABELS),
            visit.employees,
            visit.party_members,
            visit.summary,
            visit.follow_up,
            PRESENT if voice else ABSENT,
            photos,
            location,
            # Excel has no time zones: the local wall-clock time the officer saw.
            visit.created_at.astimezone(tz).replace(tzinfo=None),
        ])
    return rows


def _milestone_text(milestone: development.Milestone | None) -> str | None:
    if milestone is None:
        return None
    text = f"{MILESTONE_LABELS.get(milestone.code, milestone.code)} {milestone.due.isoformat()}"
    return text + OVERDUE_MARK if milestone.overdue else text


def _people_sort_key(row: tuple[Person, str, str, str, date | None]) -> tuple[str, str, int, date, str, int]:
    person, enterprise_name, region, _, _ = row
    return (region, enterprise_name, STAGE_ORDER.get(person.stage, len(STAGE_ORDER)), person.applied_on,
            person.name, person.id)


def _people_rows(people: list[tuple[Person, str, str, str, date | None]], today: date) -> list[list[object]]:
    rows: list[list[object]] = []
    for person, enterprise_name, _, officer_name, last_review in people:
        try:
            upcoming = development.next_milestone(pipeline(person, last_review), today)
        except ValueError:  # a stage code unknown to this version is exported without a milestone
            upcoming = None
        rows.append([
            person.name,
            GENDER_LABELS.get(person.gender, person.gender),
            person.birth_date,
            enterprise_name,
            person.position,
            _yes_no(person.is_owner),
            STAGE_LABELS.get(person.stage, person.stage),
            person.applied_on,
            person.talked_on,
            person.activist_on,
            person.notice_started_on,
            person.candidate_on,
            person.probation_on,
            person.full_on,
            person.withdrawn_on,
            LIST_JOIN.join(str(name) for name in person.contacts or []),
            _milestone_text(upcoming),
            officer_name,
        ])
    return rows


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: the local wall-clock time.
    return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None


def _feedback_rows(items: list[tuple[Feedback, str]], today: date, tz: ZoneInfo) -> list[list[object]]:
    rows: list[list[object]] = []
    for item, enterprise_name in items:
        registered = item.created_at.astimezone(tz).date()
        # Calendar days in local time, as a clerk counts them from the two dates on the sheet:
        # up to the closing day for a finished item, up to the day of the export otherwise.
        until = item.closed_at.astimezone(tz).date() if item.closed_at is not None else today
        rows.append([
            f"F-{item.id}",
            enterprise_name,
            item.raised_by,
            CHANNEL_LABELS.get(item.channel, item.channel),
            FEEDBACK_CATEGORY_LABELS.get(item.category, item.category),
            VOICE_NOTE if feedback_store.voice_file(item.content) else item.content,
            URGENCY_LABELS.get(item.urgency, item.urgency),
            STATUS_LABELS.get(item.status, item.status),
            item.resolution,
            item.rating,
            _local(item.created_at, tz),
            _local(item.closed_at, tz),
            max(0, (until - registered).days),
        ])
    return rows


def _covered_ids(founding: Founding) -> list[int]:
    # Records made before joint branches were recorded as such name only their enterprise.
    return list(dict.fromkeys([founding.enterprise_id, *(int(i) for i in founding.enterprise_ids or [])]))


def _founding_rows(foundings: list[_FoundingRow], names: dict[int, str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for item in foundings:
        founding = item.founding
        covered = [names[i] for i in _covered_ids(founding) if i in names]
        rows.append([
            item.name,
            ACTION_LABELS.get(founding.action, founding.action),
            LIST_JOIN.join(covered),
            len(covered),
            item.region,
            founding.founded_on,
            _word(founding.category, CATEGORY_LABELS),
            _word(founding.formation, FORMATION_LABELS),
            founding.secretary,
            _word(founding.secretary_source, SECRETARY_SOURCE_LABELS),
            founding.members,
            item.officer,
        ])
    return rows


# Characters that Windows, where the ledger is usually opened, refuses in a file name.
UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def ledger_filename(region: str, today: date) -> str:
    """`台账-枝江市-20261125.xlsx` for 宜昌市/枝江市 on 2026-11-25."""
    last = region.rsplit(SEPARATOR, 1)[-1]
    return f"台账-{UNSAFE_IN_FILENAME.sub('_', last)}-{today:%Y%m%d}.xlsx"


def sub_region(region: str, scope: str) -> str:
    """The part of `region` one level below `scope`: 枝江市 for 宜昌市/枝江市/马家店街道 in 宜昌市."""
    if scope and region == scope:
        return OWN_LEVEL
    rest = region[len(scope) + 1 :] if scope else region
    return rest.split(SEPARATOR, 1)[0]


@dataclass
class _Tally:
    enterprises: int = 0
    on_time: int = 0
    ready: int = 0
    priority: int = 0

    def count(self, item: _LedgerRow) -> None:
        e = item.enterprise
        self.enterprises += 1
        self.on_time += not item.overdue
        self.ready += rules.ready_to_form(item.members, item.organisation is not None)
        self.priority += rules.priority(e.employees, item.organisation is not None)

    def row(self, dimension: str, name: str) -> list[object]:
        # 按期走访率: the enterprises visited within their cadence, never a 覆盖率 (OFFICIAL-FORMATS.md § 1).
        on_time_rate = self.on_time / self.enterprises if self.enterprises else None
        return [dimension, name, self.enterprises, self.on_time, on_time_rate, self.ready, self.priority]


def _summary_rows(ledger: list[_LedgerRow], scope: str) -> list[list[object]]:
    by_class: dict[str, _Tally] = {code: _Tally() for code in rules.LEDGER_CLASSES}
    by_region: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    for item in ledger:
        by_class[item.ledger_class].count(item)
        by_region[sub_region(item.enterprise.region, scope)].count(item)
        total.count(item)
    rows = [
        tally.row(BY_CLASS, CLASS_LABELS[code]) for code, tally in by_class.items()
    ]
    rows += [by_region[name].row(BY_REGION, name) for name in sorted(by_region)]
    rows.append(total.row(TOTAL, scope or TOTAL))
    return rows


def _sort_key(item: _LedgerRow) -> tuple[int, str, str, str]:
    e = item.enterprise
    return (CLASS_ORDER[item.ledger_class], e.region, e.name, e.credit_code)


async def build_ledger(
    session: AsyncSession,
    *,
    scope: str,
    today: date,
    actor_label: str,
    actor_id: int | None,
    tz: ZoneInfo = DEFAULT_TIMEZONE,
    visits_since: date | None = None,
) -> bytes:
    """The workbook of everything in `scope` (empty: everything), with an audit entry; never commits.
    `visits_since`: the visits sheet starts that day (the digest's ledger: the last twelve months)."""
    data, _ = await build_ledger_with_counts(session, scope=scope, today=today, actor_label=actor_label,
                                             actor_id=actor_id, tz=tz, visits_since=visits_since)
    return data


async def build_ledger_with_counts(
    session: AsyncSession, *, scope: str, today: date, actor_label: str, actor_id: int | None,
    tz: ZoneInfo = DEFAULT_TIMEZONE, visits_since: date | None = None,
) -> tuple[bytes, dict[str, int]]:
    """`build_ledger` with the rows of each sheet counted, for the caption of `/export`."""
    scope = normalize_region(scope)
    enterprises = await _enterprises(session, scope)
    officers = await _officer_names(session, scope)
    organisations = await _organisations(session, scope, today)
    visits = await _visits(session, scope, visits_since)
    people = sorted(await _people(session, scope), key=_people_sort_key)
    feedback = await _feedback(session, scope)
    foundings = await _foundings(session, scope)
    names = await _enterprise_names(
        session, {i for item in foundings for i in _covered_ids(item.founding)}, {e.id: e.name for e, *_ in enterprises}
    )
    # Sorted here rather than in SQL: PostgreSQL and SQLite collate Chinese differently.
    ledger = sorted(
        (
            _LedgerRow(e, org, parent or (org.parent_name if org else None), last, officers.get(e.id, ()),
                       rules.overdue(last, e.visit_cadence_days, today))
            for e, org, parent, last in enterprises
        ),
        key=_sort_key,
    )
    summary = _summary_rows(ledger, scope)
    # Seconds of CPU for a county (pure Python over the rows read above, nothing loaded on
    # access): in a worker thread, so the bot's event loop goes on answering officers meanwhile
    # instead of stalling for the whole workbook (7.4 s for the biggest county's before).
    data = await asyncio.to_thread(_workbook, scope, today, tz, ledger, organisations, visits, people, feedback,
                                   _founding_rows(foundings, names), summary)

    counts = {
        "enterprises": len(ledger), "organisations": len(organisations), "visits": len(visits),
        "people": len(people), "feedback": len(feedback), "foundings": len(foundings), "summary": len(summary),
    }
    await audit.record(
        session, actor_id=actor_id, actor_label=actor_label, action="export", entity="ledger", entity_id=None,
        after={"scope": scope, "rows": counts, **({"visits_since": visits_since.isoformat()} if visits_since else {})},
    )
    logger.info("Ledger exported: %d enterprises, %d visits", len(ledger), len(visits))
    return data, counts


def _workbook(
    scope: str, today: date, tz: ZoneInfo, ledger: list[_LedgerRow], organisations: list[_OrganisationRow],
    visits: list[tuple[Visit, str, str, str]], people: list[tuple[Person, str, str, str, date | None]],
    feedback: list[tuple[Feedback, str]], foundings: list[list[object]], summary: list[list[object]],
) -> bytes:
    workbook = Workbook(write_only=True)
    sheets = (
        _ledger_sheet(ledger, scope, today),
        _Sheet(ORGANISATIONS_SHEET, _title(scope, today, ORGANISATIONS_SHEET), ORGANISATION_HEADERS,
               _organisation_rows(organisations)),
        _Sheet(VISITS_SHEET, _title(scope, today, VISITS_SHEET), VISIT_HEADERS, _visit_rows(visits, tz)),
        _Sheet(PEOPLE_SHEET, _title(scope, today, PEOPLE_SHEET), PEOPLE_HEADERS, _people_rows(people, today)),
        _Sheet(FEEDBACK_SHEET, _title(scope, today, FEEDBACK_SHEET), FEEDBACK_HEADERS,
               _feedback_rows(feedback, today, tz)),
        _Sheet(FOUNDINGS_SHEET, _title(scope, today, FOUNDINGS_SHEET), FOUNDING_HEADERS, foundings),
        _Sheet(SUMMARY_SHEET, _title(scope, today, SUMMARY_SHEET), SUMMARY_HEADERS, summary,
               formats={SUMMARY_HEADERS.index("按期走访率"): PERCENT_FORMAT}),
    )
    for sheet in sheets:
        _write_sheet(workbook, sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_ledger(
    session_factory: async_sessionmaker[AsyncSession],
    out: Path,
    *,
    scope: str,
    today: date,
    tz: ZoneInfo = DEFAULT_TIMEZONE,
    actor_label: str = audit.CLI_ACTOR,
) -> ExportSummary:
    """Writes the ledger to `out` and commits the audit entry once the file is in place."""
    out = Path(out)
    async with unit_of_work(session_factory) as uow:
        data, counts = await build_ledger_with_counts(
            uow.session, scope=scope, today=today, actor_label=actor_label, actor_id=None, tz=tz
        )
        # Written beside the target and renamed, so a failed export never leaves half a file.
        partial = out.with_name(out.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, out)
        await uow.commit()
    return ExportSummary(
        path=out,
        scope=normalize_region(scope),
        enterprises=counts["enterprises"],
        visits=counts["visits"],
        size=len(data),
    )
