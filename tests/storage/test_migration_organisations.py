"""Migration 008 carries the enterprise's status word over to party organisation records, on
SQLite and PostgreSQL: a database filled at revision 007 is upgraded and read back."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from storage.db import make_sync_engine
from storage.migrate import downgrade, upgrade
from tests.conftest import PG_SERVER

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_run_database: str | None) -> Iterator[str]:
    """A database without any table, to migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"liaison_old_{secrets.token_hex(4)}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _day(value: object) -> date | None:
    """A date read with plain SQL: SQLite gives the ISO text."""
    return date.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


def _code(n: int) -> str:
    return f"9142058300000{n:04d}X"[:18]


def _fill_at_007(url: str) -> None:
    """Five enterprises as the old schema kept them: none, a joint branch, an independent
    branch founded twice (the later founding counts), a general branch without any founding,
    and a committee; and an owner who is a member, one who is not, one unknown."""
    engine = make_sync_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO users (id, name, role, region, active, blocked_bot, created_at, updated_at) "
                          "VALUES (1, '王芳', 'officer', '宜昌市/枝江市', true, false, :now, :now)"), {"now": NOW})
        rows = [
            (1, "甲无", "none", "群众"),
            (2, "乙联合", "joint_branch", "中共党员"),
            (3, "丙支部", "branch", "非党员"),
            (4, "丁总支", "general_branch", None),
            (5, "戊党委", "committee", "中共预备党员"),
        ]
        for eid, name, org, status in rows:
            c.execute(sa.text(
                "INSERT INTO enterprises (id, name, name_initials, credit_code, kind, region, party_org, mass_orgs, "
                "owner_political_status, demonstration_point, visit_cadence_days, created_at, updated_at) "
                "VALUES (:id, :name, '', :code, 'private', '宜昌市/枝江市/马家店街道', :org, '[]', :status, false, 30, "
                ":now, :now)"), {"id": eid, "name": name, "code": _code(eid), "org": org, "status": status, "now": NOW})
        foundings = [
            (1, 2, date(2024, 3, 1), "joint_branch", "joint", "甲书记", 4),
            (2, 3, date(2023, 5, 1), "branch", "independent", "老书记", 3),
            (3, 3, date(2025, 6, 1), "branch", "independent", "新书记", 5),
            (4, 5, date(2020, 7, 1), "committee", "independent", "戊书记", 60),
        ]
        for fid, eid, day, org_type, method, secretary, members in foundings:
            c.execute(sa.text(
                "INSERT INTO foundings (id, enterprise_id, founded_on, org_type, method, secretary, members, "
                "officer_id, created_at, updated_at) VALUES (:id, :eid, :day, :org, :method, :sec, :members, 1, "
                ":now, :now)"), {"id": fid, "eid": eid, "day": day, "org": org_type, "method": method,
                                 "sec": secretary, "members": members, "now": NOW})
    engine.dispose()


def test_status_words_become_organisation_records_with_their_founding(old_database_url: str) -> None:
    upgrade(old_database_url, "007")
    _fill_at_007(old_database_url)
    upgrade(old_database_url)
    engine = make_sync_engine(old_database_url)
    with engine.connect() as c:
        orgs = {row.name: row for row in c.execute(sa.text(
            "SELECT id, name, name_inferred, category, formation, region, founded_on, secretary, members "
            "FROM party_organisations"))}
        firms = {row.name: row for row in c.execute(sa.text(
            "SELECT id, name, party_org_id, owner_is_member, operating_status FROM enterprises"))}
        coverage = {row.enterprise_id: row for row in c.execute(sa.text(
            "SELECT enterprise_id, organisation_id, started_on, ended_on FROM party_org_coverage"))}
        foundings = {row.id: row for row in c.execute(sa.text(
            "SELECT id, organisation_id, category, formation, enterprise_ids, action, name FROM foundings"))}
    engine.dispose()

    # Four organisations, named after their enterprises and flagged as such; none for 甲.
    assert set(orgs) == {"乙联合党组织", "丙支部党组织", "丁总支党组织", "戊党委党组织"}
    assert all(org.name_inferred for org in orgs.values())
    kinds = {name: (org.category, org.formation) for name, org in orgs.items()}
    assert kinds == {"乙联合党组织": ("branch", "joint"), "丙支部党组织": ("branch", "single"),
                     "丁总支党组织": ("general_branch", "single"), "戊党委党组织": ("committee", "single")}
    # The latest founding of each gives the date, secretary and members; 丁 had none: no date.
    assert (_day(orgs["丙支部党组织"].founded_on), orgs["丙支部党组织"].secretary, orgs["丙支部党组织"].members) == (
        date(2025, 6, 1), "新书记", 5)
    assert (_day(orgs["乙联合党组织"].founded_on), _day(orgs["戊党委党组织"].founded_on)) == (
        date(2024, 3, 1), date(2020, 7, 1))
    assert (orgs["丁总支党组织"].founded_on, orgs["丁总支党组织"].secretary, orgs["丁总支党组织"].members) == (
        None, None, None)
    assert all(org.region == "宜昌市/枝江市/马家店街道" for org in orgs.values())

    assert firms["甲无"].party_org_id is None and 1 not in coverage
    for firm, org in (("乙联合", "乙联合党组织"), ("丙支部", "丙支部党组织"), ("丁总支", "丁总支党组织"),
                      ("戊党委", "戊党委党组织")):
        assert firms[firm].party_org_id == orgs[org].id
        row = coverage[firms[firm].id]
        assert (row.organisation_id, _day(row.started_on), row.ended_on) == (orgs[org].id, _day(orgs[org].founded_on),
                                                                            None)
    assert {name: firm.owner_is_member for name, firm in firms.items()} == {
        "甲无": False, "乙联合": True, "丙支部": False, "丁总支": None, "戊党委": True}
    assert {firm.operating_status for firm in firms.values()} == {"operating"}

    # Foundings: the kind in the new words, the enterprise's organisation, the enterprise listed.
    assert {fid: (f.category, f.formation, f.organisation_id, f.action) for fid, f in foundings.items()} == {
        1: ("branch", "joint", orgs["乙联合党组织"].id, "found"),
        2: ("branch", "single", orgs["丙支部党组织"].id, "found"),
        3: ("branch", "single", orgs["丙支部党组织"].id, "found"),
        4: ("committee", "single", orgs["戊党委党组织"].id, "found"),
    }
    ids = foundings[1].enterprise_ids
    assert (ids if isinstance(ids, list) else json.loads(ids)) == [2]


def test_the_downgrade_gives_the_status_words_back(old_database_url: str) -> None:
    upgrade(old_database_url, "007")
    _fill_at_007(old_database_url)
    upgrade(old_database_url)
    downgrade(old_database_url, "007")
    engine = make_sync_engine(old_database_url)
    with engine.connect() as c:
        words = dict(c.execute(sa.text("SELECT name, party_org FROM enterprises")).tuples().all())
        methods = dict(c.execute(sa.text("SELECT id, method FROM foundings")).tuples().all())
        types = dict(c.execute(sa.text("SELECT id, org_type FROM foundings")).tuples().all())
    engine.dispose()
    assert words == {"甲无": "none", "乙联合": "joint_branch", "丙支部": "branch", "丁总支": "general_branch",
                     "戊党委": "committee"}
    assert methods == {1: "joint", 2: "independent", 3: "independent", 4: "independent"}
    assert types == {1: "joint_branch", 2: "branch", 3: "branch", 4: "committee"}
