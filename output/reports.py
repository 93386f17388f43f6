"""The quarterly report 季报 and the year-end figures 年终统计, queued in the outbox for every
supervisor: one message each, about their own scope.

The figures come from `storage.reports`; this module picks the period from `now`, renders each
supervisor's message (`templates/<locale>/reports/`) and queues it with a dedupe key naming the
supervisor and the period, so a job that runs twice (a restart, a coalesced misfire, a second
instance) queues nothing twice. The caller decides on which day to call (`bot.scheduler`: the
first working day of the quarter, of January) and commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from output.digests import attachment
from output.render import render
from storage import outbox, workdays
from storage import reports as figures
from storage.enums import Role
from storage.models import User
from storage.officers import locale_of
from storage.scope import SEPARATOR

logger = logging.getLogger(__name__)

KIND = "report"


def first_working_day(year: int, month: int) -> date:
    """The first official working day of the month (`storage.workdays`: 调休 included, so the
    Q3 季报 goes out on 2026-10-08, not on 国庆; a year without its notice is reckoned
    Monday–Friday less its fixed-date holidays)."""
    reckoned = workdays.first_working_day(year, month)
    if reckoned.provisional:
        logger.info("The first working day of %s-%02d is reckoned without that year's holiday notice (暂算)",
                    year, month)
    return reckoned.day


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


def _workbook(title: str, headers: tuple[str, str], rows: list[tuple[str, int]]) -> bytes:
    """A one-sheet XLSX of the figures, for filing and for pasting into the official form.
    Headers are the report's column names (data, in Chinese as the forms are)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(headers))
    for name, value in rows:
        sheet.append([name, value])
        sheet.cell(row=sheet.max_row, column=1).data_type = "s"  # a region name is never a formula
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 14
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _leaf(region: str) -> str:
    return region.rsplit(SEPARATOR, 1)[-1]


@dataclass(frozen=True)
class Report:
    """One report for one scope: its message, and its workbook for filing."""

    period: str  # 2026-Q3, 2026
    text: str
    filename: str
    workbook: bytes


async def quarterly(session: AsyncSession, scope: str, today: date, locale: str) -> Report:
    """The 季报 of the quarter before `today` for `scope`: new party organisations per sub-region."""
    period, start, end = previous_quarter(today)
    rows = await figures.foundings_by_region(session, scope, start, end)
    lines = [{"name": _leaf(row.region), "own": row.region == scope, "founded": row.founded} for row in rows]
    text = render("reports/quarterly", locale, year=start.year, quarter=(start.month + 2) // 3, scope=_leaf(scope),
                  start=start, last=end - timedelta(days=1), rows=lines, total=sum(row.founded for row in rows))
    table = [(row.region, row.founded) for row in rows] + [("合计", sum(row.founded for row in rows))]
    return Report(period, text, f"季报-{_leaf(scope)}-{period}.xlsx",
                  _workbook(f"{period}季报", ("地区", "新建党组织数"), table))


async def year_end(session: AsyncSession, scope: str, year: int, tz: ZoneInfo, locale: str) -> Report:
    """The 年终统计 of `year` for `scope`."""
    result = await figures.year_end(session, scope, year, tz)
    text = render("reports/year_end", locale, year=year, scope=_leaf(scope),
                  person_times=result.dispatched.person_times, officers=result.dispatched.officers,
                  activists=result.activists.activists, guided=result.guided.total,
                  owners_applied=result.applied.owners, visits=result.visits.visits,
                  resolved=result.resolved.resolved)
    table = [("选派联系员（人次）", result.dispatched.person_times), ("联系员（人）", result.dispatched.officers),
             ("培养入党积极分子", result.activists.activists), ("指导新建党组织", result.guided.total),
             ("业主递交入党申请", result.applied.owners), ("走访（次）", result.visits.visits),
             ("办结业主诉求", result.resolved.resolved)]
    return Report(str(year), text, f"年终统计-{_leaf(scope)}-{year}.xlsx",
                  _workbook(f"{year}年终统计", ("指标", "数值"), table))


async def _queue(session: AsyncSession, name: str, now: datetime,
                 make: Callable[[str, str], Awaitable[Report]], locale: str) -> int:
    """Queues each supervisor's report (`make(scope, locale)`), once per supervisor and period;
    how many messages were new."""
    queued = 0
    for supervisor in await _supervisors(session):
        if supervisor.chat_id is None:  # excluded by the query; narrows the type
            continue
        report = await make(supervisor.region, locale_of(supervisor.locale, locale))
        files = [attachment(report.filename, XLSX, report.workbook)]
        if await outbox.enqueue(session, dedupe_key=f"report:{name}:{supervisor.id}:{report.period}",
                                chat_id=supervisor.chat_id, user_id=supervisor.id, kind=KIND, text=report.text,
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
