"""The ledger 分类台账 as an XLSX workbook: `python -m bot export`, and the supervisors' `/export`.

Six sheets: every enterprise in scope classified by party-organisation status, the visits, the
people in member development 党员发展, owner feedback 业主诉求, party organisations founded
新建党组织, and a summary per classification and per sub-region. Column headers and the words
for stored codes are Chinese because the ledger is a Chinese administrative document whatever
the bot's locale; they are data, kept here.

Six queries feed it (enterprises with their last visit, current assignments with officer
names, visits with enterprise and officer, people with enterprise, officer and last review,
feedback with enterprise, foundings with enterprise and officer), whatever the number of rows.

People in development are named individuals with political status (个人信息保护法): they are
exported only within the caller's scope, and nothing here logs a name.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from output.render import label
from storage import audit, development, rules
from storage import feedback as feedback_store
from storage.enums import (
    Activity,
    EnterpriseKind,
    FeedbackCategory,
    FeedbackStatus,
    Formation,
    FoundingAction,
    Gender,
    MassOrg,
    OrgCategory,
    Stage,
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
FORMATION_LABELS = _vocabulary(Formation, "formation_{}")
# 已建: 单独组建 / 联合组建 / 挂靠; 未建: 应建未建 / 有党员未建 / 无党员.
CLASS_LABELS = FORMATION_LABELS | _vocabulary(UnorganisedClass, "class_{}")
CLASS_ORDER = {code: index for index, code in enumerate(rules.LEDGER_CLASSES)}

KIND_LABELS = _vocabulary(EnterpriseKind, "kind_{}")
MASS_ORG_LABELS = _vocabulary(MassOrg, "mass_org_{}")
ACTIVITY_LABELS = _vocabulary(Activity, "activity_{}")
STAGE_LABELS = _vocabulary(Stage, "people.stage_{}")
# People are listed in the order of their development, withdrawn ones last.
STAGE_ORDER = {stage: index for index, stage in enumerate(STAGE_LABELS)}
GENDER_LABELS = _vocabulary(Gender, "people.gender_{}")
MILESTONE_LABELS = _vocabulary(development.MILESTONE_CODES, "people.milestone_{}")
OVERDUE_MARK = "（已逾期）"
CATEGORY_LABELS = _vocabulary(FeedbackCategory, "feedback.category_{}")
URGENCY_LABELS = _vocabulary(Urgency, "feedback.urgency_{}")
STATUS_LABELS = _vocabulary(FeedbackStatus, "feedback.status_{}")
CHANNEL_LABELS: dict[str, str] = {"officer": "联系员登记", "owner": "业主链接"}
# Feedback given as a voice note is stored as its Telegram file id, useless in a spreadsheet.
VOICE_NOTE = "（语音留言）"
YES, NO = "是", "否"
PRESENT, ABSENT = "有", "无"
LIST_JOIN = "、"

LEDGER_SHEET, VISITS_SHEET, SUMMARY_SHEET = "分类台账", "走访记录", "汇总"
PEOPLE_SHEET, FEEDBACK_SHEET, FOUNDINGS_SHEET = "党员发展", "业主诉求", "新建党组织"
LEDGER_HEADERS = (
    "分类", "企业名称", "统一社会信用代码", "企业类型", "所属地区", "行业", "职工人数", "正式党员数",
    "群团组织", "业主姓名", "业主政治面貌", "示范点", "联系员", "最近走访", "距今天数", "走访周期",
    "是否超期", "具备组建条件", "百人以上未建",
)
VISIT_HEADERS = (
    "编号", "走访日期", "企业名称", "所属地区", "联系员", "工作内容", "职工人数", "正式党员数",
    "走访情况", "后续跟进", "语音", "照片数", "定位", "填报时间",
)
PEOPLE_HEADERS = (
    "姓名", "性别", "出生日期", "企业", "职务", "是否业主", "当前阶段", "申请日期", "谈话日期", "积极分子日期",
    "公示开始", "发展对象日期", "预备党员日期", "转正日期", "退出日期", "培养联系人", "下一节点", "联系员",
)
FEEDBACK_HEADERS = (
    "编号", "企业", "反映人", "渠道", "类别", "内容", "紧急程度", "状态", "办理结果", "满意度", "登记时间",
    "办结时间", "已用天数",
)
FOUNDING_HEADERS = ("企业", "所属地区", "成立日期", "类型", "组建方式", "书记", "党员人数", "指导联系员")
SUMMARY_HEADERS = ("统计口径", "名称", "企业数", "按期走访", "按期走访率", "具备组建条件", "百人以上未建")
BY_CLASS, BY_REGION, TOTAL = "党组织状况", "下级地区", "合计"
# Enterprises registered at the scope's own level, not in any sub-region.
OWN_LEVEL = "（本级）"

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0.0%"
MIN_WIDTH, MAX_WIDTH = 6, 60
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
    last_visit: date | None
    officers: tuple[str, ...]
    overdue: bool

    @property
    def members(self) -> int:
        return rules.founding_members(self.enterprise.party_members, self.enterprise.members_here)

    @property
    def ledger_class(self) -> str:
        return rules.ledger_class(self.organisation.formation if self.organisation else None, self.members)


def _scope_filter(column: Any, scope: str) -> ColumnElement[bool]:
    # An empty scope is the whole database (the operator's export without --region).
    return in_scope(column, scope) if scope else true()


# --- queries -------------------------------------------------------------------------------


async def _enterprises(session: AsyncSession,
                       scope: str) -> list[tuple[Enterprise, PartyOrganisation | None, date | None]]:
    last: Select[tuple[int, date]] = (
        select(Visit.enterprise_id, func.max(Visit.visit_date).label("last_visit"))
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(_scope_filter(Enterprise.region, scope))
        .group_by(Visit.enterprise_id)
    )
    recent = last.subquery()
    stmt = (
        select(Enterprise, PartyOrganisation, recent.c.last_visit)
        .outerjoin(PartyOrganisation, PartyOrganisation.id == Enterprise.party_org_id)
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


async def _foundings(session: AsyncSession, scope: str) -> list[tuple[Founding, str, str, str]]:
    stmt = (
        select(Founding, Enterprise.name, Enterprise.region, User.name)
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .join(User, User.id == Founding.officer_id)
        # The 新建党组织 sheet: a change of an organisation (a category, a split) founded none.
        .where(_scope_filter(Enterprise.region, scope), Founding.action == FoundingAction.FOUND)
        .order_by(Founding.founded_on.desc(), Founding.id.desc())
    )
    return list((await session.execute(stmt)).tuples().all())


# --- cells ---------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, text)


def display_width(value: object) -> int:
    """Columns a value takes on screen: CJK and other wide characters count double."""
    if value is None:
        return 0
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    longest = max(text.split("\n"), key=len) if text else ""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in longest)


def _cell(
    sheet: WriteOnlyWorksheet, value: object, *, bold: bool = False, number_format: str | None = None
) -> WriteOnlyCell:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, clean_text(value))
        # openpyxl would store "=1+1" typed by an officer as a formula; it is text.
        cell.data_type = "s"
    else:
        cell = WriteOnlyCell(sheet, value)
    if bold:
        cell.font = Font(bold=True)
    if number_format is not None:
        cell.number_format = number_format
    elif isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    return cell


def _write_sheet(
    workbook: Workbook,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    formats: dict[int, str] | None = None,
) -> None:
    """A sheet with a bold, frozen, filterable header row and widths that fit the content."""
    sheet: WriteOnlyWorksheet = workbook.create_sheet(title)
    formats = formats or {}
    # In a write-only sheet, widths, panes and filters must be set before the first row.
    for index, header in enumerate(headers):
        width = max([display_width(header), *(display_width(row[index]) for row in rows)])
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(max(width + 2, MIN_WIDTH), MAX_WIDTH)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"
    sheet.append([_cell(sheet, header, bold=True) for header in headers])
    for row in rows:
        sheet.append([_cell(sheet, value, number_format=formats.get(i)) for i, value in enumerate(row)])


def _yes_no(flag: bool) -> str:
    return YES if flag else NO


def _labels(codes: Iterable[str], labels: dict[str, str]) -> str:
    # An unknown code (a vocabulary grown since) is shown as stored rather than dropped.
    return LIST_JOIN.join(labels.get(code, code) for code in codes)


# --- sheets --------------------------------------------------------------------------------


def _ledger_rows(ledger: list[_LedgerRow], today: date) -> list[list[object]]:
    rows: list[list[object]] = []
    for item in ledger:
        e = item.enterprise
        rows.append([
            CLASS_LABELS[item.ledger_class],
            e.name,
            e.credit_code,
            KIND_LABELS.get(e.kind, e.kind),
            e.region,
            e.industry,
            e.employees,
            e.party_members,
            _labels(e.mass_orgs or [], MASS_ORG_LABELS),
            e.owner_name,
            e.owner_political_status,
            _yes_no(e.demonstration_point),
            LIST_JOIN.join(item.officers),
            item.last_visit,
            rules.days_since(item.last_visit, today),
            e.visit_cadence_days,
            _yes_no(item.overdue),
            _yes_no(rules.ready_to_form(item.members, item.organisation is not None)),
            _yes_no(rules.priority(e.employees, item.organisation is not None)),
        ])
    return rows


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
            CATEGORY_LABELS.get(item.category, item.category),
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


def _founding_rows(foundings: list[tuple[Founding, str, str, str]]) -> list[list[object]]:
    return [
        [
            enterprise_name,
            region,
            founding.founded_on,
            CATEGORY_LABELS.get(founding.category, founding.category),
            FORMATION_LABELS.get(founding.formation, founding.formation),
            founding.secretary,
            founding.members,
            officer_name,
        ]
        for founding, enterprise_name, region, officer_name in foundings
    ]


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
        coverage = self.on_time / self.enterprises if self.enterprises else None
        return [dimension, name, self.enterprises, self.on_time, coverage, self.ready, self.priority]


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
    visits = await _visits(session, scope, visits_since)
    people = sorted(await _people(session, scope), key=_people_sort_key)
    feedback = await _feedback(session, scope)
    foundings = await _foundings(session, scope)
    # Sorted here rather than in SQL: PostgreSQL and SQLite collate Chinese differently.
    ledger = sorted(
        (
            _LedgerRow(e, org, last, officers.get(e.id, ()), rules.overdue(last, e.visit_cadence_days, today))
            for e, org, last in enterprises
        ),
        key=_sort_key,
    )
    summary = _summary_rows(ledger, scope)
    # Seconds of CPU for a county (pure Python over the rows read above, nothing loaded on
    # access): in a worker thread, so the bot's event loop goes on answering officers meanwhile
    # instead of stalling for the whole workbook (7.4 s for the biggest county's before).
    data = await asyncio.to_thread(_workbook, ledger, visits, people, feedback, foundings, summary, today, tz)

    counts = {
        "enterprises": len(ledger), "visits": len(visits), "people": len(people), "feedback": len(feedback),
        "foundings": len(foundings), "summary": len(summary),
    }
    await audit.record(
        session, actor_id=actor_id, actor_label=actor_label, action="export", entity="ledger", entity_id=None,
        after={"scope": scope, "rows": counts, **({"visits_since": visits_since.isoformat()} if visits_since else {})},
    )
    logger.info("Ledger exported: %d enterprises, %d visits", len(ledger), len(visits))
    return data, counts


def _workbook(
    ledger: list[_LedgerRow], visits: list[tuple[Visit, str, str, str]],
    people: list[tuple[Person, str, str, str, date | None]], feedback: list[tuple[Feedback, str]],
    foundings: list[tuple[Founding, str, str, str]], summary: list[list[object]], today: date, tz: ZoneInfo,
) -> bytes:
    workbook = Workbook(write_only=True)
    _write_sheet(workbook, LEDGER_SHEET, LEDGER_HEADERS, _ledger_rows(ledger, today))
    _write_sheet(workbook, VISITS_SHEET, VISIT_HEADERS, _visit_rows(visits, tz))
    _write_sheet(workbook, PEOPLE_SHEET, PEOPLE_HEADERS, _people_rows(people, today))
    _write_sheet(workbook, FEEDBACK_SHEET, FEEDBACK_HEADERS, _feedback_rows(feedback, today, tz))
    _write_sheet(workbook, FOUNDINGS_SHEET, FOUNDING_HEADERS, _founding_rows(foundings))
    _write_sheet(workbook, SUMMARY_SHEET, SUMMARY_HEADERS, summary, formats={4: PERCENT_FORMAT})
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
