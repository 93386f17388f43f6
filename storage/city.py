"""A synthetic city at full scale, for the benchmarks: `python -m bot seed-demo --scale city`.

Yichang as the design sizes it (DESIGN.md › Targets): the 13 real county-level divisions and
their townships, 20,000 enterprises, 2,000 officers with their assignments, supervisors for the
city and for each county, and a year of activity — 200,000 visits, 5,000 people in member
development at every stage (with their half-yearly reviews), 10,000 owner requests in every
status, and the registry's party organisations as the demo makes them (`demo._organisations`:
about 8,500, joint branches, 挂靠, 隶属, secretaries), with 300 of them founded during the year on
an officer's watch and recorded by /found. `years=10` is ten years of history at the same pace
(2,000,000 visits, 100,000 requests, 3,000 founding records; people in development keep their yearly
intake, see `_City.people`) with the same enterprises and officers, who rotate between
enterprises over the years, so the assignments carry history too.

Everything comes from one `random.Random(seed)`: the same seed, scale and `today` give the same
rows, ids included, on both backends. The vocabulary (names, industries, visit summaries,
requests) is the small demo's (`storage.demo`), widened where 20,000 names need more room.

Rows are written in bulk — SQLAlchemy Core `insert()` with lists of dicts (executemany) on
SQLite, `COPY … FROM STDIN` on PostgreSQL — with ids chosen here, so rows can refer to each other
without reading ids back; PostgreSQL's sequences are moved past them at the end.

Synthetic history is not audited row by row, unlike `seed-demo`'s 150 enterprises: two million
audit entries would double the database and measure nothing the benchmarks are about. One
entry labelled `seed-city` records the build and its counts. `seed_city` never commits.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import time as time_module
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage import audit, demo, development, divisions
from storage.enums import (
    Activity,
    EnterpriseKind,
    FeedbackCategory,
    FeedbackStatus,
    OperatingStatus,
    Role,
    Stage,
    Urgency,
)
from storage.models import (
    Assignment,
    Enterprise,
    Feedback,
    Founding,
    HeadcountRecord,
    PartyOrganisation,
    PartyOrgCoverage,
    Person,
    ReviewNote,
    User,
    Visit,
)
from storage.pinyin import initials

logger = logging.getLogger(__name__)

ACTOR_LABEL = "seed-city"
# Telegram ids of the synthetic users: far from the emulator's and the tests' small ids.
TELEGRAM_ID_BASE = 8_000_000_000
CHUNK = 20_000  # rows per executemany / per COPY flush
PEOPLE_LEAD_YEARS = 3  # people of the first year applied up to this long before it


@dataclass(frozen=True)
class Scale:
    """How big a city: `CITY` is the design's; activity counts are per year of history."""

    counties: int = 13
    enterprises: int = 20_000
    officers: int = 2_000
    years: int = 1
    visits_per_year: int = 200_000
    people_per_year: int = 5_000
    feedback_per_year: int = 10_000
    foundings_per_year: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.counties <= len(divisions.counties()):
            raise ValueError(f"counties must be 1..{len(divisions.counties())}")
        if self.years < 1 or self.enterprises < self.counties or self.officers < self.counties:
            raise ValueError("a city needs a year of history, and an enterprise and an officer per county")

    def with_years(self, years: int) -> Scale:
        return replace(self, years=years)


CITY = Scale()
# For smoke tests: two counties, 200 enterprises, everything else in proportion.
TINY = Scale(counties=2, enterprises=200, officers=20, visits_per_year=2_000, people_per_year=50,
             feedback_per_year=100, foundings_per_year=6)


@dataclass(frozen=True)
class CitySummary:
    seed: int
    today: date
    history_start: date
    counties: int
    users: int
    admins: int
    supervisors: int
    officers: int
    owners: int
    enterprises: int
    assignments: int
    visits: int
    headcount_records: int
    people: int
    review_notes: int
    feedback: int
    foundings: int
    stages: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    organisations: int = 0


# --- vocabulary beyond the demo's -------------------------------------------------------------

# Two-character trade names (字号) made of auspicious characters: room for 20,000 names.
_BRAND_CHARS = ("鑫源华康宏达金桥兴隆丰泽惠民鼎盛瑞新联腾飞博远天润茂绿山水楚穗正航诚"
                "万嘉禾安泰永固福汇通晨光润恒信昌荣德利宝盈佳美")
_REVIEW_NOTES = (
    "考察期间表现良好，积极参加组织生活，按时提交思想汇报。",
    "工作中起带头作用，群众评价较好，建议继续培养。",
    "认真学习党的理论，思想汇报质量有提高，需加强理论联系实际。",
    "培养联系人谈话一次，本人对党的认识有进一步提高。",
)
_RESOLVED = ("已协调相关部门办结。", "已对接相关单位，问题已解决。", "已落实政策，企业表示满意。")
_CLOSED = ("经沟通，企业已自行解决，关闭诉求。", "不属于受理范围，已解释说明。")
_WITHDRAWN = ("本人申请退出", "调离本企业", "考察期间不符合条件")
_URGENCIES = ((Urgency.NORMAL.value, 75), (Urgency.URGENT.value, 20), (Urgency.CRITICAL.value, 5))
_LOCAL = timedelta(hours=8)  # Yichang is UTC+8; timestamps below are built in UTC
_NO_MEDIA: list[dict[str, str]] = []  # shared by the visits without photos; never changed


# --- entry point ------------------------------------------------------------------------------


async def seed_city(session: AsyncSession, *, today: date, seed: int = 2026, scale: Scale = CITY) -> CitySummary:
    """Fills a database without enterprises with the city; never commits."""
    existing = await session.scalar(select(func.count()).select_from(Enterprise))
    if existing:
        raise ValueError(f"the database already holds {existing} enterprises; seed-demo only fills an empty one")
    connection = await session.connection()
    city = _City(random.Random(seed), today, scale)
    writer = _Writer(connection)
    await writer.prepare()

    city.users(writer.ids)
    await writer.insert(User.__table__, city.user_rows)
    city.enterprises(writer.ids)
    organisations, coverage = city.organisations(writer.ids)
    await writer.insert(PartyOrganisation.__table__, organisations)
    await writer.insert(Enterprise.__table__, city.enterprise_rows)
    await writer.insert(PartyOrgCoverage.__table__, coverage)
    city.owner_users(writer.ids)
    await writer.insert(User.__table__, city.owner_rows)
    city.tenures()
    await writer.insert(Assignment.__table__, city.assignment_rows(writer.ids))
    visits = await writer.insert(Visit.__table__, city.visit_rows(writer.ids))
    await writer.insert(HeadcountRecord.__table__, city.headcount_rows(writer.ids))
    people = city.people(writer.ids)
    await writer.insert(Person.__table__, people)
    await writer.insert(ReviewNote.__table__, city.review_rows(writer.ids))
    await writer.insert(Feedback.__table__, city.feedback_rows(writer.ids))
    await writer.insert(Founding.__table__, city.founding_rows(writer.ids))
    await writer.finish()

    summary = city.summary(seed, visits)
    await audit.record(session, actor_id=None, actor_label=ACTOR_LABEL, action="seed", entity="city",
                       entity_id=None, after=json.loads(json.dumps(asdict(summary), default=str)))
    await session.flush()
    logger.info("City built: %s enterprises, %s officers, %s visits over %s year(s)",
                summary.enterprises, summary.officers, summary.visits, scale.years)
    return summary


# --- writing ----------------------------------------------------------------------------------


class _Ids:
    """The next free id of each table (ids are chosen here, not by the database)."""

    def __init__(self, start: dict[str, int]) -> None:
        self._next = dict(start)

    def take(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value


class _Writer:
    """Bulk inserts: executemany through SQLAlchemy Core, or COPY on PostgreSQL."""

    TABLES = (User.__table__, PartyOrganisation.__table__, Enterprise.__table__, PartyOrgCoverage.__table__,
              Assignment.__table__, Visit.__table__, HeadcountRecord.__table__, Person.__table__, ReviewNote.__table__,
              Feedback.__table__, Founding.__table__)

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.ids = _Ids({})

    async def prepare(self) -> None:
        start = {}
        for table in self.TABLES:
            assert isinstance(table, Table)
            top = await self.connection.scalar(select(func.coalesce(func.max(table.c.id), 0)))
            start[table.name] = int(top or 0) + 1
        self.ids = _Ids(start)
        if not self.postgres:
            # A bigger page cache for this connection while two million rows go in (default 2 MB).
            await self.connection.execute(text("PRAGMA cache_size=-262144"))

    async def insert(self, table: Any, rows: Iterable[dict[str, Any]]) -> int:
        count, started = 0, time_module.perf_counter()
        for chunk in _chunks(rows, CHUNK):
            count += len(chunk)
            if self.postgres:
                await self._copy(table, chunk)
            else:
                await self.connection.execute(table.insert(), chunk)
        logger.debug("%s: %d rows in %.2f s", table.name, count, time_module.perf_counter() - started)
        return count

    async def _copy(self, table: Table, chunk: list[dict[str, Any]]) -> None:
        columns = list(chunk[0])
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        raw = await self.connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        names = ", ".join(f'"{c}"' for c in columns)
        # The same list objects recur (a visit's activities come from a pool): encoded once each.
        encoded: dict[int, str] = {}

        def value(row: dict[str, Any], column: str) -> Any:
            item = row[column]
            if column not in json_columns:
                return item
            if id(item) not in encoded:
                encoded[id(item)] = json.dumps(item, ensure_ascii=False)
            return encoded[id(item)]

        async with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in chunk:
                await copy.write_row([value(row, c) for c in columns])

    async def finish(self) -> None:
        if self.postgres:
            for table in self.TABLES:
                assert isinstance(table, Table)
                await self.connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table.name}\"), false)"))
        else:
            await self.connection.execute(text("PRAGMA cache_size=-2000"))


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- the city ---------------------------------------------------------------------------------


@dataclass
class _Tenure:
    officer: int
    started: date
    ended: date | None


@dataclass
class _Firm:
    """What the later steps need of an enterprise, without keeping its whole row."""

    id: int
    county: str
    region: str
    kind: str
    cooperative: bool
    employees: int
    members: int
    org: str
    cadence: int
    owner: str
    tenures: list[_Tenure] = field(default_factory=list)
    owner_user: tuple[int, str] | None = None

    def officer_on(self, day: date) -> int | None:
        """Who looked after it that day (a handover day belongs to the newcomer)."""
        for tenure in reversed(self.tenures):
            if tenure.started <= day and (tenure.ended is None or day < tenure.ended):
                return tenure.officer
        return None

    @property
    def current(self) -> int | None:
        return self.tenures[-1].officer if self.tenures and self.tenures[-1].ended is None else None


@dataclass
class _Officer:
    id: int
    county: str
    township: str | None


def _instant(day: date, minutes: int = 0) -> datetime:
    """`day` at local midnight plus `minutes`, in UTC."""
    return datetime.combine(day, time(), tzinfo=UTC) - _LOCAL + timedelta(minutes=minutes)


def _allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder), each at least `minimum`."""
    base = [minimum] * len(weights)
    rest = total - minimum * len(weights)
    whole = sum(weights)
    shares = [rest * w / whole for w in weights]
    counts = [b + int(s) for b, s in zip(base, shares, strict=True)]
    order = sorted(range(len(weights)), key=lambda i: (int(shares[i]) - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


class _City:
    def __init__(self, rng: random.Random, today: date, scale: Scale) -> None:
        self.rng = rng
        self.today = today
        self.scale = scale
        self.start = today - timedelta(days=365 * scale.years)
        self.now = _instant(today, 10 * 60)  # 10:00 local on `today`
        self.counties = [d.name for d in divisions.counties()[: scale.counties]]
        self.user_rows: list[dict[str, Any]] = []
        self.owner_rows: list[dict[str, Any]] = []
        self.enterprise_rows: list[dict[str, Any]] = []
        self.officers: list[_Officer] = []
        self.firms: list[_Firm] = []
        self.org_of: dict[int, int] = {}  # enterprise id → its organisation's id
        # (organisation id, the organisation, the ids of the enterprises it covers, the first first)
        self.formed: list[tuple[int, PartyOrganisation, list[int]]] = []
        self.counts: dict[str, int] = {}
        self.stages: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self._latest_visit: dict[int, int] = {}  # enterprise id -> id of its last visit

    # --- users --------------------------------------------------------------------------------

    def _user(self, ids: _Ids, role: Role, region: str, **extra: Any) -> dict[str, Any]:
        uid = ids.take("users")
        joined = _instant(self.start - timedelta(days=self.rng.randint(30, 900)), self.rng.randint(0, 600))
        row = {
            "id": uid, "name": demo._person(self.rng), "role": role.value, "region": region,
            "telegram_user_id": TELEGRAM_ID_BASE + uid, "chat_id": TELEGRAM_ID_BASE + uid, "locale": None,
            "enterprise_id": None, "active": True, "blocked_bot": False, "away_until": None,
            "joined_at": joined, "created_at": joined, "updated_at": joined,
        }
        row.update(extra)
        return row

    def users(self, ids: _Ids) -> None:
        rows = self.user_rows
        for _ in range(2):
            rows.append(self._user(ids, Role.ADMIN, divisions.CITY))
        for _ in range(2):
            rows.append(self._user(ids, Role.SUPERVISOR, divisions.CITY))
        for county in self.counties:
            rows.append(self._user(ids, Role.SUPERVISOR, divisions.region_path(county)))
        per_county = _allocate(self.scale.officers, [demo._PER_COUNTY[c] for c in self.counties], minimum=1)
        for county, count in zip(self.counties, per_county, strict=True):
            towns = divisions.townships(county)
            for _ in range(count):
                # A fifth look after one township only; the rest after the whole county.
                township = self.rng.choice(towns) if self.rng.random() < 0.2 else None
                away = self.today + timedelta(days=self.rng.randint(1, 20)) if self.rng.random() < 0.03 else None
                row = self._user(ids, Role.OFFICER, divisions.region_path(county, township), away_until=away)
                rows.append(row)
                self.officers.append(_Officer(row["id"], county, township))

    def owner_users(self, ids: _Ids) -> None:
        """Owners who opened their link: a few in a hundred enterprises."""
        for firm in self.firms:
            if self.rng.random() < 0.025:
                row = self._user(ids, Role.OWNER, firm.region, enterprise_id=firm.id, name=firm.owner)
                self.owner_rows.append(row)
                firm.owner_user = (row["id"], firm.owner)

    # --- enterprises --------------------------------------------------------------------------

    def enterprises(self, ids: _Ids) -> None:
        names: set[str] = set()
        codes: set[str] = set()
        per_county = _allocate(self.scale.enterprises, [demo._PER_COUNTY[c] for c in self.counties], minimum=1)
        for county, count in zip(self.counties, per_county, strict=True):
            towns = divisions.townships(county)
            for _ in range(count):
                # The county seat (the first township) has the most firms.
                township = towns[0] if self.rng.random() < 0.3 else self.rng.choice(towns)
                row, firm = self._enterprise(ids.take("enterprises"), county, township, names, codes)
                self.enterprise_rows.append(row)
                self.firms.append(firm)

    def _enterprise(self, eid: int, county: str, township: str, names: set[str],
                    codes: set[str]) -> tuple[dict[str, Any], _Firm]:
        rng = self.rng
        crops = demo._COUNTY_CROPS.get(county, ())
        kind = EnterpriseKind(demo._weighted(rng, demo._KINDS))
        cooperative = kind == EnterpriseKind.OTHER and bool(crops)
        if kind == EnterpriseKind.OTHER and not crops:
            kind = EnterpriseKind.PRIVATE  # no farming to speak of in the city districts
        owner = demo._person(rng)
        status = demo._weighted(rng, demo._OWNER_STATUSES)
        if kind == EnterpriseKind.INDIVIDUAL:
            prefix = "92"
            status = "群众" if status != "中共党员" else status
            industry, shop = rng.choice(demo._SHOPS)
            name = self._unique(names, lambda: county + demo._town_short(township)
                                + rng.choice(demo._SHOP_NICKNAMES).format(s=demo._person(rng)[0]) + shop)
            employees = rng.randint(2, 12)
        elif cooperative:
            prefix = "93"
            industry = rng.choice(crops)
            name = self._unique(names, lambda: county + demo._town_short(township) + self._brand()
                                + rng.choice(demo._COOPERATIVES[industry]))
            employees = rng.randint(5, 40)
        else:
            prefix = "91"
            industries = demo._COUNTY_INDUSTRIES[county]
            if kind == EnterpriseKind.FOREIGN:
                industries = tuple(i for i in industries if i in demo._FOREIGN_INDUSTRIES) or ("机械制造",)
            industry = rng.choice(industries)
            name = self._unique(names, lambda: self._company_name(kind, county, township, industry))
            employees = demo._company_size(rng, kind)
        economics = demo._economics(rng, kind, cooperative, county, industry, employees)
        party_org, members = demo._party(rng, kind, employees, cooperative=cooperative,
                                         status=OperatingStatus(economics["operating_status"]),
                                         above_scale=bool(economics["above_scale"]))
        if status == "中共党员":
            members = max(members, 1)
        members = min(members, employees)
        cadence = 30
        if party_org == demo._Org.NONE and employees >= 100 and rng.random() < 0.5:
            cadence = 15
        elif employees < 10 and rng.random() < 0.5:
            cadence = 60
        created = _instant(self.start - timedelta(days=rng.randint(30, 3000)), rng.randint(0, 600))
        region = divisions.region_path(county, township)
        row = {
            "id": eid, "name": name, "name_initials": initials(name),
            "credit_code": demo._credit_code(rng, prefix, county, prefix != "91" or rng.random() < 0.6, codes),
            "kind": kind.value, "region": region, "industry": industry, "employees": employees,
            "party_members": members, "members_here": None, "members_elsewhere": None, "party_org_id": None,
            "unformed_reason": None, **economics, "owner_is_member": status == "中共党员", "owner_is_secretary": None,
            "mass_orgs": demo._mass_orgs(rng, kind, employees), "owner_name": owner, "owner_political_status": status,
            "demonstration_point": party_org in demo._OWN and rng.random() < 0.25,
            "visit_cadence_days": cadence, "created_at": created, "updated_at": created,
        }
        firm = _Firm(eid, county, region, kind.value, cooperative, employees, members, party_org.value, cadence, owner)
        return row, firm

    def organisations(self, ids: _Ids) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The party organisations of the city (rows and coverage rows) as the demo makes them
        (`demo._organisations`: their own, joint branches of a township, 园区 or 楼宇, 挂靠); the
        enterprise rows get their `party_org_id` and the fields the organisations settle."""
        by_id: dict[int, dict[str, Any]] = {row["id"]: row for row in self.enterprise_rows}
        columns = ("id", "name", "credit_code", "kind", "region", "employees", "party_members", "owner_name",
                   "owner_is_member", "operating_status", "location_kind", "location_name")
        generated = [(Enterprise(**{c: by_id[firm.id][c] for c in columns}), demo._Org(firm.org))
                     for firm in self.firms]
        org_rows: list[dict[str, Any]] = []
        coverage: list[dict[str, Any]] = []
        # At 8,500 organisations the ten years' pace alone gives each quarter and year its share.
        for organisation, firms in demo._organisations(self.rng, generated, self.today, recent=(0.0, 0.0)):
            oid = ids.take("party_organisations")
            created = _instant(organisation.founded_on or self.start, 9 * 60)
            org_rows.append({
                "id": oid, "name": organisation.name, "name_inferred": False, "category": organisation.category,
                "formation": organisation.formation, "parent_id": None, "parent_name": organisation.parent_name,
                "region": organisation.region, "founded_on": organisation.founded_on, "dissolved_on": None,
                "secretary": organisation.secretary, "secretary_source": organisation.secretary_source,
                "members": organisation.members, "created_at": created, "updated_at": created,
            })
            self.formed.append((oid, organisation, [covered.id for covered in firms]))
            for covered in firms:
                by_id[covered.id]["party_org_id"] = oid
                self.org_of[covered.id] = oid
                coverage.append({"id": ids.take("party_org_coverage"), "enterprise_id": covered.id,
                                 "organisation_id": oid, "started_on": organisation.founded_on, "ended_on": None})
        for (stand_in, _org), firm in zip(generated, self.firms, strict=True):
            row = by_id[firm.id]
            for column in demo.SETTLED:
                row[column] = getattr(stand_in, column)
            firm.members = row["party_members"]
            # A joint branch wished for but left alone in its place is none.
            firm.org = firm.org if firm.id in self.org_of else demo._Org.NONE.value
        return org_rows, coverage

    def _brand(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice(demo._BRANDS)
        return self.rng.choice(_BRAND_CHARS) + self.rng.choice(_BRAND_CHARS)

    def _company_name(self, kind: EnterpriseKind, county: str, township: str, industry: str) -> str:
        rng = self.rng
        product = rng.choice(demo._PRODUCTS[industry])
        if kind == EnterpriseKind.FOREIGN:
            return "宜昌" + rng.choice(demo._FOREIGN_BRANDS) + self._brand() + product + "有限公司"
        if kind == EnterpriseKind.RESTRUCTURED:
            return rng.choice(("宜昌", demo._place(county))) + self._brand() + product + "有限责任公司"
        roll = rng.random()
        if roll < 0.08 and industry in ("机械制造", "建材", "农产品加工", "纺织"):
            return demo._place(county) + demo._town_short(township) + self._brand() + product + "厂"
        if roll < 0.2:
            return rng.choice(("宜昌", "湖北")) + self._brand() + product + "有限公司"
        if roll < 0.5:
            return demo._place(county) + demo._town_short(township) + self._brand() + product + "有限公司"
        return demo._place(county) + self._brand() + product + "有限公司"

    @staticmethod
    def _unique(names: set[str], make: Any) -> str:
        for _ in range(200):
            name = make()
            if name not in names:
                names.add(name)
                return str(name)
        raise RuntimeError("ran out of enterprise names: widen the vocabulary")

    # --- who looks after whom -----------------------------------------------------------------

    def tenures(self) -> None:
        """The current officer of each enterprise (about ten each; one in fifty has nobody), and
        before them the officers who looked after it back to before the history starts."""
        rng = self.rng
        by_county: dict[str, list[_Officer]] = {}
        for officer in self.officers:
            by_county.setdefault(officer.county, []).append(officer)
        for county in self.counties:
            staff = by_county[county]
            wide = [o for o in staff if o.township is None] or staff
            firms = [f for f in self.firms if f.county == county and rng.random() >= 0.02]
            rng.shuffle(firms)
            quota = -(-len(firms) // len(staff))  # even shares, rounded up
            load = dict.fromkeys((o.id for o in staff), 0)
            current: dict[int, _Officer] = {}
            # Township officers first (their choice is narrower), then the county's officers.
            for officer in (o for o in staff if o.township is not None):
                town = divisions.region_path(county, officer.township)
                for firm in (f for f in firms if f.region == town and f.id not in current):
                    if load[officer.id] >= quota:
                        break
                    current[firm.id] = officer
                    load[officer.id] += 1
            ring = itertools.cycle(wide)
            for firm in firms:
                if firm.id not in current:
                    officer = next(ring)
                    current[firm.id] = officer
                    load[officer.id] += 1
            for firm in firms:
                officer = current[firm.id]
                started = self.today - timedelta(days=rng.randint(20, 2190))
                chain = [_Tenure(officer.id, started, None)]
                while started > self.start - timedelta(days=30):
                    # Officers rotate every one to six years, within the county.
                    previous = rng.choice(wide)
                    ended, started = started, started - timedelta(days=rng.randint(365, 2190))
                    chain.append(_Tenure(previous.id, started, ended))
                firm.tenures = chain[::-1]

    def assignment_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        for firm in self.firms:
            for tenure in firm.tenures:
                yield {"id": ids.take("assignments"), "enterprise_id": firm.id, "officer_id": tenure.officer,
                       "started_on": tenure.started, "ended_on": tenure.ended}
                self._count("assignments")

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    # --- visits -------------------------------------------------------------------------------

    def visit_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        """Visits spread over the history, each enterprise about as often as its cadence asks,
        some counties keener than others; mostly on weekdays, filed the afternoon of the day."""
        rng = self.rng
        staffed = [f for f in self.firms if f.tenures]
        keenness = {county: rng.uniform(0.55, 1.25) for county in self.counties}
        weights = [keenness[f.county] * rng.uniform(0.6, 1.4) / f.cadence for f in staffed]
        total = self.scale.visits_per_year * self.scale.years
        counts = _allocate(total, weights)
        span = (self.today - self.start).days
        first = self.start.toordinal()
        keys: list[int] = []
        stride = len(staffed)
        for index, n in enumerate(counts):
            if not n:
                continue
            step = span / n
            offset = rng.random()
            for i in range(n):
                # Evenly spaced with some play; what falls off one end comes back at the other,
                # so every week of the history gets its share.
                day = int((i + offset + (rng.random() - 0.5) * 0.6) * step) % span
                weekday = (first + day - 1) % 7  # date.fromordinal(1) is a Monday
                if weekday == 5 and rng.random() < 0.85:  # Saturday: on Friday instead
                    day = day - 1 if day >= 1 else day + 2
                elif weekday == 6 and rng.random() < 0.85:  # Sunday: on Monday instead
                    day = day + 1 if day + 1 < span else day - 2
                keys.append((first + day) * stride + index)
        keys.sort()
        pools = _SummaryPools(rng)
        firm_pools = [pools.pool(firm) for firm in staffed]
        days: dict[int, tuple[date, datetime]] = {}
        for key in keys:
            ordinal, index = divmod(key, stride)
            firm = staffed[index]
            if ordinal not in days:
                days[ordinal] = (date.fromordinal(ordinal), _instant(date.fromordinal(ordinal), 14 * 60))
            visited, afternoon = days[ordinal]
            officer = firm.officer_on(visited)
            assert officer is not None, "the tenures cover the whole history"
            pool = firm_pools[index]
            roll = rng.random()
            activities, summary = pool[int(roll * 7919) % len(pool)]
            filed = afternoon + timedelta(minutes=int(roll * 300))
            vid = ids.take("visits")
            self._latest_visit[firm.id] = vid
            media: list[dict[str, str]] = _NO_MEDIA
            if roll < 0.25:
                media = [{"type": "photo", "file_id": f"AgACAgUAAxkBAAI{vid:09d}"}]
            located = rng.random() < 0.3
            yield {
                "id": vid, "enterprise_id": firm.id, "officer_id": officer, "visit_date": visited,
                "activities": activities, "employees": None, "party_members": None, "summary": summary,
                "summary_voice_file_id": None,
                "follow_up": demo._FOLLOW_UPS[int(roll * 1000) % len(demo._FOLLOW_UPS)] if roll > 0.7 else None,
                "media": media,
                "latitude": round(30.69 + rng.uniform(-0.6, 0.6), 5) if located else None,
                "longitude": round(111.29 + rng.uniform(-0.9, 0.7), 5) if located else None,
                "created_at": filed, "updated_at": filed,
            }

    def headcount_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        """The current figures of some enterprises, as reported at their last visit."""
        rng = self.rng
        for firm in self.firms:
            vid = self._latest_visit.get(firm.id)
            if vid is None or firm.kind == EnterpriseKind.INDIVIDUAL.value or rng.random() >= 0.15:
                continue
            officer = firm.officer_on(self.today - timedelta(days=1)) or firm.tenures[-1].officer
            yield {"id": ids.take("headcount_records"), "enterprise_id": firm.id, "visit_id": vid,
                   "employees": firm.employees, "party_members": firm.members, "recorded_by_id": officer,
                   "recorded_at": self.now - timedelta(days=1)}
            self._count("headcount_records")

    # --- member development -------------------------------------------------------------------

    def people(self, ids: _Ids) -> list[dict[str, Any]]:
        """People who applied over the history and in the years before it (so the first year
        already has people at every stage), each advanced as far as the dates allow.

        Applications come at the same pace whatever the history's length: the one-year city has
        `people_per_year` people, who applied over `PEOPLE_LEAD_YEARS` + 1 years; ten years of
        history add ten years at that pace (16,250 people at full scale), so a week holds as
        many new activists after ten years as after one."""
        rng = self.rng
        eligible = [f for f in self.firms if f.tenures and f.employees >= 8]
        weights = list(itertools.accumulate(f.employees ** 0.6 for f in eligible))
        lead = PEOPLE_LEAD_YEARS
        total = self.scale.people_per_year * (self.scale.years + lead) // (1 + lead)
        chosen = rng.choices(eligible, cum_weights=weights, k=total) if eligible else []
        first = self.start - timedelta(days=lead * 365)
        span = (self.today - first).days
        rows = []
        applied_days = sorted(rng.randrange(span) for _ in chosen)
        self._people_due: list[tuple[int, int, date, date]] = []  # person, officer, activist, review until
        for firm, offset in zip(chosen, applied_days, strict=True):
            rows.append(self._person(ids.take("people"), firm, first + timedelta(days=offset)))
        return rows

    def _person(self, pid: int, firm: _Firm, applied: date) -> dict[str, Any]:
        rng = self.rng
        past = self.today - timedelta(days=1)
        dates: dict[str, date | None] = dict.fromkeys(
            ("talked_on", "activist_on", "notice_started_on", "candidate_on", "probation_on", "full_on",
             "withdrawn_on"))
        stage = Stage.APPLICANT
        talked = applied + timedelta(days=rng.randint(7, 28))
        if rng.random() < 0.9 and talked <= past:
            dates["talked_on"] = talked
        last = applied
        steps: tuple[tuple[Stage, float], ...] = (
            (Stage.ACTIVIST, 0.8), (Stage.CANDIDATE, 0.75), (Stage.PROBATIONARY, 0.9), (Stage.FULL, 0.95))
        for target, chance in steps:
            when = self._next_date(target, dates, last)
            if when > past:
                break  # not yet
            if rng.random() >= chance:
                # Stalled: after a year or two at a stage without moving on, most leave.
                leaves = last + timedelta(days=rng.randint(400, 900))
                if leaves <= past:
                    dates["withdrawn_on"] = leaves
                    stage = Stage.WITHDRAWN
                break
            dates[development.STAGE_DATE[target]] = when
            if target == Stage.CANDIDATE:
                dates["notice_started_on"] = when - timedelta(days=rng.randint(10, 20))
            stage, last = target, when
        birth = applied - timedelta(days=rng.randint(20 * 365, 45 * 365))
        officer = firm.officer_on(applied) or firm.tenures[0].officer
        problem = development.check_dates(development.Pipeline(
            stage, birth, applied, talked_on=dates["talked_on"], activist_on=dates["activist_on"],
            notice_started_on=dates["notice_started_on"], candidate_on=dates["candidate_on"],
            probation_on=dates["probation_on"], full_on=dates["full_on"], withdrawn_on=dates["withdrawn_on"]))
        if problem is not None:  # the generator must follow the rules the bot enforces
            raise AssertionError(f"synthetic person breaks {problem.code}")
        if dates["activist_on"] is not None:
            until = dates["candidate_on"] or dates["withdrawn_on"] or past
            self._people_due.append((pid, officer, dates["activist_on"], until))
        self.stages[stage.value] = self.stages.get(stage.value, 0) + 1
        recorded = min(applied + timedelta(days=rng.randint(0, 10)), past)
        changed = max(d for d in (applied, *dates.values()) if d is not None)
        contacts = [] if stage == Stage.APPLICANT else [demo._person(rng), demo._person(rng)]
        return {
            "id": pid, "enterprise_id": firm.id, "officer_id": officer, "name": demo._person(rng),
            "gender": rng.choice(("male", "female")), "birth_date": birth, "position": rng.choice(demo._POSITIONS),
            "is_owner": rng.random() < 0.03, "stage": stage.value, "applied_on": applied, **dates,
            "withdrawn_reason": rng.choice(_WITHDRAWN) if stage == Stage.WITHDRAWN else None,
            "contacts": contacts, "notes": None,
            "created_at": _instant(recorded, 15 * 60), "updated_at": _instant(changed, 15 * 60),
        }

    def _next_date(self, target: Stage, dates: dict[str, date | None], last: date) -> date:
        rng = self.rng
        if target == Stage.ACTIVIST:
            return last + timedelta(days=rng.randint(60, 240))
        if target == Stage.CANDIDATE:  # a year or more as activist
            return development.add_period(last, development.CURRENT.candidate_after) + timedelta(days=rng.randint(0, 150))
        if target == Stage.PROBATIONARY:
            return last + timedelta(days=rng.randint(30, 120))
        return development.add_period(last, development.CURRENT.probation) + timedelta(days=rng.randint(0, 30))

    def review_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        """Half-yearly reviews of activists, a few of them missed."""
        rng = self.rng
        for pid, officer, activist, until in self._people_due:
            day = development.add_period(activist, development.CURRENT.review_every)
            while day <= until:
                if rng.random() < 0.85:
                    written = day - timedelta(days=rng.randint(0, 20))
                    yield {"id": ids.take("review_notes"), "person_id": pid, "written_on": written,
                           "content": rng.choice(_REVIEW_NOTES), "author_id": officer,
                           "created_at": _instant(written, 16 * 60)}
                    self._count("review_notes")
                day = development.add_period(day, development.CURRENT.review_every)

    # --- owners' requests and foundings -------------------------------------------------------

    def feedback_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        """Requests over the history; the older, the likelier settled, a few left open too long."""
        rng = self.rng
        staffed = [f for f in self.firms if f.current is not None]
        weights = list(itertools.accumulate(f.employees ** 0.5 for f in staffed))
        total = self.scale.feedback_per_year * self.scale.years
        seconds = int((self.now - _instant(self.start)).total_seconds())
        opened = sorted(rng.randrange(seconds) for _ in range(total))
        categories = list(demo._REQUESTS)
        for offset in opened:
            firm = rng.choices(staffed, cum_weights=weights)[0]
            created = _instant(self.start) + timedelta(seconds=offset)
            age = (self.now - created).days
            status = self._status(age)
            closed = None
            updated = created
            if status in (FeedbackStatus.RESOLVED, FeedbackStatus.CLOSED):
                closed = created + timedelta(hours=rng.uniform(4, 24 * min(max(age, 1), 45)))
                closed = min(closed, self.now - timedelta(minutes=5))
            elif status == FeedbackStatus.IN_PROGRESS:
                updated = created + timedelta(hours=rng.uniform(1, 24 * min(max(age, 1), 10)))
            category = rng.choice(categories)
            by_owner = firm.owner_user is not None and rng.random() < 0.4
            officer = None if by_owner else firm.officer_on((created + _LOCAL).date()) or firm.current
            self.statuses[status.value] = self.statuses.get(status.value, 0) + 1
            yield {
                "id": ids.take("feedback"), "enterprise_id": firm.id,
                "raised_by": firm.owner_user[1] if by_owner and firm.owner_user else firm.owner,
                "channel": "owner" if by_owner else "officer", "category": category.value,
                "content": demo._REQUESTS[FeedbackCategory(category)], "urgency": demo._weighted(rng, _URGENCIES),
                "status": status.value,
                "resolution": rng.choice(_RESOLVED if status == FeedbackStatus.RESOLVED else _CLOSED) if closed else None,
                "rating": rng.choice((3, 4, 4, 5, 5, 5)) if by_owner and closed and rng.random() < 0.6 else None,
                "officer_id": officer, "owner_id": firm.owner_user[0] if by_owner and firm.owner_user else None,
                "created_at": created,
                "updated_at": closed or updated,
                "closed_at": closed,
            }

    def _status(self, age_days: int) -> FeedbackStatus:
        roll = self.rng.random()
        if age_days > 60:
            table = ((0.80, FeedbackStatus.RESOLVED), (0.98, FeedbackStatus.CLOSED), (0.99, FeedbackStatus.IN_PROGRESS))
        elif age_days > 14:
            table = ((0.55, FeedbackStatus.RESOLVED), (0.65, FeedbackStatus.CLOSED), (0.85, FeedbackStatus.IN_PROGRESS))
        else:
            table = ((0.20, FeedbackStatus.RESOLVED), (0.25, FeedbackStatus.CLOSED), (0.55, FeedbackStatus.IN_PROGRESS))
        for limit, status in table:
            if roll < limit:
                return status
        return FeedbackStatus.OPEN

    def founding_rows(self, ids: _Ids) -> Iterator[dict[str, Any]]:
        """The officers' /found records of organisations founded during the history while an
        officer looked after one of the enterprises they cover: `foundings_per_year` a year of
        them where there are as many, each as /found saves it (the organisation's name, kind,
        date and secretary; from that enterprise, every covered one listed)."""
        rng = self.rng
        firms = {firm.id: firm for firm in self.firms}
        candidates: list[tuple[date, int, PartyOrganisation, list[int], int]] = []
        for oid, organisation, covered in self.formed:
            day = organisation.founded_on
            if day is None or not self.start <= day < self.today:
                continue
            guided = [(fid, officer) for fid in covered if (officer := firms[fid].officer_on(day)) is not None]
            if guided:
                fid, officer = guided[0]
                candidates.append((day, oid, organisation, [fid, *(i for i in covered if i != fid)], officer))
        total = min(len(candidates), self.scale.foundings_per_year * self.scale.years)
        for day, oid, organisation, covered, officer in sorted(rng.sample(candidates, total),
                                                               key=lambda c: (c[0], c[1])):
            filed = _instant(day, 16 * 60)
            yield {
                "id": ids.take("foundings"), "enterprise_id": covered[0], "organisation_id": oid, "action": "found",
                "enterprise_ids": covered, "name": organisation.name, "founded_on": day,
                "category": organisation.category, "formation": organisation.formation,
                "secretary": organisation.secretary or demo._person(rng),
                "secretary_source": organisation.secretary_source, "members": max(organisation.members or 0, 1),
                "officer_id": officer, "created_at": filed, "updated_at": filed,
            }
            self._count("foundings")

    # --- summary ------------------------------------------------------------------------------

    def summary(self, seed: int, visits: int) -> CitySummary:
        roles = [row["role"] for row in self.user_rows]
        return CitySummary(
            seed=seed, today=self.today, history_start=self.start, counties=len(self.counties),
            users=len(self.user_rows) + len(self.owner_rows), admins=roles.count(Role.ADMIN.value),
            supervisors=roles.count(Role.SUPERVISOR.value), officers=roles.count(Role.OFFICER.value),
            owners=len(self.owner_rows), enterprises=len(self.firms), assignments=self.counts.get("assignments", 0),
            visits=visits, headcount_records=self.counts.get("headcount_records", 0),
            people=sum(self.stages.values()), review_notes=self.counts.get("review_notes", 0),
            feedback=sum(self.statuses.values()), foundings=self.counts.get("foundings", 0),
            stages=dict(sorted(self.stages.items())), statuses=dict(sorted(self.statuses.items())),
            organisations=len(self.formed),
        )


class _SummaryPools:
    """Visit contents drawn from the demo's phrases: a pool per kind of enterprise, so two
    million visits cost a pick each instead of composing a summary each."""

    SIZE = 256

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools: dict[tuple[str, bool, int], list[tuple[list[str], str]]] = {}

    def pool(self, firm: _Firm) -> list[tuple[list[str], str]]:
        """The contents a visit to `firm` may have."""
        members = 0 if firm.members == 0 else 1 if firm.members < 3 else 3
        key = (firm.kind + ("/coop" if firm.cooperative else ""), firm.org != demo._Org.NONE.value, members)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = self._fill(firm, members)
        return pool

    def _fill(self, firm: _Firm, members: int) -> list[tuple[list[str], str]]:
        # A stand-in with the fields the demo's phrasing looks at.
        stand_in = Enterprise(kind=firm.kind, credit_code="93" if firm.cooperative else "91",
                              party_org_id=None if firm.org == demo._Org.NONE.value else 0, party_members=members)
        pool = []
        for _ in range(self.SIZE):
            chosen = demo._activities(self.rng, stand_in)
            pool.append(([a.value for a in Activity if a in chosen], demo._summary(self.rng, stand_in, chosen)))
        return pool

