"""The member-development rules, table by table (DESIGN.md › Member development)."""

from __future__ import annotations

from datetime import date

import pytest

from storage.development import (
    CURRENT,
    Pipeline,
    add_period,
    age_on,
    check_dates,
    milestones,
    next_milestone,
    working_days,
)
from storage.enums import Stage

TODAY = date(2026, 11, 25)
BIRTH = date(1990, 5, 12)


@pytest.mark.parametrize(
    ("start", "rule", "expected"),
    [
        (date(2026, 1, 31), CURRENT.talk_within, date(2026, 2, 28)),  # no 31 February
        (date(2024, 1, 31), CURRENT.talk_within, date(2024, 2, 29)),
        (date(2026, 11, 20), CURRENT.talk_within, date(2026, 12, 20)),
        (date(2026, 8, 31), CURRENT.review_every, date(2027, 2, 28)),
        (date(2024, 2, 29), CURRENT.candidate_after, date(2025, 2, 28)),
        (date(2026, 11, 25), CURRENT.probation, date(2027, 11, 25)),
    ],
)
def test_periods_are_calendar_months_and_years(start: date, rule: object, expected: date) -> None:
    assert add_period(start, rule) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [(date(2008, 11, 25), date(2026, 11, 25), 18), (date(2008, 11, 26), date(2026, 11, 25), 17),
     (date(2008, 2, 29), date(2026, 2, 28), 17), (date(2008, 2, 29), date(2026, 3, 1), 18)],
)
def test_age_counts_whole_years(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [(date(2026, 11, 16), date(2026, 11, 23), 5),  # Monday to next Monday
     (date(2026, 11, 18), date(2026, 11, 24), 4),  # Wednesday to Tuesday: Wed Thu Fri Mon
     (date(2026, 11, 21), date(2026, 11, 23), 0)],  # a weekend
)
def test_working_days_skip_weekends(start: date, end: date, count: int) -> None:
    assert working_days(start, end) == count


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        # An applicant nobody has talked to: the talk is due a month after applying.
        (Pipeline(Stage.APPLICANT, BIRTH, date(2026, 11, 1)), [("talk", date(2026, 12, 1), False)]),
        (Pipeline(Stage.APPLICANT, BIRTH, date(2026, 10, 1)), [("talk", date(2026, 11, 1), True)]),
        (Pipeline(Stage.APPLICANT, BIRTH, date(2026, 10, 1), talked_on=date(2026, 10, 9)), []),
        # An activist: a review every six months from the last one; eligible after a year.
        (Pipeline(Stage.ACTIVIST, BIRTH, date(2025, 1, 5), activist_on=date(2025, 3, 1)),
         [("review", date(2025, 9, 1), True), ("candidate", date(2026, 3, 1), False)]),
        (Pipeline(Stage.ACTIVIST, BIRTH, date(2025, 1, 5), activist_on=date(2025, 3, 1),
                  last_review_on=date(2026, 9, 1)),
         [("candidate", date(2026, 3, 1), False), ("review", date(2027, 3, 1), False)]),
        (Pipeline(Stage.CANDIDATE, BIRTH, date(2024, 1, 5), activist_on=date(2024, 3, 1),
                  candidate_on=date(2025, 4, 1)), []),
        # A probationary member: the year ends on the anniversary.
        (Pipeline(Stage.PROBATIONARY, BIRTH, date(2024, 1, 5), activist_on=date(2024, 3, 1),
                  candidate_on=date(2025, 4, 1), probation_on=date(2025, 11, 1)),
         [("probation", date(2026, 11, 1), True)]),
        (Pipeline(Stage.FULL, BIRTH, date(2020, 1, 5), full_on=date(2023, 1, 1)), []),
        (Pipeline(Stage.WITHDRAWN, BIRTH, date(2026, 1, 5), withdrawn_on=date(2026, 2, 1)), []),
    ],
)
def test_milestones_follow_the_rules(pipeline: Pipeline, expected: list[tuple[str, date, bool]]) -> None:
    assert [(m.code, m.due, m.overdue) for m in milestones(pipeline, TODAY)] == expected


def test_next_milestone_is_the_soonest() -> None:
    p = Pipeline(Stage.ACTIVIST, BIRTH, date(2025, 1, 5), activist_on=date(2025, 3, 1))
    found = next_milestone(p, TODAY)
    assert found is not None and found.code == "review" and found.days_left == (date(2025, 9, 1) - TODAY).days
    assert found.rule.article == "《细则》第十一条"


@pytest.mark.parametrize(
    ("pipeline", "problem"),
    [
        (Pipeline(Stage.APPLICANT, date(2009, 1, 1), date(2026, 11, 20)), ("applied_on", "under_age")),
        (Pipeline(Stage.APPLICANT, date(2008, 11, 20), date(2026, 11, 20)), None),
        (Pipeline(Stage.APPLICANT, BIRTH, date(2026, 11, 20), talked_on=date(2026, 11, 19)),
         ("talked_on", "before_previous")),
        (Pipeline(Stage.ACTIVIST, BIRTH, date(2026, 3, 1), activist_on=date(2026, 2, 1)),
         ("activist_on", "before_previous")),
        (Pipeline(Stage.CANDIDATE, BIRTH, date(2025, 1, 1), activist_on=date(2025, 3, 1),
                  candidate_on=date(2026, 2, 28)), ("candidate_on", "candidate_too_early")),
        (Pipeline(Stage.CANDIDATE, BIRTH, date(2025, 1, 1), activist_on=date(2025, 3, 1),
                  candidate_on=date(2026, 3, 2), notice_started_on=date(2026, 2, 26)),
         ("notice_started_on", "notice_too_short")),  # Thu Fri Mon: three working days
        (Pipeline(Stage.CANDIDATE, BIRTH, date(2025, 1, 1), activist_on=date(2025, 3, 1),
                  candidate_on=date(2026, 3, 9), notice_started_on=date(2026, 3, 2)), None),
        (Pipeline(Stage.FULL, BIRTH, date(2023, 1, 1), activist_on=date(2023, 3, 1),
                  candidate_on=date(2024, 3, 9), probation_on=date(2024, 6, 1), full_on=date(2025, 5, 31)),
         ("full_on", "probation_not_over")),
        (Pipeline(Stage.FULL, BIRTH, date(2023, 1, 1), activist_on=date(2023, 3, 1),
                  candidate_on=date(2024, 3, 9), probation_on=date(2024, 6, 1), full_on=date(2025, 6, 1)), None),
        (Pipeline(Stage.PROBATIONARY, BIRTH, date(2023, 1, 1), activist_on=date(2023, 3, 1),
                  candidate_on=date(2024, 3, 9), probation_on=date(2024, 3, 8)), ("probation_on", "before_previous")),
    ],
)
def test_dates_out_of_order_or_against_a_rule_are_named(
    pipeline: Pipeline, problem: tuple[str, str] | None
) -> None:
    found = check_dates(pipeline)
    assert (None if found is None else (found.answer, found.code)) == problem


def test_every_rule_names_its_source_article() -> None:
    assert all(rule.article and rule.summary for rule in CURRENT.all())
    assert CURRENT.version == "2014"
