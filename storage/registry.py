"""The enterprise registry, as an import writes it: idempotent by unified social credit code.

An imported file is the registry's source for the values it has. Re-importing the same file
changes nothing; a corrected file changes only what differs, with an audit entry saying what.
A field the file leaves blank (or has no column for) keeps its stored value: a partial sheet
must not wipe head counts that visits reported since. New enterprises take the model defaults
for such fields (no party organisation, a 30-day cadence).

Officers named in the file become the enterprise's current officers: assignments to anyone
else are closed (officers rotate; the history is kept), missing ones are opened.

New rows, audit entries, head-count records and assignments are written with one executemany
per chunk rather than one ORM object each: on SQLite the ORM cannot batch INSERT … RETURNING,
and a 10,000-row file took 20 s that way instead of about 2. The audit rows have exactly the
shape `audit.record` gives them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, creditcode, organisations, scope
from storage.enums import EnterpriseKind, Formation, MassOrg, OrgCategory, Role
from storage.models import Assignment, Base, Enterprise, HeadcountRecord, User, utcnow
from storage.pinyin import initials

logger = logging.getLogger(__name__)

# Rows per `IN (...)` query and per flush: well under SQLite's and PostgreSQL's parameter limits,
# and large enough that a 10,000-row file takes a handful of round trips.
CHUNK = 500

# What a new enterprise holds where the file gives nothing: the model's defaults, spelled out
# because a bulk INSERT needs the same keys in every row.
NEW_DEFAULTS: dict[str, Any] = {
    "kind": EnterpriseKind.PRIVATE.value,
    "industry": None,
    "employees": None,
    "party_members": None,
    "mass_orgs": [],
    "owner_name": None,
    "owner_political_status": None,
    "demonstration_point": False,
    "visit_cadence_days": 30,
}

# Record fields copied onto `Enterprise` as they are (None = not given: keep the stored value).
_PLAIN_FIELDS = (
    "name",
    "region",
    "industry",
    "employees",
    "party_members",
    "owner_name",
    "owner_political_status",
    "demonstration_point",
    "visit_cadence_days",
)


@dataclass(frozen=True)
class OrgRecord:
    """What a registry row says of the enterprise's party organisation: a name (full, as
    中共…支部委员会, or None when the row only gives its kind), its category and way of forming,
    and its founding date when the row has one. `NO_ORGANISATION` is a row that says 无."""

    name: str | None
    category: OrgCategory | None
    formation: Formation | None
    founded_on: date | None = None

    @property
    def none(self) -> bool:
        return self.category is None


NO_ORGANISATION = OrgRecord(None, None, None)


@dataclass(frozen=True)
class EnterpriseRecord:
    """One validated registry row. None means "not given": kept on update, default on insert."""

    credit_code: str
    name: str
    region: str
    kind: EnterpriseKind | None = None
    industry: str | None = None
    employees: int | None = None
    party_members: int | None = None
    # None: the row says nothing of it (kept); `NO_ORGANISATION`: it has none.
    organisation: OrgRecord | None = None
    # A tuple keeps the record immutable; an explicit "无" in the file is the empty tuple.
    mass_orgs: tuple[MassOrg, ...] | None = None
    owner_name: str | None = None
    owner_political_status: str | None = None
    demonstration_point: bool | None = None
    visit_cadence_days: int | None = None
    # Names of the officers who look after it now; empty leaves the assignments as they are.
    officers: tuple[str, ...] = ()
    # The source row, so problems found while writing can point at it.
    row_number: int | None = None

    def __post_init__(self) -> None:
        # The importer validates with row-level messages; this guards every other caller
        # (demo data, the bot's admin commands) against writing what the importer would refuse.
        if creditcode.problem(self.credit_code) is not None:
            raise ValueError(f"invalid credit code {self.credit_code!r}")
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "region", scope.normalize_region(self.region))
        if not self.name or not self.region:
            raise ValueError("an enterprise needs a name and a region")

    def values(self) -> dict[str, Any]:
        """The enterprise columns this record sets, as stored (codes as plain strings)."""
        values: dict[str, Any] = {
            key: getattr(self, key) for key in _PLAIN_FIELDS if getattr(self, key) is not None
        }
        if self.kind is not None:
            values["kind"] = self.kind.value
        if self.mass_orgs is not None:
            values["mass_orgs"] = [org.value for org in self.mass_orgs]
        return values


@dataclass(frozen=True)
class RowProblem:
    """Something about a row that was imported anyway: `officer_unknown`, `officer_ambiguous`."""

    row_number: int | None
    credit_code: str
    kind: str
    value: str
    count: int = 0


@dataclass(frozen=True)
class _Actor:
    """Who the audit entries name: a user of the bot, or the operator's command line."""

    id: int | None
    label: str

    def entry(
        self,
        action: str,
        entity: str,
        entity_id: int,
        at: datetime,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An audit row for `audit.record_many`, one executemany per chunk."""
        return audit.entry(actor_id=self.id, actor_label=self.label, action=action, entity=entity,
                           entity_id=entity_id, at=at, before=before, after=after)


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    assignments_opened: int = 0
    assignments_closed: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, other: UpsertResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.assignments_opened += other.assignments_opened
        self.assignments_closed += other.assignments_closed
        self.problems.extend(other.problems)


def _chunks(items: Sequence[EnterpriseRecord], size: int) -> Iterable[Sequence[EnterpriseRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _officers_by_name(session: AsyncSession) -> dict[str, list[User]]:
    officers = await session.scalars(
        select(User).where(User.role == Role.OFFICER.value, User.active.is_(True))
    )
    by_name: dict[str, list[User]] = defaultdict(list)
    for officer in officers:
        by_name[officer.name].append(officer)
    return by_name


def _resolve_officer(candidates: list[User], region: str) -> User | None:
    """The one officer of that name whose region covers the enterprise (an officer may only
    report on enterprises in their own region); namesakes are told apart the same way."""
    covering = [officer for officer in candidates if scope.covers(officer.region, region)]
    if len(covering) == 1:
        return covering[0]
    # Namesakes at several levels of one region path: the nearest one is the one on the spot.
    if covering:
        deepest = max(len(officer.region) for officer in covering)
        nearest = [officer for officer in covering if len(officer.region) == deepest]
        if len(nearest) == 1:
            return nearest[0]
    return None


async def upsert_enterprises(
    session: AsyncSession,
    rows: list[EnterpriseRecord],
    *,
    today: date,
    actor_label: str = audit.CLI_ACTOR,
    actor_id: int | None = None,
) -> UpsertResult:
    """Inserts new credit codes and updates changed fields of known ones; never commits.

    A code given twice in `rows` is written once, with the later row's values.
    """
    result = UpsertResult()
    if not rows:
        return result
    latest: dict[str, EnterpriseRecord] = {}
    for record in rows:
        latest.pop(record.credit_code, None)  # re-inserting keeps the later row's position
        latest[record.credit_code] = record
    records = list(latest.values())
    officers = await _officers_by_name(session) if any(r.officers for r in records) else {}
    actor = _Actor(actor_id, actor_label)
    for chunk in _chunks(records, CHUNK):
        await _upsert_chunk(session, chunk, officers, today, actor, result)
    logger.info(
        "Registry upsert: %d created, %d updated, %d unchanged, %d problems",
        result.created, result.updated, result.unchanged, len(result.problems),
    )
    return result


async def _upsert_chunk(
    session: AsyncSession,
    records: Sequence[EnterpriseRecord],
    officers: dict[str, list[User]],
    today: date,
    actor: _Actor,
    result: UpsertResult,
) -> None:
    existing = {
        enterprise.credit_code: enterprise
        for enterprise in await session.scalars(
            select(Enterprise).where(Enterprise.credit_code.in_([r.credit_code for r in records]))
        )
    }
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    headcount_rows: list[dict[str, Any]] = []
    touched: set[str] = set()
    for record in records:
        values = record.values()
        enterprise = existing.get(record.credit_code)
        if enterprise is None:
            identity = {"credit_code": record.credit_code, "name_initials": initials(record.name)}
            new_rows.append(NEW_DEFAULTS | values | identity | {"created_at": now, "updated_at": now})
            continue
        changes = {key: value for key, value in values.items() if getattr(enterprise, key) != value}
        if not changes:
            continue
        before = {key: getattr(enterprise, key) for key in changes}
        for key, value in changes.items():
            setattr(enterprise, key, value)
        if "name" in changes:
            enterprise.name_initials = initials(enterprise.name)
        old, new = audit.changed(_json_safe(before), _json_safe(changes))
        audit_rows.append(actor.entry("update", "enterprise", enterprise.id, now, before=old, after=new))
        # Head counts keep a history (DESIGN.md › Visit report); an import is one more report.
        if "employees" in changes or "party_members" in changes:
            headcount_rows.append(_headcount(enterprise.id, enterprise.employees, enterprise.party_members, actor, now))
        touched.add(record.credit_code)

    targets = {code: (e.id, e.region) for code, e in existing.items()}
    if new_rows:
        targets |= await _insert_enterprises(session, new_rows)
        for row in new_rows:
            enterprise_id = targets[row["credit_code"]][0]
            snapshot = {"id": enterprise_id} | _json_safe(row)
            audit_rows.append(actor.entry("create", "enterprise", enterprise_id, now, after=snapshot))
            if row["employees"] is not None or row["party_members"] is not None:
                headcount_rows.append(_headcount(enterprise_id, row["employees"], row["party_members"], actor, now))

    reassigned = await _assign(session, records, targets, officers, today, actor, now, audit_rows, result)
    touched |= reassigned - {row["credit_code"] for row in new_rows}
    touched |= await _organise(session, records, actor, now) - {row["credit_code"] for row in new_rows}
    if headcount_rows:
        await session.execute(_bulk_insert(HeadcountRecord), headcount_rows)
    await audit.record_many(session, audit_rows)
    await session.flush()

    result.created += len(new_rows)
    result.updated += len(touched)
    result.unchanged += len(records) - len(new_rows) - len(touched)


async def _insert_enterprises(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Inserts with one executemany and reads the new ids back by credit code.

    Adding ORM objects instead would cost one INSERT … RETURNING round trip per row on SQLite
    (SQLAlchemy cannot batch RETURNING there without a sentinel column): 20 s for 10,000 rows.
    """
    await session.execute(_bulk_insert(Enterprise), rows)
    codes = [row["credit_code"] for row in rows]
    found = await session.execute(
        select(Enterprise.credit_code, Enterprise.id, Enterprise.region).where(Enterprise.credit_code.in_(codes))
    )
    return {code: (enterprise_id, region) for code, enterprise_id, region in found.tuples()}


def _bulk_insert(model: type[Base]) -> Insert:
    # render_nulls: without it the ORM leaves None out of a row and batches rows by which
    # columns are None, which splits one executemany into thousands of statements.
    return insert(model).execution_options(render_nulls=True)


def _headcount(
    enterprise_id: int, employees: int | None, party_members: int | None, actor: _Actor, now: datetime
) -> dict[str, Any]:
    return {
        "enterprise_id": enterprise_id,
        "visit_id": None,
        "employees": employees,
        "party_members": party_members,
        "recorded_by_id": actor.id,
        "recorded_at": now,
    }


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in values.items()}


async def _assign(
    session: AsyncSession,
    records: Sequence[EnterpriseRecord],
    targets: dict[str, tuple[int, str]],
    officers: dict[str, list[User]],
    today: date,
    actor: _Actor,
    now: datetime,
    audit_rows: list[dict[str, Any]],
    result: UpsertResult,
) -> set[str]:
    """Makes the named officers the current ones; returns the codes whose assignments changed."""
    # enterprise id -> (row, officers found, whether every name was found)
    wanted: dict[int, tuple[EnterpriseRecord, set[int], bool]] = {}
    for record in records:
        if not record.officers:
            continue
        enterprise_id, region = targets[record.credit_code]
        chosen: set[int] = set()
        for name in record.officers:
            candidates = officers.get(name, [])
            officer = _resolve_officer(candidates, region) if candidates else None
            if officer is None:
                covering = [c for c in candidates if scope.covers(c.region, region)]
                kind = "officer_ambiguous" if covering else "officer_outside" if candidates else "officer_unknown"
                result.problems.append(
                    RowProblem(record.row_number, record.credit_code, kind, name, len(candidates))
                )
                continue
            chosen.add(officer.id)
        if chosen:
            wanted[enterprise_id] = (record, chosen, len(chosen) == len(record.officers))
    if not wanted:
        return set()

    current: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in await session.scalars(
        select(Assignment).where(Assignment.enterprise_id.in_(list(wanted)), Assignment.ended_on.is_(None))
    ):
        current[assignment.enterprise_id].append(assignment)

    changed_codes: set[str] = set()
    opened: list[dict[str, Any]] = []
    for enterprise_id, (record, chosen, complete) in wanted.items():
        for assignment in current[enterprise_id]:
            # A name that could not be resolved must not end anyone's assignment: the row
            # says who should look after the enterprise, and that person was not found.
            if assignment.officer_id in chosen or not complete:
                continue
            assignment.ended_on = today
            changed_codes.add(record.credit_code)
            result.assignments_closed += 1
            audit_rows.append(
                actor.entry(
                    "unassign", "assignment", assignment.id, now,
                    before={"ended_on": None}, after={"ended_on": today.isoformat()},
                )
            )
        assigned = {assignment.officer_id for assignment in current[enterprise_id]}
        for officer_id in sorted(chosen - assigned):
            opened.append(
                {"enterprise_id": enterprise_id, "officer_id": officer_id, "started_on": today, "ended_on": None}
            )
            changed_codes.add(record.credit_code)
    if not opened:
        return changed_codes

    await session.execute(_bulk_insert(Assignment), opened)
    new_ids = await session.execute(
        select(Assignment.id, Assignment.enterprise_id, Assignment.officer_id).where(
            Assignment.enterprise_id.in_({row["enterprise_id"] for row in opened}),
            Assignment.ended_on.is_(None),
            Assignment.started_on == today,
        )
    )
    pairs = {(row["enterprise_id"], row["officer_id"]) for row in opened}
    for assignment_id, enterprise_id, officer_id in new_ids.tuples():
        if (enterprise_id, officer_id) not in pairs:
            continue  # opened earlier today, by another import or by hand
        result.assignments_opened += 1
        audit_rows.append(
            actor.entry(
                "assign", "assignment", assignment_id, now,
                after={"enterprise_id": enterprise_id, "officer_id": officer_id, "started_on": today.isoformat()},
            )
        )
    return changed_codes


async def _organise(session: AsyncSession, records: Sequence[EnterpriseRecord], actor: _Actor,
                    now: datetime) -> set[str]:
    """Applies what the rows say of party organisations: an organisation named in a row is found
    by its name or created (a row giving only its kind gets one named after the enterprise,
    flagged `name_inferred`), and covers the row's enterprise from its founding date; a row
    that says 无 leaves the enterprise without one. Returns the codes whose organisation changed."""
    said = [r for r in records if r.organisation is not None]
    if not said:
        return set()
    firms = {e.credit_code: e for e in await session.scalars(
        select(Enterprise).where(Enterprise.credit_code.in_([r.credit_code for r in said])))}
    changed: set[str] = set()
    for record in said:
        org, enterprise = record.organisation, firms[record.credit_code]
        assert org is not None
        if org.none:
            if enterprise.party_org_id is not None:
                await organisations.uncover(session, enterprise, on=None, actor_id=actor.id, actor_label=actor.label,
                                            now=now)
                changed.add(record.credit_code)
            continue
        assert org.category is not None and org.formation is not None
        name = org.name or organisations.inferred_name(enterprise.name)
        current = await organisations.of_enterprise(session, enterprise)
        if org.name is None and current is not None and (current.category, current.formation) == (
                org.category.value, org.formation.value):
            continue  # only its kind given, and the kind it has
        found = await organisations.by_name(session, name)
        if found is None:
            await organisations.create(session, organisations.NewOrganisation(
                name=name, category=org.category, formation=org.formation, founded_on=org.founded_on,
                name_inferred=org.name is None), [enterprise], actor_id=actor.id, actor_label=actor.label, now=now)
            changed.add(record.credit_code)
            continue
        if org.founded_on is not None and found.founded_on is None:
            await organisations.change(session, found, actor_id=actor.id, actor_label=actor.label, now=now,
                                       founded_on=org.founded_on)
        if await organisations.cover(session, found, [enterprise], since=org.founded_on, actor_id=actor.id,
                                     actor_label=actor.label, now=now):
            changed.add(record.credit_code)
    return changed
