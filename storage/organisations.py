"""Party organisations 党组织 as records: founding, covering enterprises, changing, and the
name rules of a county's registry.

An enterprise belongs to at most one organisation at a time. This module is the one writer of
that link: `cover` closes the enterprise's current `PartyOrgCoverage` row (if any) and opens
one for the new organisation, and keeps `Enterprise.party_org_id` in step, so a query can read
the current organisation off the enterprise and a report the history off the coverage rows.
Every write is audited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from storage import audit
from storage.enums import Formation, OrgCategory
from storage.models import Enterprise, PartyOrganisation, PartyOrgCoverage
from storage.scope import SEPARATOR, in_scope

ENTITY = "party_organisation"
# The suffix of a name made up for an organisation whose name is not known.
INFERRED_SUFFIX = "党组织"

# How a registry names an organisation's category, longest first (总支部委员会 before 支部委员会
# before 委员会), with the short forms: 党委、党总支、党支部.
_CATEGORY_ENDINGS: tuple[tuple[str, OrgCategory], ...] = (
    ("总支部委员会", OrgCategory.GENERAL_BRANCH),
    ("总支委员会", OrgCategory.GENERAL_BRANCH),
    ("党总支", OrgCategory.GENERAL_BRANCH),
    ("总支部", OrgCategory.GENERAL_BRANCH),
    ("总支", OrgCategory.GENERAL_BRANCH),
    ("支部委员会", OrgCategory.BRANCH),
    ("党支部", OrgCategory.BRANCH),
    ("支部", OrgCategory.BRANCH),
    ("委员会", OrgCategory.COMMITTEE),
    ("党委", OrgCategory.COMMITTEE),
)
# A joint organisation says so (联合党支部, 联合支部委员会, 联合党总支).
_JOINT = re.compile(r"联合(党)?(总)?支")
# The endings a name takes for each category: the full form, and the short one (党支部).
FULL_ENDINGS = {OrgCategory.BRANCH: "支部委员会", OrgCategory.GENERAL_BRANCH: "总支部委员会",
                OrgCategory.COMMITTEE: "委员会"}
SHORT_ENDINGS = {OrgCategory.BRANCH: "党支部", OrgCategory.GENERAL_BRANCH: "党总支", OrgCategory.COMMITTEE: "党委"}
_NUMERALS = "零一二三四五六七八九"


def normalise_name(name: str) -> str:
    """The name as records are matched by it: full-width folded, blanks removed."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def classify_name(name: str) -> tuple[OrgCategory, Formation] | None:
    """What a full name says: 中共…支部委员会 → (党支部, 单独组建), …联合党支部 → (党支部, 联合组建),
    …总支部委员会 → 党总支, …委员会 → 党委; None when the name names no category."""
    cleaned = normalise_name(name)
    for ending, category in _CATEGORY_ENDINGS:
        if cleaned.endswith(ending):
            formation = Formation.JOINT if _JOINT.search(cleaned) else Formation.SINGLE
            return category, formation
    return None


def _ending(name: str) -> tuple[str, str] | None:
    """(the name without its category ending, the ending) of a normalised name."""
    for ending, _ in _CATEGORY_ENDINGS:
        if name.endswith(ending):
            return name[: -len(ending)], ending
    return None


def renamed(name: str, category: OrgCategory) -> str | None:
    """The same organisation's name in another category, as registries write it: 中共X支部委员会
    → 中共X委员会 (党委), 中共X联合党支部 → 中共X联合党总支; None when the name says no category."""
    parts = _ending(normalise_name(name))
    if parts is None:
        return None
    stem, ending = parts
    return stem + (SHORT_ENDINGS if ending.startswith("党") else FULL_ENDINGS)[category]


def numeral(n: int) -> str:
    """2 → 二, 12 → 十二, 20 → 二十 (up to 99), as an ordinal in a name (第二支部委员会)."""
    if n < 10:
        return _NUMERALS[n]
    tens, units = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens]) + "十" + (_NUMERALS[units] if units else "")


def numbered(name: str, n: int) -> str:
    """The `n`-th organisation of that name: 中共X联合支部委员会 → 中共X第二联合支部委员会."""
    cleaned = normalise_name(name)
    stem, ending = _ending(cleaned) or (cleaned, "")
    joint = "联合" if stem.endswith("联合") else ""
    return f"{stem.removesuffix(joint)}第{numeral(n)}{joint}{ending}"


async def free_name(session: AsyncSession, name: str, *, keep: int | None = None) -> str:
    """`name`, or the first of its numbered forms (第二…) that no other organisation has;
    organisation `keep` may have it (the one being corrected or renamed)."""
    for n in range(1, 100):
        candidate = normalise_name(name) if n == 1 else numbered(name, n)
        found = await by_name(session, candidate)
        if found is None or found.id == keep:
            return candidate
    raise ValueError(f"no free name like {name}")


def common_region(regions: Iterable[str]) -> str:
    """The deepest region every one of `regions` lies in (where an organisation is counted)."""
    paths = [region.split(SEPARATOR) for region in regions]
    if not paths:
        raise ValueError("no region")
    shared: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return SEPARATOR.join(shared) if shared else paths[0][0]


def inferred_name(enterprise_name: str) -> str:
    return f"{enterprise_name}{INFERRED_SUFFIX}"


@dataclass(frozen=True)
class NewOrganisation:
    name: str
    category: OrgCategory
    formation: Formation
    founded_on: date | None = None
    name_inferred: bool = False
    parent_name: str | None = None
    parent_id: int | None = None
    secretary: str | None = None
    secretary_source: str | None = None
    members: int | None = None


async def by_name(session: AsyncSession, name: str) -> PartyOrganisation | None:
    """The organisation of that (normalised) name, if the registry has one."""
    wanted = normalise_name(name)
    for found in await session.scalars(select(PartyOrganisation).where(PartyOrganisation.name == wanted)):
        return found
    return None


async def get_in_scope(session: AsyncSession, organisation_id: int, scope: str) -> PartyOrganisation | None:
    """The organisation if it is counted within the scope (every enterprise it was formed for
    lies in it); None for another region's id (forged or stale)."""
    return await session.scalar(select(PartyOrganisation).where(PartyOrganisation.id == organisation_id,
                                                                in_scope(PartyOrganisation.region, scope)))


async def search(session: AsyncSession, scope: str, text: str, limit: int = 8) -> list[PartyOrganisation]:
    """Organisations in the scope, not dissolved, whose name contains the text (shortest first)."""
    wanted = normalise_name(text)
    if not wanted:
        return []
    return list(await session.scalars(
        select(PartyOrganisation)
        .where(in_scope(PartyOrganisation.region, scope), PartyOrganisation.dissolved_on.is_(None),
               PartyOrganisation.name.contains(wanted, autoescape=True))
        .order_by(func.length(PartyOrganisation.name), PartyOrganisation.name, PartyOrganisation.id).limit(limit)))


async def create(session: AsyncSession, new: NewOrganisation, enterprises: Sequence[Enterprise], *,
                 actor_id: int | None, actor_label: str, now: datetime) -> PartyOrganisation:
    """Records the organisation and makes it cover `enterprises` from its founding date."""
    if not enterprises:
        raise ValueError("an organisation covers at least one enterprise")
    organisation = PartyOrganisation(
        name=normalise_name(new.name), name_inferred=new.name_inferred, category=new.category.value,
        formation=new.formation.value, parent_id=new.parent_id, parent_name=new.parent_name,
        region=common_region(e.region for e in enterprises), founded_on=new.founded_on, secretary=new.secretary,
        secretary_source=new.secretary_source, members=new.members, created_at=now, updated_at=now,
    )
    session.add(organisation)
    await session.flush()
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="create", entity=ENTITY,
                       entity_id=organisation.id, after=audit.snapshot(organisation))
    await cover(session, organisation, enterprises, since=new.founded_on, actor_id=actor_id, actor_label=actor_label,
                now=now)
    return organisation


async def cover(session: AsyncSession, organisation: PartyOrganisation, enterprises: Iterable[Enterprise], *,
                since: date | None, actor_id: int | None, actor_label: str, now: datetime) -> list[Enterprise]:
    """Makes `organisation` cover the enterprises from `since` (None: since before anyone knew),
    ending the coverage of any other organisation that day; those it covered already are
    left as they are. Returns the enterprises whose organisation changed."""
    changed: list[Enterprise] = []
    for enterprise in enterprises:
        if enterprise.party_org_id == organisation.id:
            continue
        before = enterprise.party_org_id
        await _end_coverage(session, enterprise.id, since)
        session.add(PartyOrgCoverage(enterprise_id=enterprise.id, organisation_id=organisation.id, started_on=since))
        enterprise.party_org_id = organisation.id
        enterprise.unformed_reason = None  # it has one now
        enterprise.updated_at = now
        changed.append(enterprise)
        await session.flush()
        await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="cover", entity="enterprise",
                           entity_id=enterprise.id, before={"party_org_id": before},
                           after={"party_org_id": organisation.id})
    return changed


async def uncover(session: AsyncSession, enterprise: Enterprise, *, on: date, actor_id: int | None,
                  actor_label: str, now: datetime) -> None:
    """The enterprise is covered by no organisation from `on` (it left a joint branch, the
    organisation was dissolved)."""
    if enterprise.party_org_id is None:
        return
    before = enterprise.party_org_id
    await _end_coverage(session, enterprise.id, on)
    enterprise.party_org_id = None
    enterprise.updated_at = now
    await session.flush()
    await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="uncover", entity="enterprise",
                       entity_id=enterprise.id, before={"party_org_id": before}, after={"party_org_id": None})


async def left_for(session: AsyncSession, enterprise: Enterprise, organisation: PartyOrganisation,
                   on: date | None) -> PartyOrganisation | None:
    """The organisation the enterprise left on `on` to join `organisation`, if it still exists."""
    previous = await session.scalar(
        select(PartyOrgCoverage.organisation_id)
        .where(PartyOrgCoverage.enterprise_id == enterprise.id, PartyOrgCoverage.organisation_id != organisation.id,
               PartyOrgCoverage.ended_on == on)
        .order_by(PartyOrgCoverage.id.desc()).limit(1))
    found = await session.get(PartyOrganisation, previous) if previous is not None else None
    return found if found is not None and found.dissolved_on is None else None


async def move_start(session: AsyncSession, organisation: PartyOrganisation, old: date, new: date) -> None:
    """The organisation's coverage begins on `new`, not `old` (a corrected founding date): its
    rows that started on `old` start on `new`, and so do the ends of the rows of the
    organisations its enterprises left that day."""
    if old == new:
        return
    rows = list(await session.scalars(select(PartyOrgCoverage).where(
        PartyOrgCoverage.organisation_id == organisation.id, PartyOrgCoverage.started_on == old)))
    for row in rows:
        row.started_on = new
        await session.execute(update(PartyOrgCoverage).where(
            PartyOrgCoverage.enterprise_id == row.enterprise_id, PartyOrgCoverage.organisation_id != organisation.id,
            PartyOrgCoverage.ended_on == old).values(ended_on=new))
    await session.flush()


async def move_end(session: AsyncSession, organisation: PartyOrganisation, enterprise_ids: Iterable[int], old: date,
                   new: date) -> None:
    """The enterprises left the organisation on `new`, not `old` (a corrected date of a split)."""
    await session.execute(update(PartyOrgCoverage).where(
        PartyOrgCoverage.organisation_id == organisation.id, PartyOrgCoverage.enterprise_id.in_(list(enterprise_ids)),
        PartyOrgCoverage.ended_on == old).values(ended_on=new))
    await session.flush()


async def _end_coverage(session: AsyncSession, enterprise_id: int, on: date | None) -> None:
    await session.execute(update(PartyOrgCoverage).where(PartyOrgCoverage.enterprise_id == enterprise_id,
                                                         PartyOrgCoverage.ended_on.is_(None))
                          .values(ended_on=on))


async def change(session: AsyncSession, organisation: PartyOrganisation, *, actor_id: int | None, actor_label: str,
                 now: datetime, **values: Any) -> dict[str, Any]:
    """Changes the organisation's fields (a 党支部 becoming a 党委, a new secretary); audited.
    Returns what changed, before and after."""
    old, new = amend(organisation, now=now, **values)
    organisation.updated_at = now
    await session.flush()
    if old or new:
        await audit.record(session, actor_id=actor_id, actor_label=actor_label, action="update", entity=ENTITY,
                           entity_id=organisation.id, before=old, after=new)
    return new


def amend(organisation: PartyOrganisation, *, now: datetime, **values: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sets the organisation's fields without flushing; returns what changed (before, after),
    JSON-safe, for the audit entry the caller writes (`change` does; an import writes them all
    at once)."""
    before = audit.snapshot(organisation)
    for key, value in values.items():
        if not hasattr(PartyOrganisation, key):
            raise AttributeError(key)
        setattr(organisation, key, value.value if hasattr(value, "value") else value)
    old, new = audit.changed(before, audit.snapshot(organisation))
    if old or new:
        organisation.updated_at = now
    return old, new


async def covered(session: AsyncSession, organisation_id: int) -> list[Enterprise]:
    """The enterprises the organisation covers now, by name."""
    return list(await session.scalars(select(Enterprise).where(Enterprise.party_org_id == organisation_id)
                                      .order_by(Enterprise.name, Enterprise.id)))


async def of_enterprise(session: AsyncSession, enterprise: Enterprise) -> PartyOrganisation | None:
    if enterprise.party_org_id is None:
        return None
    return await session.get(PartyOrganisation, enterprise.party_org_id)


# --- in bulk: a county's registry imported at once ----------------------------------------
#
# The functions above write one organisation or enterprise at a time through the ORM, with a
# flush each: right for an officer's /found, slow for a registry of thousands of rows. These
# write the same rows and audit entries with one statement per kind of row.


@dataclass(frozen=True)
class Move:
    """An enterprise leaving the organisation `before` (None: it had none) for `after` (None:
    it has none now). The new coverage starts `since` (None: before the registry knew); the
    old one ends `ended_on`."""

    enterprise_id: int
    before: int | None
    after: int | None
    since: date | None
    ended_on: date


async def create_many(session: AsyncSession, new: Sequence[tuple[NewOrganisation, str]], *, actor_id: int | None,
                      actor_label: str, now: datetime) -> dict[str, int]:
    """Records each organisation with the region it is counted in, audited; returns their ids
    by (normalised) name. They cover nobody yet: `move_many` makes them cover their enterprises.
    The names must be new: the ids are read back by name."""
    if not new:
        return {}
    rows = [_organisation_row(organisation, region, now) for organisation, region in new]
    await session.execute(insert(PartyOrganisation).execution_options(render_nulls=True), rows)
    names = [row["name"] for row in rows]
    ids: dict[str, int] = {}
    for start in range(0, len(names), _IN_CHUNK):
        found = await session.execute(select(PartyOrganisation.name, PartyOrganisation.id)
                                      .where(PartyOrganisation.name.in_(names[start:start + _IN_CHUNK])))
        ids.update(found.tuples().all())
    await audit.record_many(session, [
        audit.entry(actor_id=actor_id, actor_label=actor_label, action="create", entity=ENTITY,
                    entity_id=ids[row["name"]], at=now, after={"id": ids[row["name"]]} | _json_safe(row))
        for row in rows
    ])
    return ids


def _organisation_row(new: NewOrganisation, region: str, now: datetime) -> dict[str, Any]:
    # The same columns, in the same form, as `create` gives the ORM object.
    return {
        "name": normalise_name(new.name), "name_inferred": new.name_inferred, "category": new.category.value,
        "formation": new.formation.value, "parent_id": new.parent_id, "parent_name": new.parent_name,
        "region": region, "founded_on": new.founded_on, "dissolved_on": None, "secretary": new.secretary,
        "secretary_source": new.secretary_source, "members": new.members, "created_at": now, "updated_at": now,
    }


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date | datetime) else value for key, value in values.items()}


async def move_many(session: AsyncSession, moves: Sequence[Move], *, actor_id: int | None, actor_label: str,
                    now: datetime) -> None:
    """What `cover` and `uncover` do for one enterprise each, for all of `moves` at once: the old
    coverage ends, the new one starts, `Enterprise.party_org_id` follows (an enterprise covered
    now has no 未建立党组织原因), and each move is audited as `cover` or `uncover`."""
    if not moves:
        return
    coverage, enterprises = cast(Table, PartyOrgCoverage.__table__), cast(Table, Enterprise.__table__)
    leaving = [{"b_enterprise": m.enterprise_id, "b_ended": m.ended_on} for m in moves if m.before is not None]
    if leaving:
        await session.execute(update(coverage).where(coverage.c.enterprise_id == bindparam("b_enterprise"),
                                                     coverage.c.ended_on.is_(None))
                              .values(ended_on=bindparam("b_ended")), leaving)
    joining = [m for m in moves if m.after is not None]
    if joining:
        await session.execute(insert(coverage).execution_options(render_nulls=True), [
            {"enterprise_id": m.enterprise_id, "organisation_id": m.after, "started_on": m.since, "ended_on": None}
            for m in joining
        ])
        await session.execute(update(enterprises).where(enterprises.c.id == bindparam("b_id"))
                              .values(party_org_id=bindparam("b_org"), unformed_reason=None, updated_at=now),
                              [{"b_id": m.enterprise_id, "b_org": m.after} for m in joining])
    left = [m for m in moves if m.after is None]
    if left:
        await session.execute(update(enterprises).where(enterprises.c.id == bindparam("b_id"))
                              .values(party_org_id=None, updated_at=now), [{"b_id": m.enterprise_id} for m in left])
    _refresh_loaded(session, moves, now)
    await audit.record_many(session, [
        audit.entry(actor_id=actor_id, actor_label=actor_label, action="cover" if m.after is not None else "uncover",
                    entity="enterprise", entity_id=m.enterprise_id, at=now, before={"party_org_id": m.before},
                    after={"party_org_id": m.after})
        for m in moves
    ])


def _refresh_loaded(session: AsyncSession, moves: Sequence[Move], now: datetime) -> None:
    """Enterprises the session holds see the values just written without a reload (and a later
    flush of theirs does not write the old ones back)."""
    loaded = session.sync_session.identity_map
    for move in moves:
        enterprise = loaded.get(identity_key(Enterprise, move.enterprise_id))
        if enterprise is None:
            continue
        set_committed_value(enterprise, "party_org_id", move.after)
        set_committed_value(enterprise, "updated_at", now)
        if move.after is not None:
            set_committed_value(enterprise, "unformed_reason", None)


async def date_coverage(session: AsyncSession, organisation_ids: Sequence[int]) -> None:
    """Coverage recorded "since before the registry knew" starts on the organisation's founding
    date once that is known: no enterprise was covered before its organisation existed."""
    if not organisation_ids:
        return
    coverage = cast(Table, PartyOrgCoverage.__table__)
    founded = select(PartyOrganisation.founded_on).where(PartyOrganisation.id == coverage.c.organisation_id)
    for start in range(0, len(organisation_ids), _IN_CHUNK):
        await session.execute(update(coverage).where(
            coverage.c.organisation_id.in_(organisation_ids[start:start + _IN_CHUNK]),
            coverage.c.started_on.is_(None)).values(started_on=founded.scalar_subquery()))


async def covering_counts(session: AsyncSession, organisation_ids: Iterable[int]) -> dict[int, int]:
    """How many enterprises each organisation covers now."""
    wanted = sorted(set(organisation_ids))
    counts: dict[int, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        found = await session.execute(
            select(Enterprise.party_org_id, func.count()).where(Enterprise.party_org_id.in_(wanted[start:start + _IN_CHUNK]))
            .group_by(Enterprise.party_org_id))
        counts.update((org_id, count) for org_id, count in found.tuples() if org_id is not None)
    return counts


async def by_names(session: AsyncSession, names: Iterable[str]) -> dict[str, PartyOrganisation]:
    """The organisations of these (normalised) names the registry has, by name (the first
    recorded where a name is given twice, as `by_name`)."""
    wanted = sorted({normalise_name(name) for name in names})
    found: dict[str, PartyOrganisation] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        for organisation in await session.scalars(select(PartyOrganisation).where(
                PartyOrganisation.name.in_(wanted[start:start + _IN_CHUNK])).order_by(PartyOrganisation.id)):
            found.setdefault(organisation.name, organisation)
    return found


async def by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, PartyOrganisation]:
    wanted = sorted(set(ids))
    found: dict[int, PartyOrganisation] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        found.update((o.id, o) for o in await session.scalars(
            select(PartyOrganisation).where(PartyOrganisation.id.in_(wanted[start:start + _IN_CHUNK]))))
    return found


# Values per `IN (...)`: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 500
