"""Party organisations founded 新建党组织 with an officer's guidance: the officer's record, and
the organisation it makes (or changes) in the registry (`storage.organisations`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, organisations, reviews
from storage.enums import Formation, FoundingAction, OrgCategory
from storage.models import Enterprise, Founding, PartyOrganisation
from storage.scope import in_scope

ENTITY = "founding"


@dataclass(frozen=True)
class NewFounding:
    enterprise_id: int  # the enterprise it is recorded from (the first of `enterprise_ids`)
    founded_on: date
    category: str
    formation: str
    secretary: str
    members: int
    officer_id: int
    enterprise_ids: list[int] = field(default_factory=list)  # every enterprise covered; empty: just the one
    name: str | None = None  # empty: the standard name (中共<企业>支部委员会)
    secretary_source: str | None = None
    action: str = FoundingAction.FOUND.value
    organisation_id: int | None = None  # the organisation changed (action `change`)

    def covered(self) -> list[int]:
        return list(dict.fromkeys([self.enterprise_id, *self.enterprise_ids]))


def standard_name(enterprise_name: str, category: OrgCategory) -> str:
    """The name a new organisation takes by default: 中共<企业名称><支部委员会|总支部委员会|委员会>."""
    suffix = {OrgCategory.BRANCH: "支部委员会", OrgCategory.GENERAL_BRANCH: "总支部委员会",
              OrgCategory.COMMITTEE: "委员会"}[category]
    return f"中共{enterprise_name}{suffix}"


async def create(session: AsyncSession, new: NewFounding, *, actor_label: str, now: datetime) -> Founding:
    """Saves the officer's record and founds (or changes) the organisation it reports; audited."""
    firms = await _enterprises(session, new.covered())
    organisation = await _apply(session, new, firms, None, actor_label=actor_label, now=now)
    founding = Founding(
        enterprise_id=new.enterprise_id, organisation_id=organisation.id, action=new.action,
        enterprise_ids=[firm.id for firm in firms], name=organisation.name, founded_on=new.founded_on,
        category=new.category, formation=new.formation, secretary=new.secretary, secretary_source=new.secretary_source,
        members=new.members, officer_id=new.officer_id, created_at=now, updated_at=now,
    )
    session.add(founding)
    await session.flush()
    await audit.record(session, actor_id=new.officer_id, actor_label=actor_label, action="create",
                       entity=ENTITY, entity_id=founding.id, after=audit.snapshot(founding))
    return founding


async def correct(session: AsyncSession, founding: Founding, new: NewFounding, *, actor_id: int, actor_label: str,
                  now: datetime) -> None:
    """The author's correction: audited as a correction, and back to review; the organisation
    (and which enterprises it covers) follows it."""
    before = audit.snapshot(founding)
    firms = await _enterprises(session, new.covered())
    current = await session.get(PartyOrganisation, founding.organisation_id) if founding.organisation_id else None
    organisation = await _apply(session, new, firms, current, actor_label=actor_label, now=now)
    if current is not None and founding.action == FoundingAction.FOUND:
        # Enterprises dropped from the record leave the organisation it founded.
        for firm in await organisations.covered(session, current.id):
            if firm.id not in {f.id for f in firms}:
                await organisations.uncover(session, firm, on=new.founded_on, actor_id=actor_id,
                                            actor_label=actor_label, now=now)
    founding.enterprise_id, founding.enterprise_ids = new.enterprise_id, [firm.id for firm in firms]
    founding.organisation_id, founding.name = organisation.id, organisation.name
    founding.founded_on, founding.category, founding.formation = new.founded_on, new.category, new.formation
    founding.secretary, founding.secretary_source, founding.members = new.secretary, new.secretary_source, new.members
    founding.officer_id = new.officer_id
    founding.updated_at = now
    await session.flush()
    await reviews.record_correction(session, entity=ENTITY, entity_id=founding.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(founding), now=now)


async def _enterprises(session: AsyncSession, ids: list[int]) -> list[Enterprise]:
    found = {e.id: e for e in await session.scalars(select(Enterprise).where(Enterprise.id.in_(ids))
                                                    .with_for_update())}
    missing = [i for i in ids if i not in found]
    if missing:
        raise LookupError(f"no enterprise {missing}")
    return [found[i] for i in ids]


async def _apply(session: AsyncSession, new: NewFounding, firms: list[Enterprise],
                 current: PartyOrganisation | None, *, actor_label: str, now: datetime) -> PartyOrganisation:
    """The organisation the record makes: founded (or, for a correction, the one it founded,
    updated), or the existing one changed; covering `firms`."""
    category, formation = OrgCategory(new.category), Formation(new.formation)
    name = (new.name or "").strip() or standard_name(firms[0].name, category)
    values: dict[str, Any] = {"category": category, "formation": formation, "secretary": new.secretary,
              "secretary_source": new.secretary_source, "members": new.members}
    target = current
    if target is None and new.organisation_id is not None:
        target = await session.get_one(PartyOrganisation, new.organisation_id)
    if target is None:
        return await organisations.create(
            session, organisations.NewOrganisation(name=name, category=category, formation=formation,
                                                   founded_on=new.founded_on, secretary=new.secretary,
                                                   secretary_source=new.secretary_source, members=new.members),
            firms, actor_id=new.officer_id, actor_label=actor_label, now=now)
    if new.action == FoundingAction.FOUND:
        values |= {"founded_on": new.founded_on, "name": organisations.normalise_name(name), "name_inferred": False}
    await organisations.change(session, target, actor_id=new.officer_id, actor_label=actor_label, now=now, **values)
    await organisations.cover(session, target, firms, since=new.founded_on, actor_id=new.officer_id,
                              actor_label=actor_label, now=now)
    return target


async def get_in_scope(session: AsyncSession, founding_id: int, scope: str) -> Founding | None:
    return await session.scalar(
        select(Founding).join(Enterprise, Enterprise.id == Founding.enterprise_id)
        .where(Founding.id == founding_id, in_scope(Enterprise.region, scope))
    )
