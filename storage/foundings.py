"""Party organisations founded 新建党组织 with an officer's guidance, and changed 调整党组织: the
officer's record, and the organisation it makes or changes in the registry
(`storage.organisations`, the one writer of organisations and their coverage).

A founding (`action` found) makes a new organisation covering one enterprise, or several for a
joint branch 联合党支部. A change (`action` change) changes an existing one: its category (a 党支部
becoming a 党委, renamed to match), its secretary, or a split of a joint branch (enterprises leave
it, each to form its own branch or to none). A change founds no organisation, except the branches
a split makes: those are new organisations founded that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, organisations, reviews, rules
from storage.enums import ChangeKind, Formation, FoundingAction, OrgCategory
from storage.models import Enterprise, Founding, PartyOrganisation
from storage.scope import SEPARATOR, in_scope

ENTITY = "founding"
# The words a joint branch's standard name puts between its place and its category.
JOINT_WORDS = "非公有制企业联合"


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
    name: str | None = None  # empty: the standard name (`proposed_name`)
    secretary_source: str | None = None
    # 隶属: the organisation it reports to (挂靠: the one it attaches to), a record or a name.
    parent_id: int | None = None
    parent_name: str | None = None

    def covered(self) -> list[int]:
        return list(dict.fromkeys([self.enterprise_id, *self.enterprise_ids]))


@dataclass(frozen=True)
class NewChange:
    """A change of an existing organisation, on `on`; the fields its kind changes."""

    organisation_id: int
    enterprise_id: int  # the enterprise it is recorded from (one the organisation covers)
    kind: ChangeKind
    on: date
    officer_id: int
    category: str | None = None  # CATEGORY: the new category, and the name that goes with it
    name: str | None = None
    secretary: str | None = None  # SECRETARY
    secretary_source: str | None = None
    leaving: list[int] = field(default_factory=list)  # SPLIT: the enterprises that leave
    own: list[int] = field(default_factory=list)  # and those of them that form their own branch


def standard_name(enterprise_name: str, category: OrgCategory) -> str:
    """The name a new organisation takes by default: 中共<企业名称><支部委员会|总支部委员会|委员会>."""
    return f"中共{enterprise_name}{organisations.FULL_ENDINGS[category]}"


def place_of(firms: Sequence[Enterprise]) -> str:
    """Where a joint branch is: the 园区 or 楼宇 its enterprises share, else the region they
    share below the city (枝江市马家店街道)."""
    locations = {firm.location_name for firm in firms}
    if len(locations) == 1 and (location := locations.pop()):
        return location
    parts = organisations.common_region(firm.region for firm in firms).split(SEPARATOR)
    return "".join(parts[1:] or parts)


def joint_name(place: str, category: OrgCategory) -> str:
    """中共<乡镇/园区>非公有制企业联合支部委员会 (联合总支部委员会 for a 党总支)."""
    return f"中共{place}{JOINT_WORDS}{organisations.FULL_ENDINGS[category]}"


async def proposed_name(session: AsyncSession, firms: Sequence[Enterprise], category: OrgCategory,
                        formation: Formation, *, keep: int | None = None) -> str:
    """The standard name for an organisation of these enterprises, numbered (第二…) when another
    organisation has it already; `keep` may have it (the organisation being corrected)."""
    if formation == Formation.JOINT and len(firms) > 1:
        name = joint_name(place_of(firms), category)
    else:
        name = standard_name(firms[0].name, category)
    return await organisations.free_name(session, name, keep=keep)


async def create(session: AsyncSession, new: NewFounding, *, actor_label: str, now: datetime) -> Founding:
    """Saves the officer's record and founds the organisation it reports; audited."""
    firms = await _enterprises(session, new.covered())
    organisation = await _found(session, new, firms, None, actor_label=actor_label, now=now)
    founding = Founding(
        enterprise_id=new.enterprise_id, organisation_id=organisation.id, action=FoundingAction.FOUND.value,
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
    """The author's correction of a founding: audited as a correction, and back to review; the
    organisation it founded follows it (its fields, its founding date, whom it covers)."""
    before = audit.snapshot(founding)
    firms = await _enterprises(session, new.covered())
    current = await session.get(PartyOrganisation, founding.organisation_id) if founding.organisation_id else None
    if current is not None:
        # Coverage began on the founding date: a corrected date moves that beginning.
        await organisations.move_start(session, current, founding.founded_on, new.founded_on)
    organisation = await _found(session, new, firms, current, actor_label=actor_label, now=now)
    if current is not None:
        # Enterprises dropped from the record leave the organisation it founded, back to the one
        # they had left for it, if any.
        kept = {firm.id for firm in firms}
        for firm in await organisations.covered(session, current.id):
            if firm.id in kept:
                continue
            previous = await organisations.left_for(session, firm, current, new.founded_on)
            await organisations.uncover(session, firm, on=new.founded_on, actor_id=actor_id, actor_label=actor_label,
                                        now=now)
            if previous is not None:
                await organisations.cover(session, previous, [firm], since=new.founded_on, actor_id=actor_id,
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


async def _found(session: AsyncSession, new: NewFounding, firms: list[Enterprise],
                 current: PartyOrganisation | None, *, actor_label: str, now: datetime) -> PartyOrganisation:
    """The organisation the record founds, covering `firms`: new, or for a correction the one it
    founded, updated."""
    category, formation = OrgCategory(new.category), Formation(new.formation)
    name = (new.name or "").strip() or await proposed_name(session, firms, category, formation,
                                                           keep=current.id if current else None)
    if current is None:
        return await organisations.create(
            session, organisations.NewOrganisation(name=name, category=category, formation=formation,
                                                   founded_on=new.founded_on, parent_id=new.parent_id,
                                                   parent_name=new.parent_name, secretary=new.secretary,
                                                   secretary_source=new.secretary_source, members=new.members),
            firms, actor_id=new.officer_id, actor_label=actor_label, now=now)
    await organisations.change(
        session, current, actor_id=new.officer_id, actor_label=actor_label, now=now, category=category,
        formation=formation, secretary=new.secretary, secretary_source=new.secretary_source, members=new.members,
        founded_on=new.founded_on, name=organisations.normalise_name(name), name_inferred=False,
        parent_id=new.parent_id, parent_name=new.parent_name,
    )
    await organisations.cover(session, current, firms, since=new.founded_on, actor_id=new.officer_id,
                              actor_label=actor_label, now=now)
    return current


# ---------------------------------------------------------------- changes


async def record_change(session: AsyncSession, new: NewChange, *, actor_label: str, now: datetime) -> Founding:
    """Changes the organisation as `new` says and saves the officer's record of it; audited."""
    organisation = await session.get_one(PartyOrganisation, new.organisation_id, with_for_update=True)
    change = await _change(session, organisation, new, actor_label=actor_label, now=now)
    founding = Founding(
        enterprise_id=new.enterprise_id, organisation_id=organisation.id, action=FoundingAction.CHANGE.value,
        enterprise_ids=list(new.leaving), founded_on=new.on, officer_id=new.officer_id, change=change,
        created_at=now, updated_at=now, **_as_changed(organisation),
    )
    session.add(founding)
    await session.flush()
    await audit.record(session, actor_id=new.officer_id, actor_label=actor_label, action="create",
                       entity=ENTITY, entity_id=founding.id, after=audit.snapshot(founding))
    return founding


async def correct_change(session: AsyncSession, founding: Founding, new: NewChange, *, actor_id: int,
                         actor_label: str, now: datetime) -> None:
    """The author's correction of a change, of the same kind: the new category or secretary,
    and the date. A split keeps who left (undoing the founding of branches is no correction:
    another change records it); its date moves the coverage and the new branches' founding."""
    before = audit.snapshot(founding)
    organisation = await session.get_one(PartyOrganisation, founding.organisation_id, with_for_update=True)
    change = dict(founding.change or {})
    if change.get("kind") != new.kind:
        raise ValueError(f"a {change.get('kind')} change corrected as a {new.kind} change")
    old = founding.founded_on
    if new.kind == ChangeKind.CATEGORY:
        await _recategorise(session, organisation, new, actor_label=actor_label, now=now)
    elif new.kind == ChangeKind.SECRETARY:
        await organisations.change(session, organisation, actor_id=actor_id, actor_label=actor_label, now=now,
                                   secretary=new.secretary, secretary_source=new.secretary_source)
    elif new.on != old:
        for created_id in change.get("created", []):
            created = await session.get_one(PartyOrganisation, created_id)
            await organisations.move_start(session, created, old, new.on)
            await organisations.change(session, created, actor_id=actor_id, actor_label=actor_label, now=now,
                                       founded_on=new.on)
        await organisations.move_end(session, organisation, founding.enterprise_ids, old, new.on)
        if change.get("dissolved"):
            await organisations.change(session, organisation, actor_id=actor_id, actor_label=actor_label, now=now,
                                       dissolved_on=new.on)
    for key, value in _as_changed(organisation).items():
        setattr(founding, key, value)
    founding.founded_on = new.on
    founding.updated_at = now
    await session.flush()
    await reviews.record_correction(session, entity=ENTITY, entity_id=founding.id, actor_id=actor_id,
                                    actor_label=actor_label, before=before, after=audit.snapshot(founding), now=now)


def _as_changed(organisation: PartyOrganisation) -> dict[str, Any]:
    """The record of a change shows the organisation as the change left it."""
    return {"name": organisation.name, "category": organisation.category, "formation": organisation.formation,
            "secretary": organisation.secretary or "", "secretary_source": organisation.secretary_source,
            "members": organisation.members or 0}


async def _change(session: AsyncSession, organisation: PartyOrganisation, new: NewChange, *, actor_label: str,
                  now: datetime) -> dict[str, Any]:
    """Applies the change; returns what it changed (`Founding.change`)."""
    before: dict[str, str | None]
    if new.kind == ChangeKind.CATEGORY:
        before = {"category": organisation.category, "name": organisation.name}
        await _recategorise(session, organisation, new, actor_label=actor_label, now=now)
        return {"kind": new.kind.value, "from": before}
    if new.kind == ChangeKind.SECRETARY:
        before = {"secretary": organisation.secretary, "secretary_source": organisation.secretary_source}
        await organisations.change(session, organisation, actor_id=new.officer_id, actor_label=actor_label, now=now,
                                   secretary=new.secretary, secretary_source=new.secretary_source)
        return {"kind": new.kind.value, "from": before}
    return await _split(session, organisation, new, actor_label=actor_label, now=now)


async def _recategorise(session: AsyncSession, organisation: PartyOrganisation, new: NewChange, *,
                        actor_label: str, now: datetime) -> None:
    assert new.category is not None and new.name is not None
    await organisations.change(session, organisation, actor_id=new.officer_id, actor_label=actor_label, now=now,
                               category=OrgCategory(new.category), name=organisations.normalise_name(new.name),
                               name_inferred=False)


async def _split(session: AsyncSession, organisation: PartyOrganisation, new: NewChange, *, actor_label: str,
                 now: datetime) -> dict[str, Any]:
    """The enterprises in `new.leaving` leave the joint branch on `new.on`: those in `new.own`
    each found their own 党支部（单独组建）, under the same 隶属; the others have none. A joint
    branch left by every enterprise is dissolved that day."""
    covered = {firm.id for firm in await organisations.covered(session, organisation.id)}
    if not new.leaving or not set(new.leaving) <= covered or not set(new.own) <= set(new.leaving):
        raise ValueError(f"split of organisation {organisation.id}: {new.leaving} do not all belong to it")
    created: list[int] = []
    for firm in await _enterprises(session, list(new.leaving)):
        if firm.id in new.own:
            name = await proposed_name(session, [firm], OrgCategory.BRANCH, Formation.SINGLE)
            branch = await organisations.create(
                session, organisations.NewOrganisation(
                    name=name, category=OrgCategory.BRANCH, formation=Formation.SINGLE, founded_on=new.on,
                    parent_id=organisation.parent_id, parent_name=organisation.parent_name,
                    members=rules.founding_members(firm.party_members, firm.members_here) or None),
                [firm], actor_id=new.officer_id, actor_label=actor_label, now=now)
            created.append(branch.id)
        else:
            await organisations.uncover(session, firm, on=new.on, actor_id=new.officer_id, actor_label=actor_label,
                                        now=now)
    dissolved = covered <= set(new.leaving)
    if dissolved:
        await organisations.change(session, organisation, actor_id=new.officer_id, actor_label=actor_label, now=now,
                                   dissolved_on=new.on)
    return {"kind": ChangeKind.SPLIT.value, "own": list(new.own), "created": created, "dissolved": dissolved}


async def get_in_scope(session: AsyncSession, founding_id: int, scope: str,
                       action: FoundingAction | None = None) -> Founding | None:
    """The record if its enterprise lies in the scope (and it reports `action`, if given)."""
    query = (select(Founding).join(Enterprise, Enterprise.id == Founding.enterprise_id)
             .where(Founding.id == founding_id, in_scope(Enterprise.region, scope)))
    if action is not None:
        query = query.where(Founding.action == action.value)
    return await session.scalar(query)


async def action_of(session: AsyncSession, founding_id: int) -> str | None:
    """Whether the record reports a founding or a change (None: no such record)."""
    return await session.scalar(select(Founding.action).where(Founding.id == founding_id))


async def found_in_scope(session: AsyncSession, founding_id: int, scope: str) -> Founding | None:
    return await get_in_scope(session, founding_id, scope, FoundingAction.FOUND)


async def change_in_scope(session: AsyncSession, founding_id: int, scope: str) -> Founding | None:
    return await get_in_scope(session, founding_id, scope, FoundingAction.CHANGE)
