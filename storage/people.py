"""People in member development 党员发展: nominating, listing, advancing, reviewing, withdrawing.

Names and political status are sensitive personal data (个人信息保护法): every read is bounded
by the caller's scope (through the enterprise's region), and nothing here logs a name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, development, reviews
from storage.development import STAGE_DATE, Milestone, Pipeline
from storage.enums import Stage
from storage.models import Assignment, Enterprise, Person, ReviewNote
from storage.scope import in_scope

ENTITY = "person"
# The date fields a nomination (or its correction) sets; withdrawal has its own function.
DATE_FIELDS = ("applied_on", "talked_on", "activist_on", "notice_started_on", "candidate_on", "probation_on",
               "full_on")


@dataclass(frozen=True)
class NewPerson:
    enterprise_id: int
    officer_id: int
    name: str
    gender: str
    birth_date: date
    stage: str
    applied_on: date
    position: str | None = None
    is_owner: bool = False
    talked_on: date | None = None
    activist_on: date | None = None
    notice_started_on: date | None = None
    candidate_on: date | None = None
    probation_on: date | None = None
    full_on: date | None = None
    contacts: list[str] = field(default_factory=list)
    notes: str | None = None


@dataclass(frozen=True)
class PersonRow:
    """A person as the `/people` list shows them, with what is due next."""

    id: int
    name: str
    stage: str
    enterprise: str
    stage_since: date | None
    days_in_stage: int | None
    next: Milestone | None
    reviews: int


@dataclass(frozen=True)
class PersonFacts:
    """What a person's card shows: plain values read off the record."""

    id: int
    name: str
    gender: str
    position: str | None
    is_owner: bool
    stage: str
    applied_on: date
    talked_on: date | None
    activist_on: date | None
    notice_started_on: date | None
    candidate_on: date | None
    probation_on: date | None
    full_on: date | None
    withdrawn_on: date | None
    withdrawn_reason: str | None
    contacts: tuple[str, ...]
    notes: str | None

    @classmethod
    def of(cls, person: Person) -> PersonFacts:
        return cls(person.id, person.name, person.gender, person.position, person.is_owner, person.stage,
                   person.applied_on, person.talked_on, person.activist_on, person.notice_started_on,
                   person.candidate_on, person.probation_on, person.full_on, person.withdrawn_on,
                   person.withdrawn_reason, tuple(person.contacts or ()), person.notes)


@dataclass(frozen=True)
class ReviewLine:
    """A review note 考察记录 as a card shows it."""

    written_on: date
    content: str


def pipeline(person: Person, last_review_on: date | None) -> Pipeline:
    """The person's dates as the pure rules module reads them."""
    return Pipeline(
        stage=Stage(person.stage), birth_date=person.birth_date, applied_on=person.applied_on,
        talked_on=person.talked_on, activist_on=person.activist_on, notice_started_on=person.notice_started_on,
        candidate_on=person.candidate_on, probation_on=person.probation_on, full_on=person.full_on,
        withdrawn_on=person.withdrawn_on, last_review_on=last_review_on,
    )


def stage_since(person: Person) -> date | None:
    value: date | None = getattr(person, STAGE_DATE[Stage(person.stage)])
    return value


async def create(session: AsyncSession, new: NewPerson, *, actor_label: str, now: datetime) -> Person:
    person = Person(**new.__dict__, created_at=now, updated_at=now)
    session.add(person)
    await session.flush()
    await audit.record(session, actor_id=new.officer_id, actor_label=actor_label, action="create", entity=ENTITY,
                       entity_id=person.id, after=audit.snapshot(person))
    return person


async def get_in_scope(session: AsyncSession, person_id: int, scope: str) -> Person | None:
    """The person if their enterprise lies in the scope; None for a forged or stale id."""
    return await session.scalar(
        select(Person).join(Enterprise, Enterprise.id == Person.enterprise_id)
        .where(Person.id == person_id, in_scope(Enterprise.region, scope))
    )


async def duplicate(session: AsyncSession, enterprise_id: int, name: str, exclude_id: int | None = None) -> Person | None:
    """Someone of the same name still in development at the enterprise (a withdrawn one may
    apply again)."""
    stmt = select(Person).where(Person.enterprise_id == enterprise_id, Person.name == name,
                                Person.stage != Stage.WITHDRAWN.value)
    if exclude_id is not None:
        stmt = stmt.where(Person.id != exclude_id)
    return await session.scalar(stmt.order_by(Person.id).limit(1))


def _review_stats() -> Any:
    return (select(ReviewNote.person_id, func.count(ReviewNote.id).label("reviews"),
                   func.max(ReviewNote.written_on).label("last_review"))
            .group_by(ReviewNote.person_id).subquery())


def overdue_first(rows: list[PersonRow]) -> list[PersonRow]:
    """Overdue milestones first (the longest overdue first), then the soonest due, then the
    people with nothing due; withdrawn people last."""
    def key(row: PersonRow) -> tuple[int, int, str]:
        if row.stage == Stage.WITHDRAWN:
            return (3, 0, row.name)
        if row.next is None:
            return (2, 0, row.name)
        return (0 if row.next.overdue else 1, row.next.days_left, row.name)

    return sorted(rows, key=key)


async def for_officer(session: AsyncSession, officer_id: int, scope: str, today: date,
                      enterprise_id: int | None = None) -> list[PersonRow]:
    """The officer's people: nominated by them, or at an enterprise they are assigned to now;
    with `enterprise_id`, everyone in development at that enterprise (from its card)."""
    stats = _review_stats()
    current = select(Assignment.enterprise_id).where(Assignment.officer_id == officer_id,
                                                     Assignment.ended_on.is_(None))
    stmt = (
        select(Person, Enterprise.name, stats.c.reviews, stats.c.last_review)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .outerjoin(stats, stats.c.person_id == Person.id)
        .where(in_scope(Enterprise.region, scope))
    )
    if enterprise_id is None:
        stmt = stmt.where(or_(Person.officer_id == officer_id, Person.enterprise_id.in_(current)))
    else:
        stmt = stmt.where(Person.enterprise_id == enterprise_id)
    rows = []
    for person, enterprise, count, last_review in (await session.execute(stmt)).tuples():
        since = stage_since(person)
        rows.append(PersonRow(
            id=person.id, name=person.name, stage=person.stage, enterprise=enterprise, stage_since=since,
            days_in_stage=(today - since).days if since else None,
            next=development.next_milestone(pipeline(person, last_review), today), reviews=count or 0,
        ))
    return overdue_first(rows)


async def review_notes(session: AsyncSession, person_id: int) -> list[ReviewLine]:
    """The person's review notes, the latest first."""
    return [ReviewLine(written_on, content) for written_on, content in (await session.execute(
        select(ReviewNote.written_on, ReviewNote.content).where(ReviewNote.person_id == person_id)
        .order_by(ReviewNote.written_on.desc(), ReviewNote.id.desc())
    )).tuples()]


async def _changed(session: AsyncSession, person: Person, before: dict[str, Any], *, action: str, actor_id: int,
                   actor_label: str, now: datetime) -> None:
    person.updated_at = now
    await session.flush()
    old, new = audit.changed(before, audit.snapshot(person))
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action=action, entity=ENTITY,
                       entity_id=person.id, before=old, after=new)


async def advance(session: AsyncSession, person: Person, stage: Stage, on: date, *, actor_id: int, actor_label: str,
                  now: datetime, notice_started_on: date | None = None) -> None:
    """Moves the person to `stage` as of `on` (with the public notice's start for a development
    object). The caller has checked the dates against `development.check_dates`."""
    before = audit.snapshot(person)
    person.stage = stage.value
    setattr(person, STAGE_DATE[stage], on)
    if notice_started_on is not None:
        person.notice_started_on = notice_started_on
    await _changed(session, person, before, action="advance", actor_id=actor_id, actor_label=actor_label, now=now)


async def record_talk(session: AsyncSession, person: Person, on: date, *, actor_id: int, actor_label: str,
                      now: datetime) -> None:
    """The talk with an applicant after their application (due within a month)."""
    before = audit.snapshot(person)
    person.talked_on = on
    await _changed(session, person, before, action="talk", actor_id=actor_id, actor_label=actor_label, now=now)


async def add_review_note(session: AsyncSession, person: Person, written_on: date, content: str, *, author_id: int,
                          actor_label: str, now: datetime) -> ReviewNote:
    note = ReviewNote(person_id=person.id, written_on=written_on, content=content, author_id=author_id,
                      created_at=now)
    session.add(note)
    await session.flush()
    await audit.record(session, actor_id=author_id, actor_label=actor_label, action="create", entity="review_note",
                       entity_id=note.id, after=audit.snapshot(note))
    return note


async def withdraw(session: AsyncSession, person: Person, on: date, reason: str, *, actor_id: int, actor_label: str,
                   now: datetime) -> None:
    """Ends the person's development; the dates reached so far stay on record."""
    before = audit.snapshot(person)
    person.stage = Stage.WITHDRAWN.value
    person.withdrawn_on = on
    person.withdrawn_reason = reason
    await _changed(session, person, before, action="withdraw", actor_id=actor_id, actor_label=actor_label, now=now)


async def correct(session: AsyncSession, person: Person, new: NewPerson, *, actor_id: int, actor_label: str,
                  now: datetime) -> None:
    """A correction of the nomination: audited as a correction, and back to review.

    The nominating officer stays the person's officer (a correction is not a hand-over).
    """
    before = audit.snapshot(person)
    for key, value in new.__dict__.items():
        if key != "officer_id":
            setattr(person, key, value)
    person.updated_at = now
    await session.flush()
    await reviews.record_correction(session, entity=ENTITY, entity_id=person.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(person), now=now)
