"""Official working days 工作日: the State Council's holiday schedule, 调休 included.

Each year's schedule is the 国务院办公厅 notice "关于YYYY年部分节假日安排的通知", kept as data in
`storage.workday_schedule` (generated from the maintained `chinesecalendar` package and checked
against `holidays`; a new year's notice is one entry there). A day of a known year is a working
day when it is a Monday–Friday not given off, or a weekend day the notice makes a working day
(调休上班: 2026-10-10, a Saturday, is one).

The notice for a year comes out in November of the year before, so a date can lie in a year
the data does not know yet. Then nothing is refused: the day counts as Monday–Friday, less the
holidays that fall on fixed dates by law (《全国年节及纪念日放假办法》: 元旦 1 January, 劳动节
1 May (and 2 May from 2025), 国庆节 1–3 October), and the answer is marked *provisional*
(暂算) so whoever shows it can say so. The lunar holidays (春节, 清明, 端午, 中秋) and the 调休
of such a year are not guessed.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from storage.workday_schedule import YEARS

SATURDAY = 5  # date.weekday(): Monday is 0

# The fixed-date holidays of 《全国年节及纪念日放假办法》 by the year each version took effect
# (国务院令第270号 1999, 第513号 from 2008, 第795号 from 2025), as MM-DD: what a year without
# its notice is sure to have off.
_FIXED_HOLIDAYS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (2025, ("01-01", "05-01", "05-02", "10-01", "10-02", "10-03")),
    (2008, ("01-01", "05-01", "10-01", "10-02", "10-03")),
    (1999, ("01-01", "05-01", "05-02", "05-03", "10-01", "10-02", "10-03")),
)


class WorkingDay(NamedTuple):
    """Whether a day is a working day, and whether that is reckoned without the year's notice
    (暂算). `bool(answer)` is `answer.working`, so `if is_working_day(day):` reads right."""

    working: bool
    provisional: bool

    def __bool__(self) -> bool:
        return self.working


class Reckoned(NamedTuple):
    """A day found by counting working days; `provisional` when a year on the way is not known."""

    day: date
    provisional: bool


def known(year: int) -> bool:
    """Whether the State Council's schedule of `year` is in the data."""
    return year in YEARS


@lru_cache(maxsize=64)
def _year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The days off and the weekend days worked of a known year."""
    schedule = YEARS[year]
    off: set[date] = set()
    for _festival, first, last in schedule.days_off:
        day, end = date.fromisoformat(f"{year}-{first}"), date.fromisoformat(f"{year}-{last}")
        while day <= end:
            off.add(day)
            day += timedelta(days=1)
    return frozenset(off), frozenset(date.fromisoformat(f"{year}-{day}") for day in schedule.days_on)


def _fixed_holiday(day: date) -> bool:
    fixed = next((days for since, days in _FIXED_HOLIDAYS if day.year >= since), _FIXED_HOLIDAYS[-1][1])
    return f"{day:%m-%d}" in fixed


def is_working_day(day: date) -> WorkingDay:
    """Whether `day` is an official working day; provisional for a year the data does not know."""
    if not known(day.year):
        return WorkingDay(day.weekday() < SATURDAY and not _fixed_holiday(day), provisional=True)
    off, on = _year(day.year)
    if day in on:
        return WorkingDay(True, provisional=False)
    return WorkingDay(day.weekday() < SATURDAY and day not in off, provisional=False)


def first_working_day(year: int, month: int) -> Reckoned:
    """The first working day of the month (2026-10-08 after the National Day week)."""
    return add_working_days(date(year, month, 1) - timedelta(days=1), 1)


def add_working_days(day: date, count: int) -> Reckoned:
    """The working day `count` working days after `day` (before it when `count` is negative);
    `day` itself for 0. Provisional when any day counted lies in a year the data does not know."""
    step = 1 if count >= 0 else -1
    provisional = False
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        working, unsure = is_working_day(day)
        provisional = provisional or unsure
        remaining -= working
    return Reckoned(day, provisional)
