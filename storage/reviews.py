"""Supervisor review of records, and the officer's right to correct them.

A record (visit, person, feedback, founding) may be corrected by its author for 24 hours,
and at any time while a supervisor has marked it *needs fixing*. A correction sends it back
to review (pending). Verdicts and corrections are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.enums import ReviewStatus
from storage.models import Enterprise, Feedback, Founding, Person, Review, User, Visit
from storage.scope import in_scope

CORRECTION_WINDOW = timedelta(hours=24)
ENTITIES = ("visit", "person", "feedback", "founding")


async def status(session: AsyncSession, entity: str, entity_id: int) -> Review | None:
    return await session.scalar(select(Review).where(Review.entity == entity, Review.entity_id == entity_id))


async def may_correct(
    session: AsyncSession, *, entity: str, entity_id: int, author_id: int | None, created_at: datetime,
    member_id: int, now: datetime,
) -> bool:
    """Only the author; within 24 hours of saving, or while the record needs fixing."""
    if author_id != member_id:
        return False
    if now - created_at <= CORRECTION_WINDOW:
        return True
    review = await status(session, entity, entity_id)
    return review is not None and review.status == ReviewStatus.NEEDS_FIXING


async def record_correction(
    session: AsyncSession, *, entity: str, entity_id: int, actor_id: int, actor_label: str,
    before: dict[str, object], after: dict[str, object], now: datetime,
) -> None:
    """Audits a correction and sends the record back to review."""
    old, new = audit.changed(before, after)
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="correct", entity=entity,
                       entity_id=entity_id, before=old, after=new)
    review = await status(session, entity, entity_id)
    if review is not None and review.status != ReviewStatus.PENDING:
        review.status = ReviewStatus.PENDING.value
        review.reviewed_at = now
        await session.flush()


async def set_verdict(
    session: AsyncSession, *, entity: str, entity_id: int, verdict: ReviewStatus, comment: str | None,
    reviewer_id: int, reviewer_label: str, now: datetime,
) -> Review:
    review = await status(session, entity, entity_id)
    before = None if review is None else {"status": review.status, "comment": review.comment}
    if review is None:
        review = Review(entity=entity, entity_id=entity_id)
        session.add(review)
    review.status, review.comment = verdict.value, comment
    review.reviewer_id, review.reviewed_at = reviewer_id, now
    await session.flush()
    await audit.record(session, actor_id=reviewer_id, actor_label=reviewer_label, action="review", entity=entity,
                       entity_id=entity_id, before=before, after={"status": verdict.value, "comment": comment})
    return review


@dataclass(frozen=True)
class QueueItem:
    """A record waiting for a supervisor: plain values for the review card."""

    entity: str
    entity_id: int
    created_at: datetime
    enterprise: str
    author: str
    author_chat_id: int | None
    status: str  # pending (never reviewed or corrected since) | needs_fixing
    comment: str | None
    details: dict[str, Any]


def _waiting(entity: str, id_column: Any) -> Any:
    """Records without a verdict yet, or sent back to review: not approved, not awaiting a fix."""
    return ~exists().where(Review.entity == entity, Review.entity_id == id_column,
                           Review.status.in_((ReviewStatus.APPROVED.value, ReviewStatus.NEEDS_FIXING.value)))


async def queue(session: AsyncSession, scope: str, limit: int = 5) -> list[QueueItem]:
    """The newest records in the scope that wait for review, all kinds together."""
    items: list[QueueItem] = []
    visit_rows = await session.execute(
        select(Visit, Enterprise.name, User.name, User.chat_id).join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .join(User, User.id == Visit.officer_id)
        .where(in_scope(Enterprise.region, scope), _waiting("visit", Visit.id))
        .order_by(Visit.created_at.desc()).limit(limit)
    )
    for visit, enterprise, author, chat in visit_rows.tuples():
        items.append(QueueItem("visit", visit.id, visit.created_at, enterprise, author, chat, "pending", None, {
            "visit_date": visit.visit_date, "activities": list(visit.activities), "summary": visit.summary,
            "voice": visit.summary_voice_file_id is not None, "follow_up": visit.follow_up}))
    person_rows = await session.execute(
        select(Person, Enterprise.name, User.name, User.chat_id).join(Enterprise, Enterprise.id == Person.enterprise_id)
        .join(User, User.id == Person.officer_id)
        .where(in_scope(Enterprise.region, scope), _waiting("person", Person.id))
        .order_by(Person.created_at.desc()).limit(limit)
    )
    for person, enterprise, author, chat in person_rows.tuples():
        items.append(QueueItem("person", person.id, person.created_at, enterprise, author, chat, "pending", None, {
            "name": person.name, "stage": person.stage, "applied_on": person.applied_on}))
    feedback_rows = await session.execute(
        select(Feedback, Enterprise.name, User.name, User.chat_id)
        .join(Enterprise, Enterprise.id == Feedback.enterprise_id)
        .join(User, User.id == Feedback.officer_id)
        .where(in_scope(Enterprise.region, scope), _waiting("feedback", Feedback.id))
        .order_by(Feedback.created_at.desc()).limit(limit)
    )
    for item, enterprise, author, chat in feedback_rows.tuples():
        items.append(QueueItem("feedback", item.id, item.created_at, enterprise, author, chat, "pending", None, {
            "category": item.category, "content": item.content, "status": item.status}))
    founding_rows = await session.execute(
        select(Founding, Enterprise.name, User.name, User.chat_id)
        .join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .join(User, User.id == Founding.officer_id)
        .where(in_scope(Enterprise.region, scope), _waiting("founding", Founding.id))
        .order_by(Founding.created_at.desc()).limit(limit)
    )
    for founding, enterprise, author, chat in founding_rows.tuples():
        items.append(QueueItem("founding", founding.id, founding.created_at, enterprise, author, chat, "pending",
                               None, {"founded_on": founding.founded_on, "org_type": founding.org_type,
                                      "secretary": founding.secretary, "members": founding.members}))
    return sorted(items, key=lambda item: item.created_at, reverse=True)[:limit]


async def author_and_scope_check(session: AsyncSession, entity: str, entity_id: int,
                                 scope: str) -> tuple[int | None, int | None, str] | None:
    """(author id, author chat, enterprise name) of a record in the scope; None otherwise."""
    model: Any
    model, author_column = {
        "visit": (Visit, Visit.officer_id), "person": (Person, Person.officer_id),
        "feedback": (Feedback, Feedback.officer_id), "founding": (Founding, Founding.officer_id),
    }[entity]
    row = (await session.execute(
        select(author_column, User.chat_id, Enterprise.name)
        .select_from(model).join(Enterprise, Enterprise.id == model.enterprise_id)
        .join(User, User.id == author_column)
        .where(model.id == entity_id, in_scope(Enterprise.region, scope))
    )).tuples().first()
    return None if row is None else (row[0], row[1], row[2])
