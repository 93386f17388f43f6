"""Party organisations founded 新建党组织: recording one updates the enterprise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, reviews
from storage.models import Enterprise, Founding
from storage.scope import in_scope

ENTITY = "founding"


@dataclass(frozen=True)
class NewFounding:
    enterprise_id: int
    founded_on: date
    org_type: str
    method: str
    secretary: str
    members: int
    officer_id: int


async def create(session: AsyncSession, new: NewFounding, *, actor_label: str, now: datetime) -> Founding:
    """Saves the founding and sets the enterprise's party organisation to it (both audited)."""
    founding = Founding(**new.__dict__, created_at=now, updated_at=now)
    session.add(founding)
    await session.flush()
    await audit.record(session, actor_id=new.officer_id, actor_label=actor_label, action="create",
                       entity=ENTITY, entity_id=founding.id, after=audit.snapshot(founding))
    await _apply_to_enterprise(session, founding, actor_id=new.officer_id, actor_label=actor_label, now=now)
    return founding


async def correct(session: AsyncSession, founding: Founding, new: NewFounding, *, actor_id: int, actor_label: str,
                  now: datetime) -> None:
    """The author's correction: audited as a correction, and back to review; the enterprise
    follows it."""
    before = audit.snapshot(founding)
    for key, value in new.__dict__.items():
        setattr(founding, key, value)
    founding.updated_at = now
    await session.flush()
    await _apply_to_enterprise(session, founding, actor_id=new.officer_id, actor_label=actor_label, now=now)
    await reviews.record_correction(session, entity=ENTITY, entity_id=founding.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(founding), now=now)


async def _apply_to_enterprise(session: AsyncSession, founding: Founding, *, actor_id: int, actor_label: str,
                               now: datetime) -> None:
    enterprise = await session.get_one(Enterprise, founding.enterprise_id, with_for_update=True)
    if enterprise.party_org == founding.org_type:
        return
    before = {"party_org": enterprise.party_org}
    enterprise.party_org = founding.org_type
    enterprise.updated_at = now
    await session.flush()
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="update", entity="enterprise",
                       entity_id=enterprise.id, before=before, after={"party_org": founding.org_type})


async def get_in_scope(session: AsyncSession, founding_id: int, scope: str) -> Founding | None:
    return await session.scalar(
        select(Founding).join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .where(Founding.id == founding_id, in_scope(Enterprise.region, scope))
    )


