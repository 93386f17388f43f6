"""The quarterly report 季报 and the year-end figures 年终统计, queued in the outbox for every
supervisor: one message each, about their own scope.

The figures come from `storage.reports`; this module picks the period from `now`, renders each
supervisor's message (`templates/<locale>/reports/`) and queues it with a dedupe key naming the
supervisor and the period, so a job that runs twice (a restart, a coalesced misfire, a second
instance) queues nothing twice. The caller decides on which day to call (`bot.scheduler`: the
first working day of the quarter, of January) and commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from output.digests import attachment
from output.render import label, render
from storage import outbox, workdays
from storage import reports as figures
from storage.coverage import KINDS, Coverage, OrgCounts
from storage.enums import Role
from storage.models import User
from storage.officers import locale_of
from storage.scope import SEPARATOR, normalize_region

KIND = "report"
FORM_LOCALE = "zh_CN"  # the workbooks are in the forms' language, whoever receives them


def first_working_day(year: int, month: int) -> date:
    """The first official working day of the month (`storage.workdays`: 调休 included, so the
    Q3 季报 goes out on 2026-10-08, not on 国庆; a year without its notice is reckoned
    Monday–Friday less its fixed-date holidays)."""
    return workdays.first_working_day(year, month).day


def is_first_working_day_of_quarter(day: date) -> bool:
    return day.month in (1, 4, 7, 10) and day == first_working_day(day.year, day.month)


def is_first_working_day_of_year(day: date) -> bool:
    return day == first_working_day(day.year, 1)


def previous_quarter(today: date) -> tuple[str, date, date]:
    """The quarter before the one `today` is in: its name (2026-Q3) and its dates, end exclusive."""
    quarter = (today.month - 1) // 3  # 0-based quarter of today
    year = today.year if quarter > 0 else today.year - 1
    number = quarter if quarter > 0 else 4
    start = date(year, 3 * number - 2, 1)
    end = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return f"{year}-Q{number}", start, end


async def _supervisors(session: AsyncSession) -> list[User]:
    """Active supervisors the bot can reach (a chat, not blocked), in a stable order."""
    stmt = (
        select(User)
        .where(User.role == Role.SUPERVISOR.value, User.active.is_(True), User.chat_id.is_not(None),
               User.blocked_bot.is_(False))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


XLSX = "document"
PERCENT = "0.0%"
TOTAL = "合计"
REGION = "地区"
# The official line names, in Chinese as the forms are (data, like the ledger's headers).
KIND_HEADERS = tuple(label("org_kind", FORM_LOCALE, category=c, formation=f) for c, f in KINDS)
COVERAGE_HEADERS = (
    REGION, "非公有制企业（法人单位）数", "已建立党组织企业数", "其中：单独建立", "其中：联合建立", "挂靠",
    "党组织覆盖率", "单独组建率", "正式党员3名以上企业数", "其中：已建", "应建已建率", "党的工作覆盖企业数",
    "党的工作覆盖率", "规模以上企业数", "其中：已建", "规上覆盖率",
)
APART_HEADERS = (
    REGION, "个体工商户数", "其中：已建", "农民专业合作社数", "其中：已建", "停业企业（不计入）", "注销企业（不计入）",
    "其他主体（不计入）", "示范点", "先建群团组织企业数",
)
MEMBER_HEADERS = (REGION, "党员总数", "组织关系在本企业", "组织关系不在本企业", "未填报")
ORGANISATION_HEADERS = (REGION, "党组织总数", *KIND_HEADERS, "本年新建", "上级选派书记")
QUARTER_HEADERS = (REGION, "新建党组织数")
QUARTER_KIND_HEADERS = (REGION, *KIND_HEADERS, TOTAL)
RUNNING_HEADERS = (REGION, "季末党组织数", "党委", "党总支", "党支部", "单独组建", "联合组建", "挂靠", "本年累计新建",
                   "上级选派书记")
CHANGE_HEADERS = (REGION, "季初企业数", "季初已建", "季初覆盖率", "季末企业数", "季末已建", "季末覆盖率",
                  "变化（百分点）")
WORK_HEADERS = ("指标", "数值")

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One sheet of a report workbook: a header row, rows, and a totals row (none: no totals)."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    totals: tuple[Cell, ...] | None = None
    percent_columns: tuple[int, ...] = ()  # 0-based columns holding rates


def _workbook(tables: list[Table], heading: str) -> bytes:
    """An XLSX of the report, a sheet per table, laid out to be pasted into the official form
    and printed: one header row (repeated on every printed page), the totals last, landscape,
    fitted to the page's width, the report's name in the page header."""
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.title)
        sheet.append(list(table.headers))
        for row in [*table.rows, *([table.totals] if table.totals else [])]:
            sheet.append(list(row))
            sheet.cell(row=sheet.max_row, column=1).data_type = "s"  # a region name is never a formula
            for column in table.percent_columns:
                sheet.cell(row=sheet.max_row, column=column + 1).number_format = PERCENT
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        if table.totals:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"
        sheet.column_dimensions["A"].width = 28
        for column in range(2, len(table.headers) + 1):
            sheet.column_dimensions[get_column_letter(column)].width = 12
        sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
        sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        sheet.print_title_rows = "1:1"
        sheet.print_options.horizontalCentered = True
        sheet.print_options.gridLines = True
        sheet.oddHeader.center.text = f"{heading} · {table.title}"
        sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _leaf(region: str) -> str:
    return region.rsplit(SEPARATOR, 1)[-1]


def _file_scope(scope: str) -> str:
    return _leaf(scope) or "全部"  # the whole database, for the operator


def _points(before: float | None, after: float | None) -> float | None:
    """The change of a rate in percentage points."""
    return None if before is None or after is None else round((after - before) * 100, 1)


@dataclass(frozen=True)
class Report:
    """One report for one scope: its message, and its workbook for filing."""

    period: str  # 2026-Q3, 2026
    text: str
    filename: str
    workbook: bytes


async def quarterly(session: AsyncSession, scope: str, today: date, locale: str) -> Report:
    """The 季报 of the quarter before `today` for `scope` (what the scheduler sends)."""
    _period, start, _end = previous_quarter(today)
    return await quarter_report(session, scope, start.year, (start.month + 2) // 3, locale)


async def quarter_report(session: AsyncSession, scope: str, year: int, quarter: int, locale: str) -> Report:
    """The 季报 of `quarter` of `year` for `scope`: organisations founded per sub-region, by
    category × way of forming, the running totals and the change of 党组织覆盖率."""
    scope = normalize_region(scope)
    q = await figures.quarterly(session, scope, year, quarter)
    founded, existing, this_year = q.total(q.founded), q.total(q.existing), q.total(q.founded_this_year)
    before, after = q.before, q.after
    rows = [{"name": _leaf(row.region), "own": row.region == scope, "founded": row.total} for row in q.founded]
    kinds = [{"category": c, "formation": f, "count": founded.kinds[(c, f)]} for c, f in KINDS
             if founded.kinds.get((c, f))]
    text = render("reports/quarterly", locale, year=year, quarter=quarter, scope=_leaf(scope), start=q.start,
                  last=q.last, rows=rows, total=founded.total, kinds=kinds, existing=existing, this_year=this_year,
                  before=before, after=after, change=_points(before.org_rate, after.org_rate))
    this_year_by_region = {row.region: row for row in q.founded_this_year}
    tables = [
        Table(f"{q.name}季报", QUARTER_HEADERS, [(row.region, row.total) for row in q.founded], (TOTAL, founded.total)),
        Table("新建党组织（类别×方式）", QUARTER_KIND_HEADERS,
              [(row.region, *(row.kinds.get(kind, 0) for kind in KINDS), row.total) for row in q.founded],
              (TOTAL, *(founded.kinds.get(kind, 0) for kind in KINDS), founded.total)),
        Table("党组织累计", RUNNING_HEADERS,
              [_running(row, this_year_by_region.get(row.region, OrgCounts(row.region))) for row in q.existing],
              _running(existing, this_year, TOTAL)),
        Table("党组织覆盖率变化", CHANGE_HEADERS,
              [_change(b, a) for b, a in zip(q.coverage_before, q.coverage_after, strict=True)],
              _change(before, after, TOTAL), percent_columns=(3, 6)),
    ]
    return Report(q.name, text, f"季报-{_file_scope(scope)}-{q.name}.xlsx",
                  _workbook(tables, f"{_file_scope(scope)} {year}年第{quarter}季度 新建党组织季报"))


def _running(row: OrgCounts, this_year: OrgCounts, name: str | None = None) -> tuple[Cell, ...]:
    return (name or row.region, row.total, row.count("committee"), row.count("general_branch"), row.count("branch"),
            row.formed("single"), row.formed("joint"), row.formed("attached"), this_year.total, row.secretaries_sent)


def _change(before: Coverage, after: Coverage, name: str | None = None) -> tuple[Cell, ...]:
    return (name or after.region, before.enterprises, before.covered, before.org_rate, after.enterprises,
            after.covered, after.org_rate, _points(before.org_rate, after.org_rate))


def _coverage_row(c: Coverage, name: str | None = None) -> tuple[Cell, ...]:
    return (name or c.region, c.enterprises, c.covered, c.single, c.joint, c.attached, c.org_rate, c.single_rate,
            c.eligible, c.eligible_covered, c.eligible_rate, c.work_covered, c.work_rate, c.above_scale,
            c.above_scale_covered, c.above_scale_rate)


def _apart_row(c: Coverage, name: str | None = None) -> tuple[Cell, ...]:
    return (name or c.region, c.individuals, c.individuals_covered, c.cooperatives, c.cooperatives_covered,
            c.suspended, c.deregistered, c.others, c.demonstration_points, c.mass_first)


def _member_row(c: Coverage, name: str | None = None) -> tuple[Cell, ...]:
    return (name or c.region, c.members, c.members_here, c.members_elsewhere, c.members_unreported)


def _organisation_row(o: OrgCounts, founded: OrgCounts, name: str | None = None) -> tuple[Cell, ...]:
    return (name or o.region, o.total, *(o.kinds.get(kind, 0) for kind in KINDS), founded.total, o.secretaries_sent)


async def year_end(session: AsyncSession, scope: str, year: int, tz: ZoneInfo, locale: str) -> Report:
    """The 年终统计 of `year` for `scope`: the official lines on 31 December and the practice's."""
    scope = normalize_region(scope)
    result = await figures.year_end(session, scope, year, tz)
    c, o, founded = result.total_coverage, result.total_organisations, result.total_founded
    text = render("reports/year_end", locale, year=year, scope=_leaf(scope), c=c, o=o, founded=founded.total,
                  officers=result.officers.officers, person_years=result.officers.person_years,
                  activists=result.activists.activists, guided=result.guided.total,
                  owners_applied=result.applied.owners, asked=result.asked, visits=result.visits.visits,
                  resolved=result.resolved.resolved)
    founded_by_region = {row.region: row for row in result.founded}
    work = [("选派党建工作指导员（联系员）（人）", result.officers.officers),
            ("选派党建工作指导员（联系员）（人次，按人年累计）", result.officers.person_years),
            ("上级选派党组织书记（名）", o.secretaries_sent),
            ("培养入党积极分子", result.activists.activists), ("指导新建党组织", result.guided.total),
            ("业主递交入党申请", result.applied.owners),
            ("业主提出建立党组织诉求（件）", result.asked.requests), ("业主提出建立党组织诉求（户）", result.asked.enterprises),
            ("示范点（个）", c.demonstration_points), ("先建群团组织（户）", c.mass_first),
            ("走访（次）", result.visits.visits), ("办结业主诉求", result.resolved.resolved)]
    tables = [
        Table("两个覆盖", COVERAGE_HEADERS, [_coverage_row(row) for row in result.coverage], _coverage_row(c, TOTAL),
              percent_columns=(6, 7, 10, 12, 15)),
        Table("党组织", ORGANISATION_HEADERS,
              [_organisation_row(row, founded_by_region.get(row.region, OrgCounts(row.region)))
               for row in result.organisations],
              _organisation_row(o, founded, TOTAL)),
        Table("党员", MEMBER_HEADERS, [_member_row(row) for row in result.coverage], _member_row(c, TOTAL)),
        Table("个体工商户及其他", APART_HEADERS, [_apart_row(row) for row in result.coverage], _apart_row(c, TOTAL)),
        Table("工作情况", WORK_HEADERS, list(work)),
    ]
    return Report(str(year), text, f"年终统计-{_file_scope(scope)}-{year}.xlsx",
                  _workbook(tables, f"{_file_scope(scope)} {year}年 非公有制企业党建工作年终统计"))


async def _queue(session: AsyncSession, name: str, now: datetime,
                 make: Callable[[str, str], Awaitable[Report]], locale: str) -> int:
    """Queues each supervisor's report (`make(scope, locale)`), once per supervisor and period;
    how many messages were new. Every report is built before the first is queued: on SQLite the
    first write takes the database's lock until the commit, and building the others under it
    would hold every officer's save for seconds (as the weekly digests, built first, written last)."""
    built = []
    for supervisor in await _supervisors(session):
        if supervisor.chat_id is None:  # excluded by the query; narrows the type
            continue
        built.append((supervisor, supervisor.chat_id,
                      await make(supervisor.region, locale_of(supervisor.locale, locale))))
    queued = 0
    for supervisor, chat_id, report in built:
        files = [attachment(report.filename, XLSX, report.workbook)]
        if await outbox.enqueue(session, dedupe_key=f"report:{name}:{supervisor.id}:{report.period}",
                                chat_id=chat_id, user_id=supervisor.id, kind=KIND, text=report.text,
                                not_before=now, attachments=files):
            queued += 1
    return queued


async def queue_quarterly(session: AsyncSession, *, now: datetime, tz: ZoneInfo, locale: str = "zh_CN") -> int:
    """Queues each supervisor's 季报 of the quarter before `now` (local), in their locale (else
    the bot's `locale`). Returns how many messages were new."""
    today = now.astimezone(tz).date()
    return await _queue(session, "quarterly", now, lambda scope, lang: quarterly(session, scope, today, lang), locale)


async def queue_year_end(session: AsyncSession, *, now: datetime, tz: ZoneInfo, locale: str = "zh_CN") -> int:
    """Queues each supervisor's 年终统计 of the year before `now` (local), in their locale (else
    the bot's `locale`). Returns how many messages were new."""
    year = now.astimezone(tz).year - 1
    return await _queue(session, "year_end", now, lambda scope, lang: year_end(session, scope, year, tz, lang), locale)
