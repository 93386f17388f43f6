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

Every kind is one set-based query (no query per item); keys already in the outbox are filtered
out before anything is rendered, and the new rows go in with one insert-or-ignore. The text and
buttons come from a `compose` callable given by the caller: storage renders no templates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage import audit, development, people
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
    due: dict[str, int]  # reminders due per kind (before snoozes and dedupe)

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


async def _overdue_visits(session: AsyncSession, today: date, tz: ZoneInfo, locale: str) -> list[Reminder]:
    officer = _officers(today)
    last = (select(Visit.enterprise_id, func.max(Visit.visit_date).label("last_visit"))
            .group_by(Visit.enterprise_id).subquery())
    stmt = (
        select(officer.c.id, officer.c.chat_id, officer.c.locale, Enterprise.id, Enterprise.name,
               Enterprise.visit_cadence_days, last.c.last_visit)
        .select_from(Assignment)
        .join(officer, officer.c.id == Assignment.officer_id)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .outerjoin(last, last.c.enterprise_id == Enterprise.id)
        .where(Assignment.ended_on.is_(None),
               or_(last.c.last_visit.is_(None),
                   last.c.last_visit < _days_before(session, today, Enterprise.visit_cadence_days)))
    )
    period, opened = iso_week(today), _local_midnight(today - timedelta(days=today.weekday()), tz)
    return [
        Reminder("overdue_visit", f"overdue_visit:enterprise:{eid}:officer:{oid}", period, oid, chat, loc or locale,
                 opened, {"enterprise_id": eid, "enterprise": name, "cadence": cadence,
                          "days": (today - last_visit).days if last_visit else None})
        for oid, chat, loc, eid, name, cadence, last_visit in (await session.execute(stmt)).tuples()
    ]


async def _open_feedback(session: AsyncSession, now: datetime, today: date, tz: ZoneInfo,
                         locale: str) -> list[Reminder]:
    officer = _officers(today)
    columns = (officer.c.id, officer.c.chat_id, officer.c.locale, Feedback.id, Feedback.created_at,
               Feedback.category, Enterprise.name)
    old_open = (Feedback.status.in_(OPEN_STATUSES),
                Feedback.created_at < now - timedelta(days=FEEDBACK_REMIND_DAYS))
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
    period, opened = iso_week(today), _local_midnight(today - timedelta(days=today.weekday()), tz)
    found: dict[tuple[int, int], Reminder] = {}
    for query in (assigned, recorder):
        for oid, chat, loc, fid, created, category, name in (await session.execute(query)).tuples():
            found[(fid, oid)] = Reminder(
                "feedback", f"feedback:{fid}:officer:{oid}", period, oid, chat, loc or locale, opened,
                {"feedback_id": fid, "enterprise": name, "category": category,
                 "days": (today - created.astimezone(tz).date()).days})
    return list(found.values())


async def _milestones(session: AsyncSession, today: date, tz: ZoneInfo, locale: str) -> list[Reminder]:
    officer = _officers(today)
    reviewed = (select(ReviewNote.person_id, func.max(ReviewNote.written_on).label("last_review"))
                .group_by(ReviewNote.person_id).subquery())
    stmt = (
        select(officer.c.id, officer.c.chat_id, officer.c.locale, Person, Enterprise.name, reviewed.c.last_review)
        .join(officer, officer.c.id == Person.officer_id)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .outerjoin(reviewed, reviewed.c.person_id == Person.id)
        .where(Person.stage.in_((Stage.APPLICANT.value, Stage.ACTIVIST.value, Stage.PROBATIONARY.value)))
    )
    found = []
    for oid, chat, loc, person, name, last_review in (await session.execute(stmt)).tuples():
        for milestone in development.milestones(people.pipeline(person, last_review), today):
            start = milestone.due - timedelta(days=MILESTONE_LEAD_DAYS)
            if start > today:
                continue
            found.append(Reminder(
                "milestone", f"milestone:person:{person.id}:{milestone.code}", milestone.due.isoformat(), oid, chat,
                loc or locale, _local_midnight(start, tz),
                {"person_id": person.id, "name": person.name, "stage": person.stage, "enterprise": name,
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


async def due(session: AsyncSession, *, now: datetime, tz: ZoneInfo, locale: str = "zh_CN") -> list[Reminder]:
    """Every reminder due now, before snoozes and dedupe (read-only)."""
    today = now.astimezone(tz).date()
    return [
        *await _overdue_visits(session, today, tz, locale),
        *await _open_feedback(session, now, today, tz, locale),
        *await _milestones(session, today, tz, locale),
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
    reminders = await due(session, now=now, tz=tz, locale=locale)
    snoozes = await _snoozes(session, {r.user_id for r in reminders})
    keyed: dict[str, Reminder] = {}
    for reminder in reminders:
        key = _key_now(reminder, snoozes.get((reminder.user_id, reminder.subject)), now, tz)
        if key is not None:
            keyed.setdefault(key, reminder)
    existing = await _existing(session, list(keyed))
    fresh = {key: reminder for key, reminder in keyed.items() if key not in existing}
    queued = dict.fromkeys(KINDS, 0)
    if fresh:
        inserted = await _insert(session, fresh, now)
        changes = []
        for key, row_id in inserted:
            reminder = fresh[key]
            text, buttons = compose(reminder, row_id)
            changes.append({"id": row_id, "text": text, "buttons": buttons})
            queued[reminder.kind] += 1
        # The buttons carry the row's own id, known only once it is inserted.
        await session.execute(update(OutboxMessage), changes)
    report = SweepReport(queued, {kind: sum(1 for r in reminders if r.kind == kind) for kind in KINDS})
    logger.info("Sweep queued %s", report.queued)
    return report


async def _insert(session: AsyncSession, fresh: dict[str, Reminder], now: datetime) -> list[tuple[str, int]]:
    """Insert-or-ignore of the new rows (a sweep running at the same time may have queued some
    meanwhile); returns (key, id) of the rows this sweep inserted."""
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"dedupe_key": key, "chat_id": r.chat_id, "user_id": r.user_id, "kind": r.kind, "text": "",
             "buttons": [], "attachments": [], "not_before": now, "status": "pending", "attempts": 0,
             "created_at": now} for key, r in fresh.items()]
    statement = (dialect_insert(OutboxMessage).on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
                 .returning(OutboxMessage.dedupe_key, OutboxMessage.id))
    result = await session.execute(statement, rows)
    return [(key, row_id) for key, row_id in result.tuples()]


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

