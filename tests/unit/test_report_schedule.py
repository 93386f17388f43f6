"""Which days the quarterly and year-end reports go out: the triggers fire on days 1–14 of the
month, the jobs act only on the first official working day (`storage.workdays`: the State
Council's schedule with its 调休; 2027 on is reckoned Monday–Friday less the fixed-date holidays)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.scheduler import quarterly_trigger, year_end_trigger
from output.reports import first_working_day, is_first_working_day_of_quarter, is_first_working_day_of_year

TZ = ZoneInfo("Asia/Shanghai")

# (day, first working day of a quarter?) — checked against the 2026 notice and a calendar by hand.
QUARTER_DAYS = [
    (date(2026, 1, 1), False),  # Thursday, 元旦
    (date(2026, 1, 2), False),  # Friday, 元旦 holiday
    (date(2026, 1, 4), True),  # Sunday worked instead (调休上班)
    (date(2026, 1, 5), False),  # Monday, the 4th was already a working day
    (date(2026, 4, 1), True),  # Wednesday
    (date(2026, 7, 1), True),  # Wednesday
    (date(2026, 10, 1), False),  # Thursday, 国庆节
    (date(2026, 10, 8), True),  # Thursday after the National Day week
    (date(2026, 10, 9), False),  # Friday: the 8th came first
    (date(2027, 1, 1), False),  # Friday, 元旦 (fixed by law; 2027's notice is not in the data)
    (date(2027, 1, 4), True),  # Monday after it
    (date(2027, 4, 1), True),  # Thursday
    (date(2027, 7, 1), True),  # Thursday
    (date(2027, 8, 1), False),  # Sunday, and not a quarter's first month anyway
    (date(2027, 8, 2), False),  # Monday of August: not a quarter's first month
    (date(2028, 4, 1), False),  # Saturday
    (date(2028, 4, 2), False),  # Sunday
    (date(2028, 4, 3), True),  # Monday
    (date(2028, 10, 1), False),  # Sunday
    (date(2028, 10, 2), False),  # Monday, 国庆节 (fixed by law)
    (date(2028, 10, 4), True),  # Wednesday after 1–3 October
    (date(2026, 11, 2), False),  # Monday of a month that starts no quarter
]


@pytest.mark.parametrize(("day", "expected"), QUARTER_DAYS, ids=[day.isoformat() for day, _ in QUARTER_DAYS])
def test_the_first_working_day_of_a_quarter(day: date, expected: bool) -> None:
    assert is_first_working_day_of_quarter(day) is expected


def test_the_first_working_day_of_january() -> None:
    assert first_working_day(2028, 1) == date(2028, 1, 3)  # 1 January 2028 is a Saturday
    assert first_working_day(2033, 1) == date(2033, 1, 3)  # a Saturday too
    assert first_working_day(2034, 1) == date(2034, 1, 2)  # a Sunday
    assert is_first_working_day_of_year(date(2028, 1, 3)) and not is_first_working_day_of_year(date(2028, 1, 4))
    assert not is_first_working_day_of_year(date(2028, 4, 3))  # a quarter's, not the year's


def _acting_days(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """The trigger's fire times in [start, end) — what the job sees as `now`."""
    fires: list[datetime] = []
    previous: datetime | None = None
    moment = start
    while (fire := trigger.get_next_fire_time(previous, moment)) is not None and fire < end:
        fires.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return fires


def test_the_quarterly_job_acts_once_a_quarter_at_nine() -> None:
    fires = _acting_days(quarterly_trigger(TZ), datetime(2026, 1, 1, tzinfo=TZ), datetime(2029, 1, 1, tzinfo=TZ))
    assert len(fires) == 12 * 14  # days 1–14 of twelve quarters' first months
    acting = [fire for fire in fires if is_first_working_day_of_quarter(fire.date())]
    assert [fire.date() for fire in acting] == [
        date(2026, 1, 4), date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 8),
        date(2027, 1, 4), date(2027, 4, 1), date(2027, 7, 1), date(2027, 10, 4),
        date(2028, 1, 3), date(2028, 4, 3), date(2028, 7, 3), date(2028, 10, 4),
    ]
    assert {(fire.hour, fire.minute) for fire in acting} == {(9, 0)}


def test_the_year_end_job_acts_on_the_first_working_day_of_january_at_half_past_nine() -> None:
    fires = _acting_days(year_end_trigger(TZ), datetime(2026, 1, 1, tzinfo=TZ), datetime(2029, 1, 1, tzinfo=TZ))
    acting = [fire for fire in fires if is_first_working_day_of_year(fire.date())]
    assert [(fire.date(), fire.hour, fire.minute) for fire in acting] == [
        (date(2026, 1, 4), 9, 30), (date(2027, 1, 4), 9, 30), (date(2028, 1, 3), 9, 30),
    ]
