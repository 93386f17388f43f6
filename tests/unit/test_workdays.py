"""Official working days: the State Council's schedule with its 调休, and a provisional Monday–
Friday count for a year without a notice. Expected days are read off the 2026 notice
(国务院办公厅关于2026年部分节假日安排的通知) and a wall calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from storage import workdays
from storage.workday_schedule import YEARS
from storage.workdays import Reckoned, WorkingDay, add_working_days, first_working_day, is_working_day


@pytest.mark.parametrize(("day", "working"), [
    (date(2026, 10, 1), False),  # 国庆节, a Thursday
    (date(2026, 10, 7), False),  # the last day of the National Day week, a Wednesday
    (date(2026, 10, 8), True),  # Thursday: back at work
    (date(2026, 10, 10), True),  # Saturday worked instead (调休上班)
    (date(2026, 9, 20), True),  # Sunday worked instead
    (date(2026, 10, 11), False),  # an ordinary Sunday
    (date(2026, 1, 1), False),  # 元旦, Thursday
    (date(2026, 1, 4), True),  # Sunday worked after 元旦
    (date(2026, 2, 23), False),  # Monday, the last day of 春节
    (date(2026, 11, 30), True),  # an ordinary Monday
])
def test_a_known_year_follows_the_notice(day: date, working: bool) -> None:
    assert is_working_day(day) == WorkingDay(working, provisional=False)
    assert bool(is_working_day(day)) is working  # `if is_working_day(day):` reads right


def test_the_first_working_days_of_the_reporting_months() -> None:
    # 2026: 1–3 January off, Sunday the 4th worked; National Day 1–7 October, back on Thursday the 8th.
    assert first_working_day(2026, 1) == Reckoned(date(2026, 1, 4), provisional=False)
    assert first_working_day(2026, 4) == Reckoned(date(2026, 4, 1), provisional=False)
    assert first_working_day(2026, 7) == Reckoned(date(2026, 7, 1), provisional=False)
    assert first_working_day(2026, 10) == Reckoned(date(2026, 10, 8), provisional=False)
    # 2027 has no notice in the data: 1 January (a Friday) is 元旦 by law, the next weekday is
    # Monday the 4th, marked provisional.
    assert first_working_day(2027, 1) == Reckoned(date(2027, 1, 4), provisional=True)


def test_a_year_without_its_notice_counts_monday_to_friday_and_says_so() -> None:
    assert not workdays.known(2027) and workdays.known(2026)
    assert is_working_day(date(2027, 3, 10)) == WorkingDay(True, provisional=True)  # a Wednesday
    assert is_working_day(date(2027, 3, 13)) == WorkingDay(False, provisional=True)  # a Saturday
    # Only the fixed-date holidays of the law are taken off: 1 January, 1–2 May, 1–3 October.
    assert is_working_day(date(2027, 10, 1)) == WorkingDay(False, provisional=True)  # a Friday
    assert is_working_day(date(2027, 5, 3)) == WorkingDay(True, provisional=True)  # Monday after 1–2 May
    assert is_working_day(date(2030, 10, 4)) == WorkingDay(True, provisional=True)  # a Friday: not guessed
    assert first_working_day(2028, 10) == Reckoned(date(2028, 10, 4), provisional=True)  # Sun 1, Mon–Tue 2–3 off
    assert is_working_day(date(2003, 5, 2)) == WorkingDay(False, provisional=True)  # 1999 rule: 1–3 May


def test_adding_working_days_skips_holidays_and_counts_the_weekends_worked() -> None:
    # From Wednesday 30 September 2026: Thu 8, Fri 9, Sat 10 (worked) October.
    assert add_working_days(date(2026, 9, 30), 3) == Reckoned(date(2026, 10, 10), provisional=False)
    assert add_working_days(date(2026, 10, 8), -1) == Reckoned(date(2026, 9, 30), provisional=False)
    assert add_working_days(date(2026, 10, 3), 0) == Reckoned(date(2026, 10, 3), provisional=False)
    # Five working days from Wednesday 30 December 2026 run into 2027, which is provisional:
    # Thu 31 December, then (1 January off) Mon 4 … Thu 7 January.
    assert add_working_days(date(2026, 12, 30), 5) == Reckoned(date(2027, 1, 7), provisional=True)
    assert add_working_days(date(2026, 12, 30), 1) == Reckoned(date(2026, 12, 31), provisional=False)


def test_the_table_matches_the_chinesecalendar_package_for_every_year_it_knows() -> None:
    chinese_calendar = pytest.importorskip("chinese_calendar")
    for year in YEARS:
        day = date(year, 1, 1)
        while day.year == year:
            try:
                expected = chinese_calendar.is_workday(day)
            except NotImplementedError:  # a year added from its notice before the package has it
                break
            assert is_working_day(day).working is expected, day
            day += timedelta(days=1)
