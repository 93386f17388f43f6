"""The reminder sweep: one periodic pass over the database that queues what is due.

Four kinds of reminder, each for an active officer bound to Telegram, who has not blocked the
bot and is not away:

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

Every kind is one set-based query (no query per item). Keys already in the outbox are filtered
out before anything is rendered: for the weekly kinds by the query itself (the key is built in
SQL and looked up in the outbox's unique index, so a sweep that finds everything queued already
brings no row into Python), for the others by one look-up of their keys. The new rows go in
with one insert-or-ignore, text and buttons included (their ids are taken beforehand, since the
buttons name the row). The text and buttons come from a `compose` callable given by the caller:
storage renders no templates.

On PostgreSQL the sweep's statements are planned for the data they meet (`plan_cache_mode =
force_custom_plan` for its transaction): the outbox may go from empty to 100,000 rows within
one connection's life, and a plan cached while it was small (a sequential scan probing a list
of keys) then costs minutes instead of milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from storage import audit, development
from storage.development import Pipeline, Rule
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

KINDS = ("overdue_visit", "feedback", "milestone", "draft")
# A milestone is reminded from a week before its date: time to arrange the talk or the review.
MILESTONE_LEAD_DAYS = 7
# A draft untouched this long is offered back.
DRAFT_IDLE = timedelta(days=1)
# 明天提醒 means tomorrow morning, not 24 hours later (that may fall in the night).
LATER_AT = time(9, 0)
MAX_AWAY_DAYS = 90
# Keys already queued are looked up this many at a time (bound parameters have limits).
CHUNK = 500
# Rows per INSERT on SQLite (12 bound parameters each; SQLite allows 32,766 per statement).
INSERT_CHUNK = 2000
# Reminders composed between two turns of the event loop: the sweep runs in the bot's process,
# and rendering a week's 100,000 reminders takes seconds that users' updates would wait.
COMPOSE_SLICE = 500
ACTOR = "sweep"

# subject, period, optional re-reminder date: how the handlers get the subject back from a row.
KEY = re.compile(
    r"(?P<subject>overdue_visit:enterprise:\d+:officer:\d+|feedback:\d+:officer:\d+"
    r"|milestone:person:\d+:[a-z]+|draft:\d+)"
    r":(?P<period>\d{4}-W\d{2}|\d{4}-\d{2}-\d{2})(?::(?P<again>\d{4}-\d{2}-\d{2}))?"
)


@dataclass(frozen=True)
class Reminder:
    """One due reminder, as plain values; `compose` turns it into text and buttons."""

    kind: str
    subject: str
    period: str
    user_id: int
    chat_id: int
    locale: str
    # When this period began for the subject: a 明天提醒 made since then re-reminds.
    opened: datetime
    values: dict[str, Any] = field(default_factory=dict)

    def key(self, again: date | None = None) -> str:
        return f"{self.subject}:{self.period}" + (f":{again.isoformat()}" if again else "")


# (text, rows of {"text", "callback_data"} buttons) for a reminder, given its outbox row id.
Compose = Callable[[Reminder, int], tuple[str, list[list[dict[str, str]]]]]


@dataclass(frozen=True)
class SweepReport:
    queued: dict[str, int]  # new outbox rows per kind
    # Reminders due per kind, less those the query already found queued (the weekly kinds),
    # before snoozes and the look-up of the other keys.
    due: dict[str, int]

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


def parse_key(key: str) -> tuple[str, str] | None:
    """(subject, period) of a reminder's dedupe key; None for any other outbox row."""
    match = KEY.fullmatch(key)
    return (match["subject"], match["period"]) if match else None


def _officers(today: date) -> Any:
    """Who gets reminders today: active officers bound to Telegram, reachable, not away."""
    return (
        select(User.id, User.chat_id, User.locale)
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


def _not_queued(subject: ColumnElement[str], period: str, user_id: Any) -> ColumnElement[bool]:
    """The reminder's plain key (`subject:period`) is not in the outbox yet — or a snooze of the
    officer's holds the subject, and Python decides (`_key_now`). Looked up in the unique index
    of `outbox.dedupe_key`."""
    queued = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == subject + literal(f":{period}")).exists()
    snoozed = select(ReminderSnooze.id).where(ReminderSnooze.user_id == user_id,
                                              ReminderSnooze.subject == subject).exists()
    return or_(~queued, snoozed)


async def _overdue_visits(session: AsyncSession, today: date, tz: ZoneInfo, locale: str,
                          unqueued: bool = False) -> list[Reminder]:
    officer = _officers(today)
    period, opened = iso_week(today), _local_midnight(today - timedelta(days=today.weekday()), tz)
    # The latest visit of each assigned enterprise from the (enterprise_id, visit_date) index:
    # one index probe per assignment, however many years of visits the table holds.
    last_visit = (select(func.max(Visit.visit_date)).where(Visit.enterprise_id == Enterprise.id)
                  .scalar_subquery())
    stmt = (
        select(officer.c.id, officer.c.chat_id, officer.c.locale, Enterprise.id, Enterprise.name,
               Enterprise.visit_cadence_days, last_visit.label("last_visit"))
        .select_from(Assignment)
        .join(officer, officer.c.id == Assignment.officer_id)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .where(Assignment.ended_on.is_(None),
               or_(last_visit.is_(None), last_visit < _days_before(session, today, Enterprise.visit_cadence_days)))
    )
    if unqueued:
        subject = (literal("overdue_visit:enterprise:") + _string(Enterprise.id) + literal(":officer:")
                   + _string(officer.c.id))
        stmt = stmt.where(_not_queued(subject, period, officer.c.id))
    return [
        Reminder("overdue_visit", f"overdue_visit:enterprise:{eid}:officer:{oid}", period, oid, chat, loc or locale,
                 opened, {"enterprise_id": eid, "enterprise": name, "cadence": cadence,
                          "days": (today - last_visit).days if last_visit else None})
        for oid, chat, loc, eid, name, cadence, last_visit in (await session.execute(stmt)).tuples()
    ]


async def _open_feedback(session: AsyncSession, now: datetime, today: date, tz: ZoneInfo,
                         locale: str, unqueued: bool = False) -> list[Reminder]:
    officer = _officers(today)
    period, opened = iso_week(today), _local_midnight(today - timedelta(days=today.weekday()), tz)
    columns = (officer.c.id, officer.c.chat_id, officer.c.locale, Feedback.id, Feedback.created_at,
               Feedback.category, Enterprise.name)
    old_open: tuple[ColumnElement[bool], ...] = (
        Feedback.status.in_(OPEN_STATUSES), Feedback.created_at < now - timedelta(days=FEEDBACK_REMIND_DAYS))
    if unqueued:
        subject = literal("feedback:") + _string(Feedback.id) + literal(":officer:") + _string(officer.c.id)
        old_open = (*old_open, _not_queued(subject, period, officer.c.id))
    assigned = (
        select(*columns).select_from(Feedback)
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .join(Assignment, (Assignment.enterprise_id == Feedback.enterprise_id) & Assignment.ended_on.is_(None))
        .join(officer, officer.c.id == Assignment.officer_id)
        .where(*old_open)
    )
    recorder = (
        select(*columns).select_from(Feedback)
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .join(officer, officer.c.id == Feedback.officer_id)
        .where(*old_open)
    )
    found: dict[tuple[int, int], Reminder] = {}
    for query in (assigned, recorder):
        for oid, chat, loc, fid, created, category, name in (await session.execute(query)).tuples():
            found[(fid, oid)] = Reminder(
                "feedback", f"feedback:{fid}:officer:{oid}", period, oid, chat, loc or locale, opened,
                {"feedback_id": fid, "enterprise": name, "category": category,
                 "days": (today - created.astimezone(tz).date()).days})
    return list(found.values())


def _min_days(rule: Rule) -> int:
    """Fewest days `development.add_period` can add for the rule: a year is at least 365 days,
    a month at least 28, and the day of a month may be cut by up to 3 (01-31 + 1 month = 02-28)."""
    return 365 * rule.years + 28 * rule.months + rule.days - (3 if rule.years or rule.months else 0)


def _may_have_milestone(today: date, last_review: Any, rules: development.RuleSet) -> ColumnElement[bool]:
    """In SQL, a superset of the people `development.milestones` gives a milestone due within
    `MILESTONE_LEAD_DAYS` today: it mirrors that function's stages and dates with the fewest
    days each rule can add (Python then decides exactly). Keep the two in step: a milestone
    added there and not here would never be reminded (tests/storage/test_sweep.py checks each
    kind at its first day)."""
    horizon = today + timedelta(days=MILESTONE_LEAD_DAYS)

    def by(rule: Rule) -> date:
        return horizon - timedelta(days=_min_days(rule))

    review = by(rules.review_every)
    return or_(
        and_(Person.stage == Stage.APPLICANT.value, Person.talked_on.is_(None),
             Person.applied_on <= by(rules.talk_within)),
        and_(Person.stage == Stage.ACTIVIST.value, Person.activist_on.is_not(None),
             or_(and_(Person.activist_on <= review, or_(last_review.is_(None), last_review <= review)),
                 Person.activist_on <= by(rules.candidate_after))),
        and_(Person.stage == Stage.PROBATIONARY.value, Person.probation_on.is_not(None),
             Person.probation_on <= by(rules.probation)),
    )


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


def _milestones_queued(session: AsyncSession, today: date, last_review: Any,
                       rules: development.RuleSet) -> ColumnElement[bool]:
    """Every milestone of the person that may be due within the lead time has its reminder
    queued (and no snooze of the officer holds it): nothing to do for them. "May be due" is
    `_may_have_milestone`'s generous bound; the key is built with `development.milestones`'s
    due date computed in SQL. Were that date ever to differ from Python's, the key looked up
    would not be the one queued, and the person would be left to Python: never skipped wrongly."""
    horizon = today + timedelta(days=MILESTONE_LEAD_DAYS)

    def settled(code: str, start: Any, rule: Rule) -> ColumnElement[bool]:
        subject = literal("milestone:person:") + _string(Person.id) + literal(f":{code}")
        key = subject + literal(":") + _iso(session, _add_period(session, start, rule))
        queued = select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key).exists()
        snoozed = select(ReminderSnooze.id).where(ReminderSnooze.user_id == Person.officer_id,
                                                  ReminderSnooze.subject == subject).exists()
        return or_(start > horizon - timedelta(days=_min_days(rule)), and_(queued, ~snoozed))

    since = case((last_review > Person.activist_on, last_review), else_=Person.activist_on)
    return or_(
        and_(Person.stage == Stage.APPLICANT.value, settled("talk", Person.applied_on, rules.talk_within)),
        and_(Person.stage == Stage.ACTIVIST.value, settled("review", since, rules.review_every),
             settled("candidate", Person.activist_on, rules.candidate_after)),
        and_(Person.stage == Stage.PROBATIONARY.value, settled("probation", Person.probation_on, rules.probation)),
    )


async def _milestones(session: AsyncSession, today: date, tz: ZoneInfo, locale: str,
                      unqueued: bool = False) -> list[Reminder]:
    officer = _officers(today)
    reviewed = (select(ReviewNote.person_id, func.max(ReviewNote.written_on).label("last_review"))
                .group_by(ReviewNote.person_id).subquery())
    # Plain columns, not Person objects: the sweep reads thousands of people and keeps none.
    stmt = (
        select(officer.c.id, officer.c.chat_id, officer.c.locale, Enterprise.name, reviewed.c.last_review,
               Person.id, Person.name, Person.stage, Person.birth_date, Person.applied_on, Person.talked_on,
               Person.activist_on, Person.notice_started_on, Person.candidate_on, Person.probation_on,
               Person.full_on, Person.withdrawn_on)
        .join(officer, officer.c.id == Person.officer_id)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .outerjoin(reviewed, reviewed.c.person_id == Person.id)
        .where(_may_have_milestone(today, reviewed.c.last_review, development.CURRENT))
    )
    if unqueued:
        stmt = stmt.where(~_milestones_queued(session, today, reviewed.c.last_review, development.CURRENT))
    found = []
    for (oid, chat, loc, name, last_review, pid, person, stage, birth, applied, talked, activist, notice, candidate,
         probation, full, withdrawn) in (await session.execute(stmt)).tuples():
        pipeline = Pipeline(Stage(stage), birth, applied, talked, activist, notice, candidate, probation, full,
                            withdrawn, last_review)
        for milestone in development.milestones(pipeline, today):
            start = milestone.due - timedelta(days=MILESTONE_LEAD_DAYS)
            if start > today:
                continue
            found.append(Reminder(
                "milestone", f"milestone:person:{pid}:{milestone.code}", milestone.due.isoformat(), oid, chat,
                loc or locale, _local_midnight(start, tz),
                {"person_id": pid, "name": person, "stage": stage, "enterprise": name,
                 "code": milestone.code, "due": milestone.due, "overdue": milestone.overdue}))
    return found


async def _drafts(session: AsyncSession, now: datetime, today: date, tz: ZoneInfo, locale: str) -> list[Reminder]:
    officer = _officers(today)
    stmt = (
        select(officer.c.id, officer.c.chat_id, officer.c.locale, Draft.id, Draft.form, Draft.answers,
               Draft.updated_at)
        .join(officer, officer.c.id == Draft.user_id)
        .where(Draft.updated_at < now - DRAFT_IDLE)
    )
    rows = list((await session.execute(stmt)).tuples())
    ids = {a["enterprise"] for *_, a, _u in rows if isinstance(a.get("enterprise"), int)}
    names = dict((await session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))))
                 .tuples().all()) if ids else {}
    return [
        Reminder("draft", f"draft:{did}", updated.astimezone(tz).date().isoformat(), oid, chat, loc or locale,
                 updated + DRAFT_IDLE,
                 {"draft_id": did, "form": form, "enterprise": names.get(answers.get("enterprise")),
                  "day": updated.astimezone(tz).date()})
        for oid, chat, loc, did, form, answers, updated in rows
    ]


# Kinds whose query leaves out what is queued already (`unqueued`): their plain keys need no look-up.
CHECKED_IN_SQL = frozenset({"overdue_visit", "feedback"})


async def due(session: AsyncSession, *, now: datetime, tz: ZoneInfo, locale: str = "zh_CN",
              unqueued: bool = False) -> list[Reminder]:
    """Every reminder due now, before snoozes and dedupe (read-only). With `unqueued` the kinds
    of `CHECKED_IN_SQL` leave out reminders whose plain key is in the outbox and whose subject
    the officer has not snoozed, and people all of whose milestones due are queued so are left
    out (a person with one new milestone comes with all of them: their keys are looked up)."""
    today = now.astimezone(tz).date()
    return [
        *await _overdue_visits(session, today, tz, locale, unqueued),
        *await _open_feedback(session, now, today, tz, locale, unqueued),
        *await _milestones(session, today, tz, locale, unqueued),
        *await _drafts(session, now, today, tz, locale),
    ]


async def _snoozes(session: AsyncSession, user_ids: set[int]) -> dict[tuple[int, str], ReminderSnooze]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(ReminderSnooze).where(ReminderSnooze.user_id.in_(user_ids)))
    return {(row.user_id, row.subject): row for row in rows}


def _key_now(reminder: Reminder, snooze: ReminderSnooze | None, now: datetime, tz: ZoneInfo) -> str | None:
    """The key to queue the reminder under now, or None while it is snoozed."""
    if snooze is None:
        return reminder.key()
    if snooze.skip_period == reminder.period or (snooze.until is not None and snooze.until > now):
        return None
    if snooze.until is not None and snooze.created_at >= reminder.opened:
        return reminder.key(again=snooze.until.astimezone(tz).date())
    return reminder.key()


async def _existing(session: AsyncSession, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        found |= set(await session.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys[i : i + CHUNK]))))
    return found


_composer: Compose | None = None


def use_composer(compose: Compose) -> None:
    """Sets the default `compose` of `sweep` (`handlers.reminders` registers its own, since
    storage renders no templates and imports no handlers)."""
    global _composer
    _composer = compose


async def sweep(session: AsyncSession, *, now: datetime, tz: ZoneInfo, compose: Compose | None = None,
                locale: str = "zh_CN") -> SweepReport:
    """Queues every due reminder not queued before; returns the counts per kind. Never commits.

    `compose(reminder, outbox_id)` gives the text and buttons (the buttons name the outbox row,
    so a press finds its subject and checks it is the caller's); by default the one registered
    with `use_composer`. `locale` is for officers who have not chosen one.
    """
    compose = compose or _composer
    if compose is None:
        raise RuntimeError("no reminder composer: import handlers.reminders or pass compose=")
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    reminders = await due(session, now=now, tz=tz, locale=locale, unqueued=True)
    snoozes = await _snoozes(session, {r.user_id for r in reminders})
    keyed: dict[str, Reminder] = {}
    for reminder in reminders:
        key = _key_now(reminder, snoozes.get((reminder.user_id, reminder.subject)), now, tz)
        if key is not None:
            keyed.setdefault(key, reminder)
    # The plain keys of the weekly kinds were looked up by their query a moment ago; a sweep
    # queueing one meanwhile is what the insert-or-ignore is for.
    existing = await _existing(session, [key for key, reminder in keyed.items()
                                         if reminder.kind not in CHECKED_IN_SQL or key != reminder.key()])
    fresh = {key: reminder for key, reminder in keyed.items() if key not in existing}
    queued = dict.fromkeys(KINDS, 0)
    if fresh:
        # The buttons carry the row's own id: the ids are taken first, so each row is written once.
        ids = await (_take_ids_postgres(session, len(fresh)) if postgres else _take_ids_sqlite(session, len(fresh)))
        rows = []
        for n, ((key, reminder), row_id) in enumerate(zip(fresh.items(), ids, strict=True), 1):
            message, buttons = compose(reminder, row_id)
            if n % COMPOSE_SLICE == 0:
                await asyncio.sleep(0)  # let the bot answer its users meanwhile
            rows.append({"id": row_id, "dedupe_key": key, "chat_id": reminder.chat_id, "user_id": reminder.user_id,
                         "kind": reminder.kind, "text": message, "buttons": buttons})
        inserted = await (_insert_postgres(session, rows, now) if postgres else _insert_sqlite(session, rows, now))
        for key in inserted:
            queued[fresh[key].kind] += 1
    report = SweepReport(queued, {kind: sum(1 for r in reminders if r.kind == kind) for kind in KINDS})
    logger.info("Sweep queued %s", report.queued)
    return report


async def _take_ids_postgres(session: AsyncSession, count: int) -> list[int]:
    """`count` ids from the outbox's own sequence (what the inserts would have drawn)."""
    sequence = func.nextval(func.pg_get_serial_sequence("outbox", "id"))
    ids = await session.scalar(select(func.array_agg(sequence)).select_from(func.generate_series(1, count)))
    return list(ids or [])


async def _take_ids_sqlite(session: AsyncSession, count: int) -> list[int]:
    """The ids SQLite would give the next rows: the largest plus one, and on (the table has no
    AUTOINCREMENT). Should another connection insert in between (SQLite has one writer, but the
    sweep reads before it writes), the rows whose id it took are skipped by the insert-or-ignore
    and queued by the next sweep."""
    largest = await session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
    return list(range(int(largest or 0) + 1, int(largest or 0) + 1 + count))


_COMMON = {"attachments": [], "status": "pending", "attempts": 0}
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]


async def _insert_sqlite(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> list[str]:
    """Insert-or-ignore (a key, or an id, taken meanwhile by another writer is skipped); the
    keys of the rows this sweep inserted."""
    table = OUTBOX
    statement = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.dedupe_key)
    inserted: list[str] = []
    for i in range(0, len(rows), INSERT_CHUNK):
        batch = [{**row, **_COMMON, "not_before": now, "created_at": now} for row in rows[i : i + INSERT_CHUNK]]
        inserted.extend((await session.scalars(statement, batch)).all())
    return inserted


async def _insert_postgres(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> list[str]:
    """Insert-or-ignore of all rows in one statement, the rows sent as one JSON document
    (`jsonb_to_recordset`): a multi-row VALUES would bind twelve values per row, and psycopg
    spends longer quoting 100,000 rows' values (or arrays of them) than PostgreSQL inserting
    them. The keys inserted."""
    table = OUTBOX
    columns: dict[str, TypeEngine[Any]] = {"id": Integer(), "dedupe_key": String(), "chat_id": BigInteger(),
                                           "user_id": Integer(), "kind": String(), "text": Text(),
                                           "buttons": postgresql.JSONB()}
    document = cast(literal(json.dumps(rows, ensure_ascii=False), Text), postgresql.JSONB)
    source = (func.jsonb_to_recordset(document)
              .table_valued(*(column(name, kind) for name, kind in columns.items()))
              .render_derived(name="source", with_types=True))
    values = select(*(source.c[name] for name in columns),
                    *(literal(value, table.c[name].type) for name, value in _COMMON.items()),
                    literal(now, table.c.not_before.type), literal(now, table.c.created_at.type))
    statement = (postgresql.insert(table)
                 .from_select([*columns, *_COMMON, "not_before", "created_at"], values)
                 .on_conflict_do_nothing().returning(table.c.dedupe_key))
    return list((await session.scalars(statement)).all())


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

