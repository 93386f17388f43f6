"""Supervisor review of records, and the officer's right to correct them.

A record (visit, person, feedback, founding) may be corrected by its author for 24 hours,
and at any time while a supervisor has marked it *needs fixing*. A correction sends it back
to review (pending). Verdicts and corrections are audited.
"""

from __future__ import annotations

from collections.abc import Callable
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


# What a reviewer sees of each kind of record: plain values for the review card.
DETAILS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "visit": lambda v: {"visit_date": v.visit_date, "activities": list(v.activities), "summary": v.summary,
                        "voice": v.summary_voice_file_id is not None, "follow_up": v.follow_up},
    "person": lambda p: {"name": p.name, "stage": p.stage, "applied_on": p.applied_on},
    "feedback": lambda f: {"category": f.category, "content": f.content, "status": f.status},
    "founding": lambda o: {"founded_on": o.founded_on, "category": o.category, "formation": o.formation,
                           "secretary": o.secretary, "members": o.members, "name": o.name, "action": o.action,
                           "change": (o.change or {}).get("kind"), "enterprises": len(o.enterprise_ids or [])},
}
# Each kind's table and the column naming its author (the officer told when it needs fixing).
MODELS: dict[str, tuple[Any, Any]] = {
    "visit": (Visit, Visit.officer_id), "person": (Person, Person.officer_id),
    "feedback": (Feedback, Feedback.officer_id), "founding": (Founding, Founding.officer_id),
}


async def queue(session: AsyncSession, scope: str, limit: int = 5) -> list[QueueItem]:
    """The newest records in the scope that wait for review, all kinds together: the newest
    `limit` of each kind, then the newest `limit` of those."""
    items: list[QueueItem] = []
    for entity, (model, author_column) in MODELS.items():
        rows = await session.execute(
            select(model, Enterprise.name, User.name, User.chat_id)
            .join(Enterprise, Enterprise.id == model.enterprise_id)
            .join(User, User.id == author_column)
            .where(in_scope(Enterprise.region, scope), _waiting(entity, model.id))
            .order_by(model.created_at.desc()).limit(limit)
        )
        for record, enterprise, author, chat in rows.tuples():
            items.append(QueueItem(entity, record.id, record.created_at, enterprise, author, chat, "pending", None,
                                   DETAILS[entity](record)))
    return sorted(items, key=lambda item: item.created_at, reverse=True)[:limit]


async def author_and_scope_check(session: AsyncSession, entity: str, entity_id: int,
                                 scope: str) -> tuple[int | None, int | None, str] | None:
    """(author id, author chat, enterprise name) of a record in the scope; None otherwise."""
    model, author_column = MODELS[entity]
    row = (await session.execute(
        select(author_column, User.chat_id, Enterprise.name)
        .select_from(model).join(Enterprise, Enterprise.id == model.enterprise_id)
        .join(User, User.id == author_column)
        .where(model.id == entity_id, in_scope(Enterprise.region, scope))
    )).tuples().first()
    return None if row is None else (row[0], row[1], row[2])
