"""Visit reports 走访记录: saving one, with the head-count update it may carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, reviews
from storage.models import Enterprise, HeadcountRecord, Visit
from storage.scope import in_scope

ENTITY = "visit"


@dataclass(frozen=True)
class NewVisit:
    enterprise_id: int
    officer_id: int
    visit_date: date
    activities: list[str]
    summary: str | None
    summary_voice_file_id: str | None = None
    follow_up: str | None = None
    employees: int | None = None
    party_members: int | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None


async def create(session: AsyncSession, new: NewVisit, *, actor_label: str, now: datetime) -> Visit:
    """Saves the report; updated head counts also update the enterprise, with history."""
    visit = Visit(
        enterprise_id=new.enterprise_id,
        officer_id=new.officer_id,
        visit_date=new.visit_date,
        activities=new.activities,
        employees=new.employees,
        party_members=new.party_members,
        summary=new.summary,
        summary_voice_file_id=new.summary_voice_file_id,
        follow_up=new.follow_up,
        media=new.media,
        latitude=new.latitude,
        longitude=new.longitude,
        created_at=now,
        updated_at=now,
    )
    session.add(visit)
    await session.flush()
    await audit.record(
        session, actor_id=new.officer_id, actor_label=actor_label, action="create",
        entity=ENTITY, entity_id=visit.id, after=audit.snapshot(visit),
    )
    if new.employees is not None or new.party_members is not None:
        await _update_headcounts(session, new, visit.id, actor_label=actor_label, now=now)
    return visit


async def _update_headcounts(
    session: AsyncSession, new: NewVisit, visit_id: int, *, actor_label: str, now: datetime
) -> None:
    enterprise = await session.get_one(Enterprise, new.enterprise_id, with_for_update=True)
    before = audit.snapshot(enterprise)
    if new.employees is not None:
        enterprise.employees = new.employees
    if new.party_members is not None:
        enterprise.party_members = new.party_members
    enterprise.updated_at = now
    session.add(HeadcountRecord(
        enterprise_id=enterprise.id, visit_id=visit_id, employees=enterprise.employees,
        party_members=enterprise.party_members, recorded_by_id=new.officer_id, recorded_at=now,
    ))
    await session.flush()
    old, changed = audit.changed(before, audit.snapshot(enterprise))
    if changed:
        await audit.record(
            session, actor_id=new.officer_id, actor_label=actor_label, action="update",
            entity="enterprise", entity_id=enterprise.id, before=old, after=changed,
        )


async def get_in_scope(session: AsyncSession, visit_id: int, scope: str) -> Visit | None:
    return await session.scalar(
        select(Visit).join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(Visit.id == visit_id, in_scope(Enterprise.region, scope))
    )


async def correct(session: AsyncSession, visit: Visit, new: NewVisit, *, actor_id: int, actor_label: str,
                  now: datetime) -> None:
    """The author's correction of the report: audited as a correction, and back to review. New
    head counts update the enterprise again, with history."""
    before = audit.snapshot(visit)
    counts_changed = (new.employees, new.party_members) != (visit.employees, visit.party_members)
    for key, value in new.__dict__.items():
        setattr(visit, key, value)
    visit.updated_at = now
    await session.flush()
    if counts_changed and (new.employees is not None or new.party_members is not None):
        await _update_headcounts(session, new, visit.id, actor_label=actor_label, now=now)
    await reviews.record_correction(session, entity=ENTITY, entity_id=visit.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(visit), now=now)
