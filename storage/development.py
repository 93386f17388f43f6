"""The rules of member development 发展党员, as versioned data with their sources.

The reminders and the forms both read these rules; nothing else hard-codes a period. When the
rules change, add a new `RuleSet` (keep the old one for records judged under it) and point
`CURRENT` at it.

Source: 《中国共产党发展党员工作细则》 (中共中央办公厅, 2014-05-28, 中办发〔2014〕33号) and
《中国共产党章程》. Checked 2026-11: no later revision of the 细则 is known; the 2022 党章 keeps
the one-year probation. The five working days of public notice (公示) are the common
requirement of provincial implementing rules (the 细则 asks for a notice without a length).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from storage.enums import Stage

ORDER = (Stage.APPLICANT, Stage.ACTIVIST, Stage.CANDIDATE, Stage.PROBATIONARY, Stage.FULL)
# The date field that records reaching each stage.
STAGE_DATE = {
    Stage.APPLICANT: "applied_on",
    Stage.ACTIVIST: "activist_on",
    Stage.CANDIDATE: "candidate_on",
    Stage.PROBATIONARY: "probation_on",
    Stage.FULL: "full_on",
    Stage.WITHDRAWN: "withdrawn_on",
}


@dataclass(frozen=True)
class Rule:
    code: str
    article: str
    summary: str
    years: int = 0
    months: int = 0
    days: int = 0


@dataclass(frozen=True)
class RuleSet:
    version: str
    source: str
    min_age: Rule
    talk_within: Rule
    review_every: Rule
    candidate_after: Rule
    notice_working_days: Rule
    probation: Rule

    def all(self) -> tuple[Rule, ...]:
        return (self.min_age, self.talk_within, self.review_every, self.candidate_after,
                self.notice_working_days, self.probation)


RULES_2014 = RuleSet(
    version="2014",
    source="《中国共产党发展党员工作细则》（2014）、《中国共产党章程》",
    min_age=Rule("min_age", "《细则》第五条", "年满十八岁方可申请入党", years=18),
    talk_within=Rule("talk", "《细则》第七条", "收到入党申请书后一个月内派人谈话", months=1),
    review_every=Rule("review", "《细则》第十一条", "党支部每半年对入党积极分子进行一次考察", months=6),
    candidate_after=Rule("candidate", "《细则》第十三条", "经过一年以上培养教育和考察，可列为发展对象", years=1),
    notice_working_days=Rule("notice", "各地实施办法", "列为发展对象前公示，不少于五个工作日", days=5),
    probation=Rule("probation", "《党章》第七条", "预备党员的预备期为一年", years=1),
)
CURRENT = RULES_2014


def add_period(start: date, rule: Rule) -> date:
    """`start` plus the rule's years and months (the last day of a shorter month when the day
    does not exist: one month after 01-31 is 02-28) and days."""
    month_index = start.month - 1 + rule.months + 12 * rule.years
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) + timedelta(days=rule.days)


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def working_days(start: date, end: date) -> int:
    """Mondays to Fridays from `start` up to, not including, `end` (public holidays are not
    known here; officers count them themselves)."""
    count, day = 0, start
    while day < end:
        count += day.weekday() < 5
        day += timedelta(days=1)
    return count


@dataclass(frozen=True)
class Pipeline:
    """The dates of one person's development, as plain values."""

    stage: Stage
    birth_date: date
    applied_on: date
    talked_on: date | None = None
    activist_on: date | None = None
    notice_started_on: date | None = None
    candidate_on: date | None = None
    probation_on: date | None = None
    full_on: date | None = None
    withdrawn_on: date | None = None
    last_review_on: date | None = None

    def stage_date(self, stage: Stage) -> date | None:
        value: date | None = getattr(self, STAGE_DATE[stage])
        return value


@dataclass(frozen=True)
class Milestone:
    """What is due next for a person: `talk`, `review`, `candidate` (eligible from), `probation`."""

    code: str
    due: date
    rule: Rule
    overdue: bool = False
    days_left: int = 0
    values: dict[str, object] = field(default_factory=dict)


# What `milestones` can find due, by the code of its rule.
MILESTONE_CODES = ("talk", "review", "candidate", "probation")


def milestones(p: Pipeline, today: date, rules: RuleSet = CURRENT) -> list[Milestone]:
    """Everything due for the person at their current stage, soonest first."""
    due: list[tuple[str, date, Rule]] = []
    if p.stage == Stage.APPLICANT and p.talked_on is None:
        due.append(("talk", add_period(p.applied_on, rules.talk_within), rules.talk_within))
    if p.stage == Stage.ACTIVIST and p.activist_on is not None:
        since = max(p.activist_on, p.last_review_on or p.activist_on)
        due.append(("review", add_period(since, rules.review_every), rules.review_every))
        due.append(("candidate", add_period(p.activist_on, rules.candidate_after), rules.candidate_after))
    if p.stage == Stage.PROBATIONARY and p.probation_on is not None:
        due.append(("probation", add_period(p.probation_on, rules.probation), rules.probation))
    # Eligibility is a date from which something may happen, not a deadline: never 'overdue'.
    found = [
        Milestone(code, when, rule, overdue=code != "candidate" and when < today, days_left=(when - today).days)
        for code, when, rule in due
    ]
    return sorted(found, key=lambda m: m.due)


def next_milestone(p: Pipeline, today: date, rules: RuleSet = CURRENT) -> Milestone | None:
    found = milestones(p, today, rules)
    return found[0] if found else None


@dataclass(frozen=True)
class Problem:
    """A rule a set of dates breaks: the answer to ask again and why, for the message."""

    answer: str
    code: str
    values: dict[str, object] = field(default_factory=dict)


def check_dates(p: Pipeline, rules: RuleSet = CURRENT) -> Problem | None:
    """The first rule the person's dates break, in the order a form asks them, or None.

    applied ≤ talked; applied ≤ activist ≤ candidate ≤ probationary ≤ full; 18 or older on the
    application date; development object only after a year as activist and after five working
    days of public notice; full member only after a year of probation.
    """
    min_age = rules.min_age.years
    if age_on(p.birth_date, p.applied_on) < min_age:
        return Problem("applied_on", "under_age", {"age": min_age, "article": rules.min_age.article})
    if p.talked_on is not None and p.talked_on < p.applied_on:
        return Problem("talked_on", "before_previous", {"previous": "applied_on", "date": p.applied_on})
    previous_field, previous = "applied_on", p.applied_on
    for stage in ORDER[1:]:
        name = STAGE_DATE[stage]
        value = p.stage_date(stage)
        if value is None:
            continue
        if value < previous:
            return Problem(name, "before_previous", {"previous": previous_field, "date": previous})
        if stage == Stage.CANDIDATE and p.activist_on is not None:
            earliest = add_period(p.activist_on, rules.candidate_after)
            if value < earliest:
                return Problem(name, "candidate_too_early",
                               {"earliest": earliest, "article": rules.candidate_after.article})
            if p.notice_started_on is not None:
                if p.notice_started_on < p.activist_on or p.notice_started_on > value:
                    return Problem("notice_started_on", "notice_outside", {"activist_on": p.activist_on, "date": value})
                if working_days(p.notice_started_on, value) < rules.notice_working_days.days:
                    return Problem("notice_started_on", "notice_too_short",
                                   {"days": rules.notice_working_days.days, "article": rules.notice_working_days.article})
        if stage == Stage.FULL and p.probation_on is not None:
            earliest = add_period(p.probation_on, rules.probation)
            if value < earliest:
                return Problem(name, "probation_not_over", {"earliest": earliest, "article": rules.probation.article})
        previous_field, previous = name, value
    if p.withdrawn_on is not None and p.withdrawn_on < p.applied_on:
        return Problem("withdrawn_on", "before_previous", {"previous": "applied_on", "date": p.applied_on})
    return None
