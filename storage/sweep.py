"""The reminder sweep: one periodic pass over the database that queues what is due.

Each kind of reminder is one `ReminderKind` declaration (`KINDS`, at the end of the part
"what is due"): its key, what is due in SQL, what it is about when it is sent, and its act-now
button; its text is `templates/<locale>/reminders/<name>.html.j2` (`output.reminders`). Four
kinds, each for an active officer bound to Telegram, who has not blocked the bot and is not away:

- `overdue_visit` — an enterprise assigned to the officer and not visited within its cadence;
  reminded once per ISO week (`overdue_visit:enterprise:42:officer:7:2026-W47`);
- `feedback` — owner feedback open longer than `rules.FEEDBACK_REMIND_DAYS`, for the officers
  assigned to its enterprise and the officer who recorded it; once per ISO week
  (`feedback:9:officer:7:2026-W47`);
- `milestone` — a member-development milestone (`development.milestones`) of a person the
  officer follows, from `MILESTONE_LEAD_DAYS` before it is due; once per due date
  (`milestone:person:12:review:2027-03-01`);
- `draft` — a form left untouched for a day; once per the date it was last touched
  (`draft:5:2026-11-24`).

A dedupe key is the reminder's *subject* (the key without its period) and its *period*. The
outbox's unique key makes a repeated sweep queue nothing twice. An officer's snooze
(`ReminderSnooze`) holds a subject back until a moment (明天提醒) or for a period (本期不再提醒);
when a "remind me tomorrow" made in this period has run out, the subject is reminded once more
under the key with the snooze's date appended (`…:2026-W47:2026-11-26`).

A reminder row carries only its key, kind, officer and chat: no text, no buttons (`text` is
NULL). The sender has `output.reminders` compose them when it sends the row, from the subject's
values then (`reasons`) — the key names the subject — so what the officer reads is current, and
a reminder whose reason has gone meanwhile is not sent at all. Storage renders no templates.

So queueing is set-based: each of the first three kinds is one query that builds the key in
SQL, and the reminders of subjects nobody snoozed go in with one `INSERT … SELECT` per kind that
leaves out keys already queued (an index probe of `outbox.dedupe_key` per candidate) and ignores
a key another sweep queued meanwhile (ON CONFLICT DO NOTHING). No row of theirs passes through
Python. What Python decides is small: subjects an officer snoozed (`_key_now`), and drafts,
whose period is the local date they were last touched (SQLite knows no time zones).

The sweep reads first and writes last, and writes only what there is to write: a read-only
probe per kind (does its SELECT give a row at all?) decides whether its `INSERT … SELECT` runs.
On SQLite a sweep that finds everything queued so never takes the database's single write lock,
and one that does holds it for its inserts alone (the caller commits at once).

A sweep queues at most `ROWS_PER_SWEEP` rows: what the sender can send before the next sweep
(Telegram's 30 messages a second for the 15 minutes between two). More would only wait in the
outbox, while the sweep's transaction — on SQLite the database's one write lock, which every
officer's next step waits for — grew with them. The rest is queued by the next sweeps, before
the sender could have reached it: a new week's 100,000 reminders go in four sweeps, within the
hour after midnight, long before quiet hours end. Development milestones go first, then owners'
open requests, then overdue visits, so what has a deadline is never behind a week's routine.

On PostgreSQL the sweep's statements are planned for the data they meet (`plan_cache_mode =
force_custom_plan` for its transaction): the outbox may go from empty to 100,000 rows within
one connection's life, and a plan cached while it was small (a sequential scan probing a list
of keys) then costs minutes instead of milliseconds. And they are not JIT-compiled (`jit =
off`): the planner's estimate of a 60,000-row INSERT … SELECT passes the JIT threshold, and
compiling took longer than the gain.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Protocol
from typing import cast as typing_cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Date,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from storage import audit, development
from storage.development import Rule
from storage.enums import Role, Stage
from storage.feedback import OPEN_STATUSES
from storage.models import (
    Assignment,
    Draft,
    Enterprise,
    Feedback,
    OutboxMessage,
    Person,
    ReminderSnooze,
    ReviewNote,
    User,
    Visit,
)
from storage.rules import FEEDBACK_REMIND_DAYS

logger = logging.getLogger(__name__)

# Rows one sweep queues at most: what the sender can send before the next sweep, at Telegram's
# 30 messages a second (bot.sender.GLOBAL_PER_SECOND) for bot.scheduler.SWEEP_MINUTES (15).
ROWS_PER_SWEEP = 30 * 15 * 60
# A milestone is reminded from a week before its date: time to arrange the talk or the review.
MILESTONE_LEAD_DAYS = 7
# A draft untouched this long is offered back.
DRAFT_IDLE = timedelta(days=1)
# 明天提醒 means tomorrow morning, not 24 hours later (that may fall in the night).
LATER_AT = time(9, 0)
MAX_AWAY_DAYS = 90
# Keys already queued are looked up this many at a time (bound parameters have limits).
CHUNK = 500


@dataclass(frozen=True)
class SweepReport:
    queued: dict[str, int]  # new outbox rows per kind
    # Reminders due per kind and not queued before this sweep: those it queued and those a
    # snooze held back. Zero for every kind when the sweep found everything queued already.
    due: dict[str, int]
    # The sweep stopped at its row limit: more may be due, for the next sweep.
    limited: bool = False

    @property
    def total(self) -> int:
        return sum(self.queued.values())


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def later_until(now: datetime, tz: ZoneInfo) -> datetime:
    """Tomorrow at 09:00 local time."""
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, LATER_AT, tzinfo=tz)


def _officers(today: date) -> Any:
    """Who gets reminders today: active officers bound to Telegram, reachable, not away."""
    return (
        select(User.id, User.chat_id)
        .where(User.role == Role.OFFICER.value, User.active.is_(True), User.chat_id.is_not(None),
               User.blocked_bot.is_(False), or_(User.away_until.is_(None), User.away_until < today))
        .subquery()
    )


def _days_before(session: AsyncSession, today: date, days: Any) -> ColumnElement[Any]:
    """`today - days` as an SQL date, on either backend (SQLite keeps dates as ISO text)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(literal(today.isoformat()), func.printf("-%d days", days))
    return literal(today, Date) - days


def _string(value: Any) -> ColumnElement[str]:
    return cast(value, String)


# ---------------------------------------------------------------- the kinds of reminder

WEEK, DUE, TOUCHED = "week", "due", "touched"
_PERIOD = r"\d{4}-W\d{2}|\d{4}-\d{2}-\d{2}"


class Subject(Protocol):
    """Builds a kind's subject in SQL from the columns of its fields (`ReminderKind.subject`)."""

    def __call__(self, **fields: Any) -> ColumnElement[str]: ...


@dataclass(frozen=True)
class ReminderKind:
    """One kind of reminder, all of it in one declaration (`REMINDER_KINDS`).

    - `name`: the outbox kind, the first word of its keys, and its text's template
      (`templates/<locale>/reminders/<name>.html.j2`, given `values` below).
    - `subject`: what it reminds of, as its key names it: a format of the subject's fields
      (`{enterprise_id}`: digits, any field ending in `_id`; `{code}`: a lower-case word). The
      key is `<subject>:<period>`, where the period is
      `WEEK` — the ISO week (once a week, while it lasts),
      `DUE` — the date in the due query's `period` column (once per due date, from `lead` before it),
      `TOUCHED` — the local date of the due query's `touched` moment (once `lead` has passed since).
    - `due(session, now, today, subject)`: what is due, in SQL: `subject` (built with the given
      builder from the fields' columns), `period` (or `touched`), `user_id` and `chat_id`.
    - `reasons(session, subjects, today, tz)`: for the rows being sent ({outbox id: the key's
      fields}), the values their text shows, for those whose reason holds still; a row left
      out has lost its reason and is not sent.
    - `act(values)`: the act-now button: its label (in `reminders/labels.txt.j2`) and the
      callback data of the handler that acts on it (tests/unit/test_reminder_kinds.py checks
      that one answers it).
    """

    name: str
    subject: str
    period: str
    due: Callable[[AsyncSession, datetime, date, Subject], Any]
    reasons: Callable[[AsyncSession, dict[int, dict[str, Any]], date, ZoneInfo], Awaitable[dict[int, dict[str, Any]]]]
    act: Callable[[dict[str, Any]], tuple[str, str]]
    lead: timedelta = timedelta(0)

    @cached_property
    def _fields(self) -> list[tuple[str, str]]:
        """(literal text before the field, field name) pairs, the last with an empty name."""
        parts = re.split(r"\{(\w+)\}", self.subject)
        return [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]

    @cached_property
    def key_pattern(self) -> re.Pattern[str]:
        subject = "".join(re.escape(text) + (f"(?P<{name}>\\d+)" if name.endswith("_id") else
                                             f"(?P<{name}>[a-z_]+)" if name else "")
                          for text, name in self._fields)
        return re.compile(f"(?P<subject>{subject}):(?P<period>{_PERIOD})(?::(?P<again>\\d{{4}}-\\d{{2}}-\\d{{2}}))?")

    def subject_sql(self, **fields: Any) -> ColumnElement[str]:
        """The subject as an SQL string, from the fields' columns (a plain str is literal text)."""
        pieces: list[Any] = []
        for text_before, name in self._fields:
            value = fields[name] if name else ""
            if isinstance(value, str):
                pieces.append(text_before + value)
            else:
                pieces.extend([text_before, _string(value)] if text_before else [_string(value)])
        expression: ColumnElement[str] | None = None
        for piece in (p for p in pieces if not (isinstance(p, str) and not p)):
            part = literal(piece) if isinstance(piece, str) else piece
            expression = part if expression is None else expression + part
        assert expression is not None
        return expression

    def key_of(self, **fields: Any) -> str:
        return self.subject.format(**fields)

    def parse(self, key: str) -> dict[str, Any] | None:
        """The key's subject, period and fields (ids as int), or None when it is not this kind's."""
        match = self.key_pattern.fullmatch(key)
        if match is None:
            return None
        found: dict[str, Any] = {"kind": self.name, "subject": match["subject"], "period": match["period"]}
        for _text, name in self._fields:
            if name:
                found[name] = int(match[name]) if name.endswith("_id") else match[name]
        return found

    def opened(self, period: str, today: date, tz: ZoneInfo, touched: datetime | None = None) -> datetime:
        """When the reminder's period began for its subject: a 明天提醒 made since re-reminds."""
        if self.period == DUE:
            return _local_midnight(date.fromisoformat(period) - self.lead, tz)
        if self.period == TOUCHED:
            assert touched is not None
            return touched + self.lead
        return _local_midnight(today - timedelta(days=today.weekday()), tz)


# ---------------------------------------------------------------- each kind: what is due, in SQL, and why when sent


def _weekly(today: date) -> ColumnElement[str]:
    return literal(iso_week(today))


def overdue_visits(session: AsyncSession, now: datetime, today: date, subject: Subject) -> Select[Any]:
    officer = _officers(today)
    # No visit within the cadence: one probe of the (enterprise_id, visit_date) index per
    # assignment, however many years of visits the table holds.
    visited = exists().where(Visit.enterprise_id == Enterprise.id,
                             Visit.visit_date >= _days_before(session, today, Enterprise.visit_cadence_days))
    return (
        select(subject(enterprise_id=Enterprise.id, officer_id=officer.c.id).label("subject"),
               _weekly(today).label("period"), officer.c.id.label("user_id"), officer.c.chat_id.label("chat_id"))
        .select_from(Assignment)
        .join(officer, officer.c.id == Assignment.officer_id)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(Assignment.ended_on.is_(None), ~visited)
    )


async def overdue_visit_reasons(session: AsyncSession, subjects: dict[int, dict[str, Any]], today: date,
                                tz: ZoneInfo) -> dict[int, dict[str, Any]]:
    """Still assigned to the officer and still not visited within its cadence."""
    enterprises = {s["enterprise_id"] for s in subjects.values()}
    last_visit = select(func.max(Visit.visit_date)).where(Visit.enterprise_id == Enterprise.id).scalar_subquery()
    firms = {eid: (name, cadence, last) for eid, name, cadence, last in (await session.execute(
        select(Enterprise.id, Enterprise.name, Enterprise.visit_cadence_days, last_visit)
        .where(Enterprise.id.in_(enterprises)))).tuples()}
    assigned = set((await session.execute(
        select(Assignment.enterprise_id, Assignment.officer_id)
        .where(Assignment.enterprise_id.in_(enterprises), Assignment.ended_on.is_(None)))).tuples())
    found: dict[int, dict[str, Any]] = {}
    for row_id, s in subjects.items():
        eid = s["enterprise_id"]
        if eid not in firms or (eid, s["officer_id"]) not in assigned:
            continue
        name, cadence, last = firms[eid]
        if last is None or last < today - timedelta(days=cadence):
            found[row_id] = {**s, "enterprise": name, "cadence": cadence, "days": (today - last).days if last else None}
    return found


def open_feedback(session: AsyncSession, now: datetime, today: date, subject: Subject) -> Any:
    """The officers assigned to the item's enterprise and the one who recorded it (UNION: once
    each)."""
    officer = _officers(today)
    old_open = (Feedback.status.in_(OPEN_STATUSES), Feedback.created_at < now - timedelta(days=FEEDBACK_REMIND_DAYS))
    columns = (subject(feedback_id=Feedback.id, officer_id=officer.c.id).label("subject"),
               _weekly(today).label("period"), officer.c.id.label("user_id"), officer.c.chat_id.label("chat_id"))
    assigned = (
        select(*columns).select_from(Feedback)
        .join(Assignment, (Assignment.enterprise_id == Feedback.enterprise_id) & Assignment.ended_on.is_(None))
        .join(officer, officer.c.id == Assignment.officer_id)
        .where(*old_open)
    )
    recorder = select(*columns).select_from(Feedback).join(officer, officer.c.id == Feedback.officer_id).where(*old_open)
    return union(assigned, recorder)


async def feedback_reasons(session: AsyncSession, subjects: dict[int, dict[str, Any]], today: date,
                           tz: ZoneInfo) -> dict[int, dict[str, Any]]:
    """Still open."""
    feedback = {fid: (created, category, status, name) for fid, created, category, status, name in (
        await session.execute(
            select(Feedback.id, Feedback.created_at, Feedback.category, Feedback.status, Enterprise.name)
            .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
            .where(Feedback.id.in_({s["feedback_id"] for s in subjects.values()})))).tuples()}
    found: dict[int, dict[str, Any]] = {}
    for row_id, s in subjects.items():
        if s["feedback_id"] in feedback and feedback[s["feedback_id"]][2] in OPEN_STATUSES:
            created, category, _status, name = feedback[s["feedback_id"]]
            found[row_id] = {**s, "enterprise": name, "category": category,
                             "days": (today - created.astimezone(tz).date()).days}
    return found


def _min_days(rule: Rule) -> int:
    """Fewest days `development.add_period` can add for the rule: a year is at least 365 days,
    a month at least 28, and the day of a month may be cut by up to 3 (01-31 + 1 month = 02-28)."""
    return 365 * rule.years + 28 * rule.months + rule.days - (3 if rule.years or rule.months else 0)


def _add_period(session: AsyncSession, start: Any, rule: Rule) -> ColumnElement[Any]:
    """`development.add_period(start, rule)` in SQL: the years and months, the day cut to the
    month's last (01-31 + 1 month = 02-28), then the days. PostgreSQL's date arithmetic cuts the
    day itself; SQLite's rolls over (02-31 → 03-03), so the month's last day bounds it."""
    months = 12 * rule.years + rule.months
    if session.get_bind().dialect.name == "postgresql":
        shifted = cast(start + cast(literal(f"{months} months"), postgresql.INTERVAL), Date) if months else start
        return cast(shifted + literal(rule.days), Date) if rule.days else shifted
    shifted = func.min(func.date(start, f"+{months} months"),
                       func.date(start, "start of month", f"+{months + 1} months", "-1 day")) if months else start
    return func.date(shifted, f"+{rule.days} days")


def _iso(session: AsyncSession, day: ColumnElement[Any]) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(day, "YYYY-MM-DD")
    return cast(day, String)  # SQLite: already ISO text


def milestones(session: AsyncSession, now: datetime, today: date, subject: Subject,
               rules: development.RuleSet = development.CURRENT) -> Any:
    """`development.milestones` in SQL: one branch per milestone, its due date computed with
    `_add_period`, reminded from `MILESTONE_LEAD_DAYS` before. Keep the two in step: a milestone
    added there and not here would never be reminded (tests/storage/test_sweep.py checks each
    kind at its first day and month ends; the reasons check the date against Python's before
    sending)."""
    officer = _officers(today)
    horizon = today + timedelta(days=MILESTONE_LEAD_DAYS)
    reviewed = (select(ReviewNote.person_id, func.max(ReviewNote.written_on).label("last_review"))
                .group_by(ReviewNote.person_id).subquery())

    def branch(code: str, stage: Stage, start: Any, rule: Rule, *when: ColumnElement[bool],
               review: bool = False) -> Select[Any]:
        due = _add_period(session, start, rule)
        query = (select(subject(person_id=Person.id, code=code).label("subject"), _iso(session, due).label("period"),
                        officer.c.id.label("user_id"), officer.c.chat_id.label("chat_id"))
                 .select_from(Person).join(officer, officer.c.id == Person.officer_id))
        if review:
            query = query.outerjoin(reviewed, reviewed.c.person_id == Person.id)
        # The bound on the stored date first (no date arithmetic for most people), then the date.
        return query.where(Person.stage == stage.value, *when, start <= horizon - timedelta(days=_min_days(rule)),
                           due <= horizon)

    since = case((reviewed.c.last_review > Person.activist_on, reviewed.c.last_review), else_=Person.activist_on)
    return union_all(
        branch("talk", Stage.APPLICANT, Person.applied_on, rules.talk_within, Person.talked_on.is_(None)),
        branch("review", Stage.ACTIVIST, since, rules.review_every, Person.activist_on.is_not(None), review=True),
        branch("candidate", Stage.ACTIVIST, Person.activist_on, rules.candidate_after,
               Person.activist_on.is_not(None)),
        branch("probation", Stage.PROBATIONARY, Person.probation_on, rules.probation,
               Person.probation_on.is_not(None)),
    )


async def milestone_reasons(session: AsyncSession, subjects: dict[int, dict[str, Any]], today: date,
                            tz: ZoneInfo) -> dict[int, dict[str, Any]]:
    """The same milestone is still due on the same date (`development.milestones`)."""
    reviewed = select(func.max(ReviewNote.written_on)).where(ReviewNote.person_id == Person.id).scalar_subquery()
    people = {row[0]: row for row in (await session.execute(
        select(Person.id, Person.name, Person.stage, Enterprise.name, Person.birth_date, Person.applied_on,
               Person.talked_on, Person.activist_on, Person.notice_started_on, Person.candidate_on,
               Person.probation_on, Person.full_on, Person.withdrawn_on, reviewed)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .where(Person.id.in_({s["person_id"] for s in subjects.values()})))).tuples()}
    found: dict[int, dict[str, Any]] = {}
    for row_id, s in subjects.items():
        if s["person_id"] not in people:
            continue
        (_pid, name, stage, firm, birth, applied, talked, activist, notice, candidate, probation, full,
         withdrawn, last_review) = people[s["person_id"]]
        pipeline = development.Pipeline(Stage(stage), birth, applied, talked, activist, notice, candidate,
                                        probation, full, withdrawn, last_review)
        for milestone in development.milestones(pipeline, today):
            if milestone.code == s["code"] and milestone.due.isoformat() == s["period"]:
                found[row_id] = {**s, "name": name, "stage": stage, "enterprise": firm, "due": milestone.due,
                                 "overdue": milestone.overdue}
    return found


def idle_drafts(session: AsyncSession, now: datetime, today: date, subject: Subject) -> Select[Any]:
    """Drafts untouched for `DRAFT_IDLE`; the period is the local date they were last touched,
    found in Python (SQLite knows no time zones)."""
    officer = _officers(today)
    return (select(subject(draft_id=Draft.id).label("subject"), Draft.updated_at.label("touched"),
                   officer.c.id.label("user_id"), officer.c.chat_id.label("chat_id"))
            .join(officer, officer.c.id == Draft.user_id).where(Draft.updated_at < now - DRAFT_IDLE))


async def draft_reasons(session: AsyncSession, subjects: dict[int, dict[str, Any]], today: date,
                        tz: ZoneInfo) -> dict[int, dict[str, Any]]:
    """Still open and not touched since."""
    forms = {did: (form, answers, updated) for did, form, answers, updated in (await session.execute(
        select(Draft.id, Draft.form, Draft.answers, Draft.updated_at)
        .where(Draft.id.in_({s["draft_id"] for s in subjects.values()})))).tuples()}
    firms_of = {a["enterprise"] for _f, a, _u in forms.values() if isinstance(a.get("enterprise"), int)}
    names = dict((await session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(firms_of))))
                 .tuples().all()) if firms_of else {}
    found: dict[int, dict[str, Any]] = {}
    for row_id, s in subjects.items():
        if s["draft_id"] not in forms:
            continue
        form, answers, updated = forms[s["draft_id"]]
        day = updated.astimezone(tz).date()
        if day.isoformat() == s["period"]:
            found[row_id] = {**s, "form": form, "enterprise": names.get(answers.get("enterprise")), "day": day}
    return found


# What a milestone's act-now button opens: the talk record, the review note, else the card.
_MILESTONE_ACTS = {"talk": ("act_talk", "people:talk:{person_id}"), "review": ("act_review", "people:review:{person_id}")}


def _milestone_act(values: dict[str, Any]) -> tuple[str, str]:
    name, data = _MILESTONE_ACTS.get(values["code"], ("act_person", "people:show:{person_id}"))
    return name, data.format(**values)


# In the order they are queued when a sweep's limit cuts: deadlines first, the week's routine
# last (drafts, decided in Python, go in before any of them).
REMINDER_KINDS = (
    ReminderKind("milestone", "milestone:person:{person_id}:{code}", DUE, milestones, milestone_reasons,
                 _milestone_act, lead=timedelta(days=MILESTONE_LEAD_DAYS)),
    ReminderKind("feedback", "feedback:{feedback_id}:officer:{officer_id}", WEEK, open_feedback, feedback_reasons,
                 lambda v: ("act_feedback", f"fb:show:{v['feedback_id']}")),
    ReminderKind("overdue_visit", "overdue_visit:enterprise:{enterprise_id}:officer:{officer_id}", WEEK,
                 overdue_visits, overdue_visit_reasons, lambda v: ("act_visit", f"visit:start:{v['enterprise_id']}")),
    ReminderKind("draft", "draft:{draft_id}", TOUCHED, idle_drafts, draft_reasons,
                 lambda v: ("act_draft", f"draft:resume:{v['draft_id']}"), lead=DRAFT_IDLE),
)
KINDS = tuple(kind.name for kind in REMINDER_KINDS)
_BY_NAME = {kind.name: kind for kind in REMINDER_KINDS}


def parse_subject(key: str) -> dict[str, Any] | None:
    """The kind, subject, period and fields a reminder's key names: `{"kind": "overdue_visit",
    "enterprise_id": 42, "officer_id": 7, "period": "2026-W47", ...}`; None for another row."""
    kind = _BY_NAME.get(key.split(":", 1)[0])
    return kind.parse(key) if kind is not None else None


def parse_key(key: str) -> tuple[str, str] | None:
    """(subject, period) of a reminder's dedupe key; None for any other outbox row."""
    found = parse_subject(key)
    return (found["subject"], found["period"]) if found else None


def _key_now(key: str, subject: str, period: str, opened: datetime, snooze: Any, now: datetime,
             tz: ZoneInfo) -> str | None:
    """The key to queue the reminder under now, or None while a snooze holds it."""
    if snooze is None:
        return key
    if snooze.skip_period == period or (snooze.until is not None and snooze.until > now):
        return None
    if snooze.until is not None and snooze.created_at >= opened:
        return f"{subject}:{period}:{snooze.until.astimezone(tz).date().isoformat()}"
    return key


# ---------------------------------------------------------------- queueing

OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
_COLUMNS = ("dedupe_key", "user_id", "chat_id", "kind", "text", "buttons", "attachments", "not_before", "status",
            "attempts", "created_at")


def _insert(session: AsyncSession) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(OUTBOX)


def _fixed(kind: Any, now: datetime) -> list[ColumnElement[Any]]:
    """The values every reminder row starts with, after its key, officer and chat."""
    return [kind, null(), literal([], OUTBOX.c.buttons.type), literal([], OUTBOX.c.attachments.type),
            literal(now, OUTBOX.c.not_before.type), literal("pending"), literal(0), literal(now, OUTBOX.c.created_at.type)]


def _holding(kind: ReminderKind, today: date, tz: ZoneInfo) -> ColumnElement[bool]:
    """The snoozes that may change what the kind queues today (`_key_now`): a snooze of this
    week, or one running past the week's start, for the weekly kinds; any, for dated kinds (each
    subject has its own period). Other snoozes change nothing: their subjects go the set-based way."""
    of_kind = ReminderSnooze.subject.startswith(f"{kind.name}:")
    if kind.period != WEEK:
        return of_kind
    return and_(of_kind, or_(ReminderSnooze.skip_period == iso_week(today),
                             ReminderSnooze.until > kind.opened(iso_week(today), today, tz)))


def _unqueued(kind: str, candidates: Any, holding: ColumnElement[bool], now: datetime) -> Any:
    """The outbox rows of the kind's reminders not queued yet, of subjects no snooze of their
    officer holds: a SELECT for `INSERT … SELECT`."""
    c = candidates.subquery(f"due_{kind}")
    key = c.c.subject + literal(":") + c.c.period
    return select(key, c.c.user_id, c.c.chat_id, *_fixed(literal(kind), now)).where(
        ~exists().where(OutboxMessage.dedupe_key == key),
        ~exists().where(ReminderSnooze.user_id == c.c.user_id, ReminderSnooze.subject == c.c.subject, holding))


async def _any(session: AsyncSession, rows: Any) -> bool:
    """The read-only probe: does the SELECT give a row at all (it stops at the first)?"""
    return await session.scalar(select(literal(1)).select_from(rows.limit(1).subquery())) is not None


async def _queue_unsnoozed(session: AsyncSession, kind: str, rows: Any) -> int:
    """INSERT … SELECT of `_unqueued`'s rows, ignoring a key queued meanwhile; the rows inserted."""
    statement = _insert(session).from_select(list(_COLUMNS), rows).on_conflict_do_nothing()
    if session.get_bind().dialect.name == "postgresql":
        # psycopg gives no rowcount for it: counted from RETURNING, in the server.
        inserted = statement.returning(OUTBOX.c.id).cte(f"inserted_{kind}")
        return int(await session.scalar(select(func.count()).select_from(inserted)) or 0)
    result = typing_cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


async def _snoozed(session: AsyncSession, kind: str, candidates: Any, holding: ColumnElement[bool]) -> list[Any]:
    """The kind's due reminders whose subject a snooze of the officer may hold (few): Python
    decides. Not even looked for when no such snooze exists."""
    if not await session.scalar(select(exists().where(holding))):
        return []
    c = candidates.subquery(f"snoozed_{kind}")
    return list((await session.execute(
        select(c.c.subject, c.c.period, c.c.user_id, c.c.chat_id, ReminderSnooze)
        .join(ReminderSnooze, and_(ReminderSnooze.user_id == c.c.user_id, ReminderSnooze.subject == c.c.subject,
                                   holding))
    )).tuples())


async def _touched(session: AsyncSession, kind: ReminderKind, candidates: Any,
                   tz: ZoneInfo) -> list[tuple[str, str, int, int, datetime]]:
    """(subject, period, user_id, chat_id, opened) of a `TOUCHED` kind's due subjects: the
    period is the local date of the moment, found here in Python."""
    return [(subject, touched.astimezone(tz).date().isoformat(), user_id, chat_id, touched + kind.lead)
            for subject, touched, user_id, chat_id in (await session.execute(candidates)).tuples()]


async def _snoozes(session: AsyncSession, user_ids: set[int]) -> dict[tuple[int, str], ReminderSnooze]:
    if not user_ids:
        return {}
    found: dict[tuple[int, str], ReminderSnooze] = {}
    ids = sorted(user_ids)
    for i in range(0, len(ids), CHUNK):
        for row in await session.scalars(select(ReminderSnooze).where(ReminderSnooze.user_id.in_(ids[i : i + CHUNK]))):
            found[(row.user_id, row.subject)] = row
    return found


async def _existing(session: AsyncSession, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        found |= set(await session.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys[i : i + CHUNK]))))
    return found


async def _fresh(session: AsyncSession, rows: dict[str, tuple[str, int, int]], now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of the reminders Python decided, {key: (kind, user_id, chat_id)}, whose
    keys are not queued yet."""
    existing = await _existing(session, list(rows))
    return [{"dedupe_key": key, "user_id": user_id, "chat_id": chat_id, "kind": kind, "text": None, "buttons": [],
             "attachments": [], "not_before": now, "status": "pending", "attempts": 0, "created_at": now}
            for key, (kind, user_id, chat_id) in rows.items() if key not in existing]


async def _queue_rows(session: AsyncSession, values: list[dict[str, Any]], now: datetime) -> Counter[str]:
    """Insert-or-ignore of `_fresh`'s rows; the rows inserted per kind. On PostgreSQL one
    statement of four arrays (`unnest`): as a multi-row VALUES of eleven parameters a row,
    PostgreSQL took 0.15 s per thousand rows to parse and plan it."""
    if not values:
        return Counter()
    if session.get_bind().dialect.name == "postgresql":
        def unnest(name: str, kind: Any) -> ColumnElement[Any]:
            return func.unnest(literal([row[name] for row in values], postgresql.ARRAY(kind)))

        rows = select(unnest("dedupe_key", String), unnest("user_id", Integer), unnest("chat_id", BigInteger),
                      *_fixed(unnest("kind", String), now))
        statement = _insert(session).from_select(list(_COLUMNS), rows).on_conflict_do_nothing()
        return Counter((await session.scalars(statement.returning(OUTBOX.c.kind))).all())
    statement = _insert(session).on_conflict_do_nothing().returning(OUTBOX.c.kind)
    return Counter((await session.scalars(statement, values)).all())


async def sweep(session: AsyncSession, *, now: datetime, tz: ZoneInfo, limit: int = ROWS_PER_SWEEP,
                kinds: Sequence[ReminderKind] = REMINDER_KINDS) -> SweepReport:
    """Queues the due reminders not queued before, at most `limit` rows (the next sweep goes on
    from there); returns the counts per kind. Never commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # Compiling the inserts' expressions (JIT) costs more than it saves on 100,000 rows.
        await session.execute(text("SET LOCAL jit = off"))
    today = now.astimezone(tz).date()
    queued: Counter[str] = Counter()
    held: Counter[str] = Counter()
    # Reads first, then the writes: on SQLite the write lock is held from the first insert on.
    inserts: list[tuple[str, Any]] = []
    decided: dict[str, tuple[str, int, int]] = {}  # key: (kind, user_id, chat_id)
    touched: list[tuple[ReminderKind, list[tuple[str, str, int, int, datetime]]]] = []
    for kind in kinds:
        candidates = kind.due(session, now, today, kind.subject_sql)
        if kind.period == TOUCHED:
            touched.append((kind, await _touched(session, kind, candidates, tz)))
            continue
        holding = _holding(kind, today, tz)
        if await _any(session, rows := _unqueued(kind.name, candidates, holding, now)):
            inserts.append((kind.name, rows))
        for subject, period, user_id, chat_id, snoozed in await _snoozed(session, kind.name, candidates, holding):
            key = _key_now(f"{subject}:{period}", subject, period, kind.opened(period, today, tz), snoozed, now, tz)
            if key is None:
                held[kind.name] += 1
            else:
                decided.setdefault(key, (kind.name, user_id, chat_id))
    snoozes = await _snoozes(session, {due[2] for _kind, dues in touched for due in dues})
    for kind, dues in touched:
        for subject, period, user_id, chat_id, opened in dues:
            key = _key_now(f"{subject}:{period}", subject, period, opened, snoozes.get((user_id, subject)), now, tz)
            if key is None:
                held[kind.name] += 1
            else:
                decided.setdefault(key, (kind.name, user_id, chat_id))
    fresh = await _fresh(session, decided, now)
    # Python's few rows first (drafts, subjects whose snooze ran out), then each kind's INSERT …
    # SELECT with what is left of the limit.
    limited = len(fresh) > limit
    queued += await _queue_rows(session, fresh[:limit], now)
    for name, rows in inserts:
        room = limit - sum(queued.values())
        if room <= 0:
            limited = True
            break
        queued[name] += (inserted := await _queue_unsnoozed(session, name, rows.limit(room)))
        limited = limited or inserted == room
    names = [kind.name for kind in kinds]
    report = SweepReport({name: queued[name] for name in names}, {name: queued[name] + held[name] for name in names},
                         limited)
    logger.info("Sweep queued %s%s", report.queued, " (its limit: the next sweep goes on)" if limited else "")
    return report


# ---------------------------------------------------------------- at send time


async def reasons(session: AsyncSession, rows: Sequence[OutboxMessage], *, now: datetime,
                  tz: ZoneInfo) -> dict[int, dict[str, Any] | None]:
    """What each reminder row is about now, by outbox id: the values its text shows (`kind`
    among them), read when it is sent; None when its reason has gone meanwhile (the enterprise
    visited or no longer the officer's, the feedback closed, the milestone met or moved, the
    draft finished or touched again), its officer is away or deactivated now, or the row is no
    reminder. One query per kind (its `reasons`)."""
    today = now.astimezone(tz).date()
    officers = {row.user_id for row in rows if row.user_id is not None}
    # Reminders wait for quiet hours and Telegram's pace: an officer may have gone on leave (or
    # been deactivated) since the sweep queued them, and gets none of them then.
    absent = set(await session.scalars(
        select(User.id).where(User.id.in_(officers),
                              or_(User.active.is_(False), and_(User.away_until.is_not(None),
                                                               User.away_until >= today))))) if officers else set()
    subjects = {row.id: None if row.user_id in absent else parse_subject(row.dedupe_key) for row in rows}
    found: dict[int, dict[str, Any] | None] = dict.fromkeys(subjects)
    for kind in REMINDER_KINDS:
        of_kind = {row_id: subject for row_id, subject in subjects.items() if subject and subject["kind"] == kind.name}
        if of_kind:
            found.update(await kind.reasons(session, of_kind, today, tz))
    return found


# ---------------------------------------------------------------- an officer's answers


async def reminder_row(session: AsyncSession, outbox_id: int, user_id: int) -> OutboxMessage | None:
    """The reminder row if it was sent to this user; None for another's or a forged id."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is None or row.user_id != user_id or parse_key(row.dedupe_key) is None:
        return None
    return row


async def snooze(session: AsyncSession, row: OutboxMessage, *, user_id: int, actor_label: str, now: datetime,
                 until: datetime | None = None, skip: bool = False) -> ReminderSnooze:
    """Holds the row's subject back until `until` (明天提醒) or for its period (本期不再提醒)."""
    parsed = parse_key(row.dedupe_key)
    if parsed is None:
        raise ValueError("not a reminder")
    subject, period = parsed
    existing = await session.scalar(select(ReminderSnooze).where(ReminderSnooze.user_id == user_id,
                                                                  ReminderSnooze.subject == subject))
    before = audit.snapshot(existing) if existing is not None else None
    item = existing or ReminderSnooze(user_id=user_id, subject=subject)
    item.until, item.skip_period, item.created_at = (None, period, now) if skip else (until, None, now)
    session.add(item)
    await session.flush()
    await audit.record(session, actor_id=user_id, actor_label=actor_label, action="snooze", entity="reminder_snooze",
                       entity_id=item.id, before=before, after=audit.snapshot(item))
    return item


def away_latest(today: date) -> date:
    return today + timedelta(days=MAX_AWAY_DAYS)


def away_problem(until: date, today: date) -> str | None:
    """Why an end of leave is refused (`away_past`, `away_too_far`), or None."""
    if until < today:
        return "away_past"
    if until > away_latest(today):
        return "away_too_far"
    return None


async def set_away(session: AsyncSession, user_id: int, until: date | None, *, actor_label: str,
                   now: datetime) -> bool:
    """Sets (or with None clears) the user's leave; True if the user was away before."""
    user = await session.get_one(User, user_id)
    before = audit.snapshot(user)
    was_away = user.away_until is not None
    user.away_until = until
    user.updated_at = now
    await session.flush()
    old, new = audit.changed(before, audit.snapshot(user))
    await audit.record(session, actor_id=user_id, actor_label=actor_label, action="away", entity="user",
                       entity_id=user_id, before=old, after=new)
    return was_away

