"""The year-end figures and the quarterly report, on a small world built by hand.

Every expected number below was counted by hand from the fixture (the comments show the
counting); none was produced by running the code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import reports
from storage.creditcode import check_character
from storage.models import Assignment, Enterprise, Feedback, Founding, Person, User, Visit
from storage.reports import (
    Applied,
    Cultivated,
    Dispatched,
    OfficerCount,
    RegionCount,
    Resolved,
    Visits,
)
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
Y2026 = (date(2026, 1, 1), date(2027, 1, 1))
CITY = "宜昌市"
ZHIJIANG = "宜昌市/枝江市"


def _code(serial: int) -> str:
    first17 = f"91420583MA4F{serial:05d}"
    return first17 + check_character(first17)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def _world(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Enterprises A (枝江市/马家店街道), B (枝江市/白洋镇), C (远安县), D (当阳市), E (宜昌市 itself)
    in the city; F in 荆州市, outside it. Officers 王芳, 李明, 张伟 in the city, 赵六 outside."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        wang = User(name="王芳", role="officer", region=ZHIJIANG)
        li = User(name="李明", role="officer", region=CITY)
        zhang = User(name="张伟", role="officer", region=CITY)
        zhao = User(name="赵六", role="officer", region="荆州市")
        a = Enterprise(name="甲纺织", credit_code=_code(1), region="宜昌市/枝江市/马家店街道")
        b = Enterprise(name="乙机械", credit_code=_code(2), region="宜昌市/枝江市/白洋镇")
        c = Enterprise(name="丙茶业", credit_code=_code(3), region="宜昌市/远安县")
        d = Enterprise(name="丁酒业", credit_code=_code(4), region="宜昌市/当阳市")
        e = Enterprise(name="戊商贸", credit_code=_code(5), region=CITY)
        f = Enterprise(name="己鱼糕", credit_code=_code(6), region="荆州市/沙市区")
        s.add_all([wang, li, zhang, zhao, a, b, c, d, e, f])
        await s.flush()

        def assign(enterprise: Enterprise, officer: User, started: date, ended: date | None = None) -> Assignment:
            return Assignment(enterprise_id=enterprise.id, officer_id=officer.id, started_on=started, ended_on=ended)

        s.add_all([
            assign(a, wang, date(2025, 3, 1)),  # 1: open since 2025, straddles the year: counts
            assign(b, wang, date(2025, 6, 1), date(2025, 12, 31)),  # 2: ended the day before 2026: no
            assign(b, li, date(2026, 1, 1)),  # 3: starts on the first day: counts
            assign(c, li, date(2026, 12, 31)),  # 4: starts on the last day: counts
            assign(c, zhang, date(2027, 1, 1)),  # 5: starts the day after: no
            assign(d, zhang, date(2025, 1, 1), date(2026, 1, 1)),  # 6: ends on the first day: counts
            assign(a, zhang, date(2026, 3, 1), date(2026, 6, 30)),  # 7: within the year: counts
            assign(f, zhao, date(2026, 1, 1)),  # 8: outside the city
        ])

        def person(enterprise: Enterprise, name: str, stage: str, applied: date, **extra: object) -> Person:
            return Person(enterprise_id=enterprise.id, officer_id=wang.id, name=name, gender="male",
                          birth_date=date(1990, 1, 1), stage=stage, applied_on=applied, **extra)

        s.add_all([
            person(a, "P1", "activist", date(2025, 5, 1), activist_on=date(2026, 1, 1)),
            person(b, "P2", "activist", date(2025, 1, 10), activist_on=date(2025, 12, 31)),
            person(c, "P3", "applicant", date(2026, 12, 31), is_owner=True),
            person(d, "P4", "withdrawn", date(2025, 12, 31), is_owner=True, activist_on=date(2026, 7, 1),
                   withdrawn_on=date(2026, 9, 1)),
            person(a, "P5", "applicant", date(2026, 3, 1)),
            person(f, "P6", "activist", date(2026, 5, 1), is_owner=True, activist_on=date(2026, 5, 1)),
        ])

        def founding(enterprise: Enterprise, on: date, officer: User) -> Founding:
            return Founding(enterprise_id=enterprise.id, founded_on=on, category="branch", formation="single",
                            secretary="书记", members=3, officer_id=officer.id)

        s.add_all([
            founding(a, date(2026, 3, 15), wang),  # Fd1
            founding(b, date(2026, 12, 31), wang),  # Fd2
            founding(c, date(2026, 1, 1), li),  # Fd3
            founding(c, date(2025, 12, 31), li),  # Fd4: the year before
            founding(f, date(2026, 5, 1), zhao),  # Fd5: outside the city
            founding(e, date(2027, 1, 1), zhang),  # Fd6: the year after
        ])

        def visit(enterprise: Enterprise, officer: User, on: date) -> Visit:
            return Visit(enterprise_id=enterprise.id, officer_id=officer.id, visit_date=on, activities=["policy"])

        s.add_all([
            visit(a, wang, date(2026, 1, 1)),  # V1
            visit(a, wang, date(2025, 12, 31)),  # V2: the year before
            visit(b, li, date(2026, 12, 31)),  # V3
            visit(a, zhang, date(2026, 6, 1)),  # V4
            visit(f, zhao, date(2026, 6, 1)),  # V5: outside the city
        ])

        def feedback(enterprise: Enterprise, status: str, closed: datetime, rating: int | None = None) -> Feedback:
            return Feedback(enterprise_id=enterprise.id, raised_by="业主", channel="officer", category="hiring",
                            content="招工难", urgency="normal", status=status, closed_at=closed, rating=rating,
                            created_at=_utc(2025, 12, 1, 0, 0))

        s.add_all([
            feedback(a, "resolved", _utc(2025, 12, 31, 16, 30), 5),  # Fb1: 2026-01-01 00:30 local: in
            feedback(a, "resolved", _utc(2025, 12, 31, 15, 30), 1),  # Fb2: 2025-12-31 23:30 local: out
            feedback(b, "resolved", _utc(2026, 12, 31, 15, 59), 4),  # Fb3: 2026-12-31 23:59 local: in
            feedback(b, "resolved", _utc(2026, 12, 31, 16, 0)),  # Fb4: 2027-01-01 00:00 local: out
            feedback(c, "closed", _utc(2026, 6, 1, 4, 0)),  # Fb5: dropped, not resolved
            feedback(c, "resolved", _utc(2026, 6, 1, 4, 0)),  # Fb6: in, unrated
            feedback(f, "resolved", _utc(2026, 6, 1, 4, 0), 2),  # Fb7: outside the city
        ])
        await s.flush()
        ids = {"wang": wang.id, "li": li.id}
        await uow.commit()
    return ids


async def test_officers_dispatched_counts_assignments_meeting_the_year(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # City: assignments 1, 3, 4, 6, 7 = 5 person-times; 王芳 (1), 李明 (3, 4), 张伟 (6, 7) = 3 officers.
        assert await reports.officers_dispatched(session, CITY, *Y2026) == Dispatched(person_times=5, officers=3)
        # 枝江市 (A and B): 1 (王芳), 3 (李明), 7 (张伟) = 3 person-times by 3 officers.
        assert await reports.officers_dispatched(session, ZHIJIANG, *Y2026) == Dispatched(person_times=3, officers=3)
        # Everything: the city's 5 plus 8 (赵六) = 6, by 4 officers.
        assert await reports.officers_dispatched(session, "", *Y2026) == Dispatched(person_times=6, officers=4)
        # 2025 in the city: 1, 2, 6 (started 2025) = 3 person-times; 王芳 (1, 2), 张伟 (6) = 2 officers.
        assert await reports.officers_dispatched(
            session, CITY, date(2025, 1, 1), date(2026, 1, 1)
        ) == Dispatched(person_times=3, officers=2)


async def test_activists_cultivated_are_people_who_became_activists_in_the_year(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # P1 (2026-01-01) and P4 (2026-07-01, an owner, withdrawn since); P2 was 2025-12-31, P6 is outside.
        assert await reports.activists_cultivated(session, CITY, *Y2026) == Cultivated(activists=2, owners=1)
        # 枝江市: only P1.
        assert await reports.activists_cultivated(session, ZHIJIANG, *Y2026) == Cultivated(activists=1, owners=0)


async def test_owners_applied_counts_owner_applications_dated_in_the_year(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # Applied in 2026: P3 (owner, 12-31) and P5 (03-01); P4 the owner applied 2025-12-31; P6 is outside.
        assert await reports.owners_applied(session, CITY, *Y2026) == Applied(owners=1, applicants=2)
        # Everything adds P6 (an owner, 2026-05-01).
        assert await reports.owners_applied(session, "", *Y2026) == Applied(owners=2, applicants=3)


async def test_organisations_guided_by_officer(session_factory: async_sessionmaker[AsyncSession]) -> None:
    ids = await _world(session_factory)
    async with session_factory() as session:
        guided = await reports.organisations_guided(session, CITY, *Y2026)
        # Fd1, Fd2 (王芳) and Fd3 (李明); Fd4 is 2025, Fd5 outside, Fd6 is 2027.
        assert guided.total == 3
        assert guided.by_officer == (OfficerCount(ids["wang"], "王芳", 2), OfficerCount(ids["li"], "李明", 1))


async def test_visits_made_in_the_year(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # V1, V3, V4: at A and B, by 王芳, 李明, 张伟; V2 is 2025, V5 outside.
        assert await reports.visits_made(session, CITY, *Y2026) == Visits(visits=3, enterprises=2, officers=3)


async def test_feedback_resolved_counts_local_days_not_utc_days(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # Fb1 (00:30 local on 01-01), Fb3 (23:59 local on 12-31), Fb6; ratings 5 and 4 average 4.5.
        # Counting by UTC day would wrongly take Fb2 and Fb4 and leave out Fb1.
        assert await reports.feedback_resolved(session, CITY, *Y2026, TZ) == Resolved(
            resolved=3, rated=2, average_rating=4.5
        )
        # 2025 by local days: only Fb2 (23:30 local on 12-31), rated 1.
        assert await reports.feedback_resolved(session, CITY, date(2025, 1, 1), date(2026, 1, 1), TZ) == Resolved(
            resolved=1, rated=1, average_rating=1.0
        )
        # Nothing resolved in 2028: no average rather than zero.
        assert await reports.feedback_resolved(session, CITY, date(2028, 1, 1), date(2029, 1, 1), TZ) == Resolved(
            resolved=0, rated=0, average_rating=None
        )


async def test_year_end_bundles_every_figure(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        figures = await reports.year_end(session, CITY + "/", 2026, TZ)
    assert (figures.year, figures.scope) == (2026, CITY)
    assert figures.dispatched == Dispatched(person_times=5, officers=3)
    assert figures.activists == Cultivated(activists=2, owners=1)
    assert figures.guided.total == 3
    assert figures.applied == Applied(owners=1, applicants=2)
    assert figures.visits == Visits(visits=3, enterprises=2, officers=3)
    assert figures.resolved == Resolved(resolved=3, rated=2, average_rating=4.5)


async def test_foundings_by_region_lists_every_sub_region_with_zeros(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _world(session_factory)
    async with session_factory() as session:
        # Enterprises lie in 宜昌市 itself (E), 当阳市 (D), 枝江市 (A, B), 远安县 (C); 荆州市 is outside.
        # 2026: Fd1 + Fd2 in 枝江市, Fd3 in 远安县; E's Fd6 is 2027.
        assert await reports.foundings_by_region(session, CITY, *Y2026) == [
            RegionCount("宜昌市", 0), RegionCount("宜昌市/当阳市", 0), RegionCount("宜昌市/枝江市", 2),
            RegionCount("宜昌市/远安县", 1),
        ]
        # Q4 2026: only Fd2 (12-31, 枝江市/白洋镇).
        q4 = await reports.foundings_by_region(session, CITY, date(2026, 10, 1), date(2027, 1, 1))
        assert [(row.region, row.founded) for row in q4] == [
            ("宜昌市", 0), ("宜昌市/当阳市", 0), ("宜昌市/枝江市", 1), ("宜昌市/远安县", 0),
        ]
        # One level further down, in 枝江市: Fd2 in 白洋镇, Fd1 in 马家店街道.
        assert await reports.foundings_by_region(session, ZHIJIANG, *Y2026) == [
            ("宜昌市/枝江市/白洋镇", 1), ("宜昌市/枝江市/马家店街道", 1),
        ]


@pytest.mark.parametrize(("region", "scope", "expected"), [
    ("宜昌市/枝江市/马家店街道/某社区", "宜昌市", "宜昌市/枝江市"),
    ("宜昌市", "宜昌市", "宜昌市"),
    ("宜昌市/枝江市", "", "宜昌市"),
])
def test_sub_region_path_is_one_level_below_the_scope(region: str, scope: str, expected: str) -> None:
    assert reports.sub_region_path(region, scope) == expected
