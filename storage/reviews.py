"""Supervisor review of records, and the officer's right to correct them.

A record (visit, person, feedback, founding) may be corrected by its author for 24 hours,
and at any time while a supervisor has marked it *needs fixing*. A correction sends it back
to review (pending). Verdicts and corrections are audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.enums import ReviewStatus
from storage.models import Review

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
