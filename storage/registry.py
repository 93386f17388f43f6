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

Party organisations are applied once the enterprises of every chunk are written, for the whole
file at once (`_organise`): the rows naming one organisation (a 联合党支部 named on three rows)
become one record covering their enterprises wherever they sit in the file, and organisations
are found, created, changed and moved with a few statements in all (`storage.organisations`'
bulk writers), not a flush per row. An organisation imported without a founding date has none:
it is new in no period.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, creditcode, organisations, scope
from storage.enums import (
    EnterpriseKind,
    Formation,
    LocationKind,
    MassOrg,
    OperatingStatus,
    OrgCategory,
    Role,
    SecretarySource,
    UnformedReason,
)
from storage.models import Assignment, Base, Enterprise, HeadcountRecord, PartyOrganisation, User, utcnow
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
    "members_here": None,
    "members_elsewhere": None,
    "unformed_reason": None,
    "operating_status": OperatingStatus.OPERATING.value,
    "above_scale": None,
    "revenue": None,
    "location_kind": None,
    "location_name": None,
    "owner_is_member": None,
    "owner_is_secretary": None,
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
    "members_here",
    "members_elsewhere",
    "above_scale",
    "revenue",
    "location_name",
    "owner_is_member",
    "owner_is_secretary",
)
# Record fields holding a vocabulary's code, stored as its plain string.
_CODE_FIELDS = ("kind", "unformed_reason", "operating_status", "location_kind")


@dataclass(frozen=True)
class OrgRecord:
    """What a registry row says of the enterprise's party organisation: a name (full, as
    中共…支部委员会, or None when the row only says it has one, maybe of which kind), its category
    and way of forming where known, and what else the row has of it (None: not given).
    `NO_ORGANISATION` is a row that says 无."""

    name: str | None
    category: OrgCategory | None
    formation: Formation | None
    founded_on: date | None = None
    parent: str | None = None  # 隶属党组织, by name
    secretary: str | None = None
    secretary_source: SecretarySource | None = None
    members: int | None = None
    none: bool = False

    def facts(self) -> dict[str, Any]:
        """The organisation's fields the row gives, as stored (the parent apart: it is a name)."""
        values: dict[str, Any] = {"category": self.category, "formation": self.formation,
                                  "founded_on": self.founded_on, "secretary": self.secretary,
                                  "secretary_source": self.secretary_source, "members": self.members}
        return {key: getattr(value, "value", value) for key, value in values.items() if value is not None}


NO_ORGANISATION = OrgRecord(None, None, None, none=True)


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
    # 组织关系在本企业 / 不在本企业 of the formal members.
    members_here: int | None = None
    members_elsewhere: int | None = None
    unformed_reason: UnformedReason | None = None
    operating_status: OperatingStatus | None = None
    above_scale: bool | None = None
    revenue: float | None = None  # 年营业收入, 万元
    location_kind: LocationKind | None = None
    location_name: str | None = None
    owner_is_member: bool | None = None
    owner_is_secretary: bool | None = None
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
        for key in _CODE_FIELDS:
            code = getattr(self, key)
            if code is not None:
                values[key] = code.value
        if self.mass_orgs is not None:
            values["mass_orgs"] = [org.value for org in self.mass_orgs]
        return values


@dataclass(frozen=True)
class RowProblem:
    """Something about a row that was imported anyway: `officer_unknown`, `officer_ambiguous`,
    `org_conflict` (two rows naming one organisation disagree on `detail`; `count` is the row
    whose value was kept)."""

    row_number: int | None
    credit_code: str
    kind: str
    value: str
    count: int = 0
    detail: str = ""


@dataclass
class RowOutcome:
    """What writing a row did: created, or which fields changed from what to what.

    The keys of `changes` are the enterprise's fields; `officers` (names ended, names added),
    `party_org` (the organisation's name before and after, None for none) and `org.<field>`
    (a field of the organisation the row names) are what a row changes beyond them.
    """

    row_number: int | None
    credit_code: str
    name: str
    created: bool = False
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


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
    organisations_created: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    # One per credit code written, in the order of the rows.
    outcomes: list[RowOutcome] = field(default_factory=list)


@dataclass
class _Firm:
    """An enterprise as the organisation step needs it, collected while its row is written."""

    id: int
    name: str
    region: str
    party_org_id: int | None


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
    progress: Callable[[int], None] | None = None,
) -> UpsertResult:
    """Inserts new credit codes, updates changed fields of known ones and applies what the rows
    say of party organisations; never commits. `progress` is told of each chunk of rows written.

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
    outcomes = {r.credit_code: RowOutcome(r.row_number, r.credit_code, r.name) for r in records}
    firms: dict[str, _Firm] = {}
    for chunk in _chunks(records, CHUNK):
        await _upsert_chunk(session, chunk, officers, today, actor, result, outcomes, firms)
        if progress is not None:
            progress(len(chunk))
    await _organise(session, records, firms, today, actor, result, outcomes)
    await session.flush()
    result.outcomes = list(outcomes.values())
    result.created = sum(outcome.created for outcome in result.outcomes)
    result.updated = sum(not outcome.created and bool(outcome.changes) for outcome in result.outcomes)
    result.unchanged = len(result.outcomes) - result.created - result.updated
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
    outcomes: dict[str, RowOutcome],
    firms: dict[str, _Firm],
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
    for record in records:
        values = record.values()
        enterprise = existing.get(record.credit_code)
        if enterprise is None:
            identity = {"credit_code": record.credit_code, "name_initials": initials(record.name)}
            new_rows.append(NEW_DEFAULTS | values | identity | {"created_at": now, "updated_at": now})
            continue
        changes = {key: value for key, value in values.items() if getattr(enterprise, key) != value}
        firms[record.credit_code] = _Firm(enterprise.id, record.name, record.region, enterprise.party_org_id)
        if not changes:
            continue
        before = {key: getattr(enterprise, key) for key in changes}
        outcomes[record.credit_code].changes.extend((key, before[key], value) for key, value in changes.items())
        for key, value in changes.items():
            setattr(enterprise, key, value)
        if "name" in changes:
            enterprise.name_initials = initials(enterprise.name)
        old, new = audit.changed(_json_safe(before), _json_safe(changes))
        audit_rows.append(actor.entry("update", "enterprise", enterprise.id, now, before=old, after=new))
        # Head counts keep a history (DESIGN.md › Visit report); an import is one more report.
        if "employees" in changes or "party_members" in changes:
            headcount_rows.append(_headcount(enterprise.id, enterprise.employees, enterprise.party_members, actor, now))

    targets = {code: (e.id, e.region) for code, e in existing.items()}
    if new_rows:
        targets |= await _insert_enterprises(session, new_rows)
        for row in new_rows:
            enterprise_id = targets[row["credit_code"]][0]
            outcomes[row["credit_code"]].created = True
            firms[row["credit_code"]] = _Firm(enterprise_id, row["name"], row["region"], None)
            snapshot = {"id": enterprise_id} | _json_safe(row)
            audit_rows.append(actor.entry("create", "enterprise", enterprise_id, now, after=snapshot))
            if row["employees"] is not None or row["party_members"] is not None:
                headcount_rows.append(_headcount(enterprise_id, row["employees"], row["party_members"], actor, now))

    await _assign(session, records, targets, officers, today, actor, now, audit_rows, result, outcomes)
    if headcount_rows:
        await session.execute(_bulk_insert(HeadcountRecord), headcount_rows)
    await audit.record_many(session, audit_rows)
    await session.flush()


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
    outcomes: dict[str, RowOutcome],
) -> None:
    """Makes the named officers the current ones; the rows' outcomes say whom it ended and opened."""
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
        return

    current: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in await session.scalars(
        select(Assignment).where(Assignment.enterprise_id.in_(list(wanted)), Assignment.ended_on.is_(None))
    ):
        current[assignment.enterprise_id].append(assignment)

    names = {officer.id: officer.name for same_name in officers.values() for officer in same_name}
    opened: list[dict[str, Any]] = []
    for enterprise_id, (record, chosen, complete) in wanted.items():
        ended: list[str] = []
        for assignment in current[enterprise_id]:
            # A name that could not be resolved must not end anyone's assignment: the row
            # says who should look after the enterprise, and that person was not found.
            if assignment.officer_id in chosen or not complete:
                continue
            assignment.ended_on = today
            ended.append(names.get(assignment.officer_id, f"#{assignment.officer_id}"))
            result.assignments_closed += 1
            audit_rows.append(
                actor.entry(
                    "unassign", "assignment", assignment.id, now,
                    before={"ended_on": None}, after={"ended_on": today.isoformat()},
                )
            )
        assigned = {assignment.officer_id for assignment in current[enterprise_id]}
        added = sorted(chosen - assigned)
        for officer_id in added:
            opened.append(
                {"enterprise_id": enterprise_id, "officer_id": officer_id, "started_on": today, "ended_on": None}
            )
        if ended or added:
            outcomes[record.credit_code].changes.append(
                ("officers", tuple(ended), tuple(names[officer_id] for officer_id in added)))
    if not opened:
        return

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




# --- party organisations -------------------------------------------------------------------

# What a new organisation is where the file says only that there is one: the least there can
# be (three formal members form a 党支部, 党章第三十条), formed for that one enterprise; one named
# on several rows without its way of forming covers them jointly.
DEFAULT_CATEGORY = OrgCategory.BRANCH


@dataclass(eq=False)
class _NewOrg:
    """An organisation the file names that the registry does not have yet."""

    name: str
    inferred: bool
    firms: list[_Firm] = field(default_factory=list)


_Target = PartyOrganisation | _NewOrg


async def _organise(session: AsyncSession, records: Sequence[EnterpriseRecord], firms: dict[str, _Firm],
                    today: date, actor: _Actor, result: UpsertResult, outcomes: dict[str, RowOutcome]) -> None:
    """Applies what the rows say of party organisations, for the whole file at once: an
    organisation named in a row is found by its name or created (a row giving only its kind
    gets one named after the enterprise, flagged `name_inferred`), takes the fields the rows
    give (founding date, 隶属, secretary …) and covers the rows' enterprises from its founding
    date; a row that says 无 leaves the enterprise without one."""
    said = [r for r in records if r.organisation is not None]
    if not said:
        return
    organiser = _Organiser(session, today, actor, result, outcomes)
    await organiser.look_up(said, firms)
    for record in said:
        assert record.organisation is not None
        organiser.decide(record, record.organisation, firms[record.credit_code])
    await organiser.write()


class _Organiser:
    """The organisation step of one import: looks up what the rows name, decides per row, then
    writes creations, moves and changes with a few statements."""

    def __init__(self, session: AsyncSession, today: date, actor: _Actor, result: UpsertResult,
                 outcomes: dict[str, RowOutcome]) -> None:
        self.session, self.today, self.actor, self.result, self.outcomes = session, today, actor, result, outcomes
        self.now = utcnow()
        self.current: dict[int, PartyOrganisation] = {}
        self.known: dict[str, PartyOrganisation] = {}
        self.sizes: dict[int, int] = {}
        self.new: dict[str, _NewOrg] = {}
        # Per organisation: each field the rows give, with the row that gave it first.
        self.facts: dict[_Target, dict[str, tuple[Any, RowOutcome]]] = defaultdict(dict)
        self.first: dict[_Target, RowOutcome] = {}
        self.moves: list[tuple[_Firm, PartyOrganisation | None, _Target | None, RowOutcome]] = []
        self.audit_rows: list[dict[str, Any]] = []

    async def look_up(self, said: Sequence[EnterpriseRecord], firms: dict[str, _Firm]) -> None:
        """Every organisation the rows may need, in a handful of queries: the enterprises'
        current ones, those of the names given (and of the names made up for rows giving only
        a kind), the parents named, and how many enterprises the made-up ones cover."""
        self.current = await organisations.by_ids(
            self.session, {f.party_org_id for r in said if (f := firms[r.credit_code]).party_org_id is not None})
        names: set[str] = set()
        for record in said:
            org = record.organisation
            assert org is not None
            names.add(org.name if org.name is not None else organisations.inferred_name(firms[record.credit_code].name))
            if org.parent is not None:
                names.add(org.parent)
        self.known = await organisations.by_names(self.session, names)
        self.sizes = await organisations.covering_counts(self.session, self.current)

    def decide(self, record: EnterpriseRecord, org: OrgRecord, firm: _Firm) -> None:
        outcome = self.outcomes[record.credit_code]
        current = self.current.get(firm.party_org_id) if firm.party_org_id is not None else None
        if org.none:
            if current is not None:
                self.moves.append((firm, current, None, outcome))
            return
        alone = current is not None and current.name_inferred and self.sizes.get(current.id) == 1
        if org.name is None:
            if current is not None and _fits(current, org):
                self._said(current, org, outcome)
                return
            if current is not None and alone:
                self._said(current, org, outcome)  # its kind changes with it
                return
            name, inferred = organisations.normalise_name(organisations.inferred_name(firm.name)), True
        else:
            name = organisations.normalise_name(org.name)
            inferred = name == organisations.normalise_name(organisations.inferred_name(firm.name))
        if current is not None and current.name == name:
            self._said(current, org, outcome)
            return
        target: _Target | None = self.known.get(name) or self.new.get(name)
        if target is None and current is not None and alone and not inferred:
            # The name made up for the enterprise's organisation gives way to the registry's.
            self._amend(current, outcome, name=name, name_inferred=False)
            self.known[name] = current
            self._said(current, org, outcome)
            return
        if target is None:
            target = self.new[name] = _NewOrg(name, inferred)
        if isinstance(target, _NewOrg):
            target.firms.append(firm)
        if target is not current:
            self.moves.append((firm, current, target, outcome))
        self._said(target, org, outcome)

    def _said(self, target: _Target, org: OrgRecord, outcome: RowOutcome) -> None:
        """Notes the fields a row gives of `target`; a later row disagreeing is reported."""
        self.first.setdefault(target, outcome)
        given = org.facts() | ({"parent": organisations.normalise_name(org.parent)} if org.parent else {})
        facts = self.facts[target]
        for key, value in given.items():
            held = facts.get(key)
            if held is None:
                facts[key] = (value, outcome)
            elif held[0] != value:
                self.result.problems.append(RowProblem(
                    outcome.row_number, outcome.credit_code, "org_conflict", _name(target),
                    held[1].row_number or 0, key))

    def _amend(self, organisation: PartyOrganisation, outcome: RowOutcome, **values: Any) -> None:
        old, new = organisations.amend(organisation, now=self.now, **values)
        if not new:
            return
        self.audit_rows.append(self.actor.entry("update", organisations.ENTITY, organisation.id, self.now,
                                                before=old, after=new))
        outcome.changes.extend((f"org.{key}", old.get(key), value) for key, value in new.items())

    def _fact(self, target: _Target, key: str) -> Any:
        held = self.facts[target].get(key)
        return None if held is None else held[0]

    async def write(self) -> None:
        ids = await self._create()
        moves = []
        for firm, before, target, outcome in self.moves:
            after = None if target is None else ids[target.name] if isinstance(target, _NewOrg) else target.id
            since = None
            if target is not None:
                since = self._fact(target, "founded_on") or getattr(target, "founded_on", None)
            moves.append(organisations.Move(firm.id, before.id if before else None, after, since, since or self.today))
            outcome.changes.append(("party_org", before.name if before else None, _name(target) if target else None))
        await organisations.move_many(self.session, moves, actor_id=self.actor.id, actor_label=self.actor.label,
                                      now=self.now)
        self._dissolve_emptied()
        dated: list[int] = []
        for target in list(self.facts):
            if not isinstance(target, PartyOrganisation):
                continue
            values = {key: value for key, (value, _) in self.facts[target].items() if key != "parent"}
            if "parent" in self.facts[target]:
                values |= self._parent(self._fact(target, "parent"), ids)
            undated = target.founded_on is None
            self._amend(target, self.first[target], **values)
            if undated and target.founded_on is not None:
                dated.append(target.id)
        if dated:
            await self.session.flush()  # the coverage reads the founding dates just set
            await organisations.date_coverage(self.session, dated)
        await audit.record_many(self.session, self.audit_rows)

    def _dissolve_emptied(self) -> None:
        """An organisation the file leaves covering nobody (its one enterprise now says 无, or
        has moved to another) is dissolved as of the import; one dissolved that the file names
        for an enterprise again exists again."""
        left: Counter[int] = Counter()
        joined: Counter[int] = Counter()
        first_leaving: dict[int, RowOutcome] = {}
        for _, before, target, outcome in self.moves:
            if before is not None:
                left[before.id] += 1
                first_leaving.setdefault(before.id, outcome)
            if isinstance(target, PartyOrganisation):
                joined[target.id] += 1
                if target.dissolved_on is not None:
                    self._amend(target, outcome, dissolved_on=None)
        for organisation_id, count in left.items():
            organisation = self.current[organisation_id]
            if self.sizes.get(organisation_id, 0) - count + joined[organisation_id] <= 0 and (
                    organisation.dissolved_on is None):
                self._amend(organisation, first_leaving[organisation_id], dissolved_on=self.today)

    def _parent(self, name: str, ids: dict[str, int]) -> dict[str, Any]:
        """隶属: the record of that name where the registry has one, else the name."""
        found = self.known.get(name)
        parent_id = found.id if found is not None else ids.get(name)
        return {"parent_id": parent_id, "parent_name": None} if parent_id is not None else {
            "parent_id": None, "parent_name": name}

    async def _create(self) -> dict[str, int]:
        """Creates the new organisations, parents before the ones they lead, so that each is
        recorded with its 隶属 already resolved; returns the ids by name."""
        ids: dict[str, int] = {}
        waiting = list(self.new.values())
        while waiting:
            names = {new.name for new in waiting}
            ready = [new for new in waiting if self._fact(new, "parent") not in names] or waiting  # a cycle: by name
            ids |= await organisations.create_many(self.session, [self._new(new, ids) for new in ready],
                                                   actor_id=self.actor.id, actor_label=self.actor.label, now=self.now)
            self.result.organisations_created += len(ready)
            for new in ready:
                self.first[new].changes.append(("org.created", None, new.name))
            waiting = [new for new in waiting if new not in ready]
        return ids

    def _new(self, new: _NewOrg, ids: dict[str, int]) -> tuple[organisations.NewOrganisation, str]:
        parent = self._fact(new, "parent")
        link = self._parent(parent, ids) if parent is not None else {}
        formation = self._fact(new, "formation") or (Formation.JOINT if len(new.firms) > 1 else Formation.SINGLE)
        organisation = organisations.NewOrganisation(
            name=new.name, category=OrgCategory(self._fact(new, "category") or DEFAULT_CATEGORY),
            formation=Formation(formation), founded_on=self._fact(new, "founded_on"), name_inferred=new.inferred,
            parent_id=link.get("parent_id"), parent_name=link.get("parent_name"), secretary=self._fact(new, "secretary"),
            secretary_source=self._fact(new, "secretary_source"), members=self._fact(new, "members"))
        return organisation, organisations.common_region(firm.region for firm in new.firms)


def _fits(organisation: PartyOrganisation, org: OrgRecord) -> bool:
    """A row giving only a kind says nothing new of an organisation of that kind."""
    return (org.category is None or organisation.category == org.category.value) and (
        org.formation is None or organisation.formation == org.formation.value)


def _name(target: _Target) -> str:
    return target.name
