"""The 两个覆盖 figures, the organisation counts and the officers sent, in the official
definitions, on the hand-built world of `coverage_world` (its table lists every firm).

Every expected number was counted by hand from that table; the comments show the counting.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from output import reports as output_reports
from output.ledger import SUMMARY_HEADERS
from storage import coverage, reports
from storage.coverage import Coverage, Officers, OrgCounts
from storage.models import Assignment, Enterprise, Founding, PartyOrganisation, PartyOrgCoverage, Person, User
from storage.reports import Asked
from storage.uow import unit_of_work
from tests.storage.coverage_world import CITY, YUANAN, ZHIJIANG, build, code

TZ = ZoneInfo("Asia/Shanghai")
YEAR_END = date(2026, 12, 31)
BEFORE_Q4 = date(2026, 9, 30)

# 枝江市 on 2026-12-31:
ZHIJIANG_END = Coverage(
    ZHIJIANG,
    enterprises=8,  # E1–E8: operating 91s; E9 停业, E10 注销, I1/I2 个体, C1 合作社 are not
    single=1,  # E1 (O1)
    joint=3,  # E2, E3, E4 (O2 since 11-10)
    attached=1,  # E5 (O3)
    eligible=2,  # E1 (4 members here) and E6 (3, where unknown); E8 has 4 but only 2 here
    eligible_covered=1,  # E1
    work_covered=7,  # E1–E5 (organisations, 挂靠 too), E6 (王芳), E7 (共青团); not E8 (assignment ended, 妇联 only)
    above_scale=2,  # E1, E6
    above_scale_covered=1,  # E1
    mass_first=1,  # E7: no organisation, 共青团 (E1 has a 工会 but an organisation too)
    members=17,  # 5 + 1 + 2 + 0 + 2 + 3 + 0 + 4
    members_here=8,  # E1 4, E3 2, E8 2
    members_elsewhere=1,  # E1 1 (E3 0)
    demonstration_points=1,  # E1; E9 is one too but 停业
    individuals=2,  # I1, I2
    individuals_covered=0,
    cooperatives=1,  # C1
    cooperatives_covered=1,  # C1 (O6)
    suspended=1,  # E9
    deregistered=1,  # E10
)
# 远安县 on 2026-12-31:
YUANAN_END = Coverage(
    YUANAN,
    enterprises=5,  # E11–E15
    single=3,  # E11 (O7 since 10-15), E13 (O9, no date), E15 (O10); E12's O8 was dissolved 11-01
    eligible=3,  # E11 (3 here), E13 (10 here), E15 (25 here); E12 has 2
    eligible_covered=3,
    work_covered=4,  # E11, E13, E15 (organisations), E12 (李明 since 02-01); not E14 (assignment ended 2024)
    above_scale=2,  # E11, E13 (E15 is not, E14 unknown)
    above_scale_covered=2,
    mass_first=1,  # E12: no organisation any more, a 工会 (E11 has one and an organisation)
    members=47,  # 3 + 2 + 12 + 0 + 30
    members_here=38,  # 3 + 10 + 25
    members_elsewhere=5,  # 2 + 3
    individuals=1,  # I3
)


async def test_the_two_coverages_at_the_years_end_by_county_in_the_official_definitions(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build(session_factory)
    async with session_factory() as session:
        assert await coverage.coverage_by_region(session, CITY, YEAR_END) == [ZHIJIANG_END, YUANAN_END]
        city = await coverage.coverage(session, CITY + "/", YEAR_END)
    # The city is the sum of its counties.
    assert city == Coverage(CITY, enterprises=13, single=4, joint=3, attached=1, eligible=5, eligible_covered=4,
                            work_covered=11, above_scale=4, above_scale_covered=3, mass_first=2, members=64,
                            members_here=46, members_elsewhere=6, demonstration_points=1, individuals=3,
                            cooperatives=1, cooperatives_covered=1, suspended=1, deregistered=1)
    assert city.covered == 7 and city.uncovered == 5  # 13 − 7 − 1 (挂靠)
    assert city.org_rate == pytest.approx(7 / 13)  # 党组织覆盖率 53.8%: 单独 4 + 联合 3, 挂靠 not
    assert city.single_rate == pytest.approx(4 / 13)  # 单独组建率
    assert city.eligible_rate == pytest.approx(4 / 5)  # 应建已建率: E1, E11, E13, E15 of those five
    assert city.work_rate == pytest.approx(11 / 13)  # 党的工作覆盖率: all but E8 and E14
    assert city.above_scale_rate == pytest.approx(3 / 4)  # 规上覆盖率: E1, E11, E13 of E1, E6, E11, E13
    assert city.members_unreported == 12  # 64 − 46 − 6 (E2 1, E5 2, E6 3, E8 2, E12 2, E15 2)
    assert ZHIJIANG_END.org_rate == 0.5 and YUANAN_END.org_rate == 0.6  # 4/8, 3/5


async def test_the_state_at_the_end_of_the_day_before_the_quarter_leaves_out_what_came_later(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build(session_factory)
    async with session_factory() as session:
        zhijiang, yuanan = await coverage.coverage(session, ZHIJIANG, BEFORE_Q4), await coverage.coverage(
            session, YUANAN, BEFORE_Q4)
        county_zhijiang = await coverage.coverage_by_region(session, ZHIJIANG, BEFORE_Q4)
    # 枝江市 on 09-30: E1 (O1) alone, O2 comes on 11-10; E5 attached; work: E1, E5, E6 (王芳), E7 (共青团);
    # E8's assignment ended on 06-30, before the day.
    assert (zhijiang.single, zhijiang.joint, zhijiang.attached, zhijiang.work_covered) == (1, 0, 1, 4)
    # 远安县 on 09-30: E12 (O8 until 11-01), E13, E15; E11's O7 comes on 10-15. Work: those three
    # and E11, through its 工会.
    assert (yuanan.single, yuanan.eligible_covered, yuanan.work_covered) == (3, 2, 4)  # eligible: E13, E15
    # One level down in 枝江市: 白洋镇 (E3, E4, E5, E8) and 马家店街道 (E1, E2, E6, E7).
    assert [(row.region, row.enterprises, row.single, row.attached) for row in county_zhijiang] == [
        ("宜昌市/枝江市/白洋镇", 4, 0, 1), ("宜昌市/枝江市/马家店街道", 4, 1, 0),
    ]


async def test_organisations_by_category_and_way_of_forming(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await build(session_factory)
    async with session_factory() as session:
        at_end = await coverage.organisations_by_region(session, CITY, YEAR_END)
        before = coverage.org_total(await coverage.organisations_by_region(session, CITY, BEFORE_Q4), CITY)
        new_q4 = await coverage.new_organisations_by_region(session, CITY, date(2026, 10, 1), date(2027, 1, 1))
        new_2026 = coverage.org_total(
            await coverage.new_organisations_by_region(session, CITY, date(2026, 1, 1), date(2027, 1, 1)), CITY)
        in_zhijiang = await coverage.new_organisations_by_region(session, ZHIJIANG, date(2026, 10, 1),
                                                                 date(2027, 1, 1), ["宜昌市/枝江市/白洋镇"])
    # On 12-31: 远安县 O7 (党支部), O9 (党总支, no date: it exists), O10 (党委); O8 dissolved 11-01.
    # 枝江市 O1, O4 (its firm is 停业, the organisation still stands), O6 党支部 单独, O2 联合, O3 挂靠.
    # Secretaries sent: O9, O10 in 远安县, O2 in 枝江市.
    assert at_end == [
        OrgCounts(ZHIJIANG, {("branch", "single"): 3, ("branch", "joint"): 1, ("branch", "attached"): 1}, 1),
        OrgCounts(YUANAN, {("branch", "single"): 1, ("general_branch", "single"): 1, ("committee", "single"): 1}, 2),
    ]
    total = coverage.org_total(at_end, CITY)
    assert (total.total, total.count("branch"), total.formed("single"), total.secretaries_sent) == (8, 6, 6, 3)
    # On 09-30: O1, O3, O4, O6, O8, O9, O10 = 7 (O2 and O7 are not founded yet).
    assert before.total == 7
    # Founded in Q4: O7 (10-15, 远安县, 党支部 单独) and O2 (11-10, 枝江市, 联合); one without a date never is.
    assert new_q4 == [OrgCounts(ZHIJIANG, {("branch", "joint"): 1}, 1), OrgCounts(YUANAN, {("branch", "single"): 1}, 0)]
    # Founded in 2026: O2, O7, O10 (03-01); O8 was dissolved in 2026 but founded in 2021.
    assert new_2026.total == 3
    # In 枝江市 O2 is counted at the county's own level (it joins firms of two townships); 白洋镇
    # gets its row with nothing founded.
    assert in_zhijiang == [OrgCounts("宜昌市/枝江市", {("branch", "joint"): 1}, 1), OrgCounts("宜昌市/枝江市/白洋镇")]


async def test_officers_sent_are_people_in_the_period_and_person_years_up_to_its_end(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build(session_factory)
    year = (date(2026, 1, 1), date(2027, 1, 1))
    async with session_factory() as session:
        # 2026: 王芳 (E6; E8 until 06-30), 李明 (E12), 张伟 (E1 from 12-31) = 3 people. Person-years:
        # 王芳 2024, 2025, 2026 (E8 from 2024-05, E6 from 2025-03); 李明 2023, 2024 (E14), 2026 (E12);
        # 张伟 2026 (his E11 starts 2027) = 3 + 3 + 1 = 7.
        assert await coverage.officers_sent(session, CITY, *year) == Officers(officers=3, person_years=7)
        # 枝江市: 王芳 and 张伟, 3 + 1 person-years; 远安县: 李明, 3. They add up to the city's here
        # (nobody works in both), but people in general do not.
        assert await coverage.officers_sent(session, ZHIJIANG, *year) == Officers(officers=2, person_years=4)
        assert await coverage.officers_sent(session, YUANAN, *year) == Officers(officers=1, person_years=3)
        # 2024: 王芳 (E8), 李明 (E14 until 2024-02-01) = 2; person-years up to 2024: 王芳 2024, 李明 2023, 2024 = 3.
        assert await coverage.officers_sent(session, CITY, date(2024, 1, 1), date(2025, 1, 1)) == Officers(2, 3)
        # Q1 2026: 王芳 (E6, E8), 李明 (E12 from 02-01) = 2; 2026 so far: 王芳, 李明 → 3 + 3 = 6.
        assert await coverage.officers_sent(session, CITY, date(2026, 1, 1), date(2026, 4, 1)) == Officers(2, 6)
        # Before anyone was assigned: nothing.
        assert await coverage.officers_sent(session, CITY, date(2020, 1, 1), date(2021, 1, 1)) == Officers(0, 0)


async def test_the_quarter_brings_new_organisations_running_totals_and_the_change_of_coverage(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build(session_factory)
    async with session_factory() as session:
        q = await reports.quarterly(session, CITY, 2026, 4)
    assert (q.name, q.start, q.last) == ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert q.total(q.founded) == OrgCounts(CITY, {("branch", "single"): 1, ("branch", "joint"): 1}, 1)  # O7, O2
    assert q.total(q.founded_this_year).total == 3  # O10, O7, O2
    assert q.total(q.existing).total == 8  # as on 12-31
    # 党组织覆盖率 on 09-30: 枝江市 E1; 远安县 E12, E13, E15 = 4 of 13; on 12-31: 7 of 13.
    assert (q.before.covered, q.before.enterprises, q.after.covered, q.after.enterprises) == (4, 13, 7, 13)
    assert [row.region for row in q.coverage_before] == [ZHIJIANG, YUANAN]


async def test_the_year_end_has_the_official_lines_and_the_practices(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build(session_factory)
    async with session_factory() as session:
        result = await reports.year_end(session, CITY, 2026, TZ)
    assert result.coverage == (ZHIJIANG_END, YUANAN_END)
    assert result.total_coverage.covered == 7 and result.total_organisations.total == 8
    assert result.total_founded.total == 3  # O2, O7, O10
    assert result.officers == Officers(officers=3, person_years=7)
    # 党建工作 requests registered on a Yichang day of 2026: E7 ×2 and E14's (00:30 on 1 January);
    # E8's at 00:00 on 1 January 2027 is next year's, E6's is about hiring: 3 from 2 enterprises.
    assert result.asked == Asked(requests=3, enterprises=2)
    # O2's founding record (王芳) counts as guided; 李明's record of O10 is a change.
    assert result.guided.total == 1
    # P1 and P2 became activists in 2026 (P3 in 2025); P4, an owner, applied in 2026.
    assert (result.activists.activists, result.applied.owners) == (2, 1)
    assert (result.total_coverage.demonstration_points, result.total_coverage.mass_first) == (1, 2)  # E1; E7, E12


def test_the_visit_rate_is_not_called_coverage_in_the_ledger() -> None:
    assert "按期走访率" in SUMMARY_HEADERS and "覆盖率" not in SUMMARY_HEADERS


async def test_the_year_end_reproduces_the_practices_figures_from_a_data_set_built_to_match_them(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The practice reports "officers dispatched 1,697 person-times, 997 activists cultivated,
    150+ organisations guided, 24 cadres serving as secretaries". Scaled down to one county:
    17 person-times, 10 activists, 2 organisations guided, 3 secretaries sent, built below."""
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        officers = [User(name=f"联系员{i}", role="officer", region=ZHIJIANG) for i in range(7)]
        firms = [Enterprise(name=f"企业{i}", credit_code=code("91", i), region=ZHIJIANG, party_members=1)
                 for i in range(10)]
        s.add_all([*officers, *firms])
        await s.flush()
        # Five officers since 2024 (2024, 2025, 2026: 15 person-years), one for part of 2025 (1),
        # one since March 2026 (1): 17 person-times; 6 of them served in 2026.
        s.add_all([Assignment(enterprise_id=firms[i].id, officer_id=officers[i].id, started_on=date(2024, 1, 1))
                   for i in range(5)])
        s.add_all([Assignment(enterprise_id=firms[5].id, officer_id=officers[5].id, started_on=date(2025, 2, 1),
                              ended_on=date(2025, 10, 1)),
                   Assignment(enterprise_id=firms[6].id, officer_id=officers[6].id, started_on=date(2026, 3, 1))])
        # Ten people became activists in 2026, one a month from January; one more in 2025, not counted.
        s.add_all([Person(enterprise_id=firms[i].id, officer_id=officers[i % 7].id, name=f"积极分子{i}", gender="male",
                          birth_date=date(1995, 1, 1), stage="activist", applied_on=date(2025, 6, 1),
                          activist_on=date(2026, 1 + i, 1))
                   for i in range(10)])
        s.add(Person(enterprise_id=firms[0].id, officer_id=officers[0].id, name="去年", gender="male",
                     birth_date=date(1995, 1, 1), stage="activist", applied_on=date(2025, 1, 1),
                     activist_on=date(2025, 12, 1)))
        # Organisations of 企业0 (2025), 企业1 and 企业2 (2026, founded with two officers' guidance),
        # each with a secretary sent by the higher committee: 3.
        branches = [PartyOrganisation(name=f"中共企业{i}支部委员会", category="branch", formation="single",
                                      region=ZHIJIANG, founded_on=date(2025 + (i > 0), 5, 1), secretary_source="sent")
                    for i in range(3)]
        s.add_all(branches)
        await s.flush()
        s.add_all([PartyOrgCoverage(enterprise_id=firms[i].id, organisation_id=branches[i].id,
                                    started_on=branches[i].founded_on) for i in range(3)])
        s.add_all([Founding(enterprise_id=firms[i].id, organisation_id=branches[i].id, founded_on=date(2026, 5, 1),
                            category="branch", formation="single", secretary="书记", secretary_source="sent",
                            members=3, officer_id=officers[i].id) for i in (1, 2)])
        await uow.commit()
    async with session_factory() as session:
        report = await output_reports.year_end(session, ZHIJIANG, 2026, TZ, "zh_CN")
    assert "选派党建工作指导员（联系员）：6 人，累计 17 人次（按人年计）" in report.text
    assert "培养入党积极分子：10 名" in report.text
    assert "指导新建党组织：2 个" in report.text
    assert "本年新建 2 个；上级选派书记 3 名" in report.text
    # And 3 of the 10 enterprises are covered on 31 December.
    assert "党组织覆盖率：<b>30.0%</b>" in report.text


async def test_the_figures_read_each_enterprises_coverage_once_not_a_subquery_per_figure(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A correlated subquery per figure and enterprise (ten, over 20,000 enterprises) made
    PostgreSQL's estimate cross its JIT thresholds: compiling took 1.4 s of the city's 1.5 s
    (bench/README.md, the official figures). The coverage and the assignments of the day are
    joined to the enterprises once; neither backend plans a subquery per enterprise."""
    await build(session_factory)
    engine = session_factory.kw["bind"]
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session_factory() as session:
            rows = await coverage.coverage_by_region(session, CITY, YEAR_END)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert rows == [ZHIJIANG_END, YUANAN_END]
    [(statement, parameters)] = statements
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            plan = [row[0] for row in (await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)).all()]
            assert not [line for line in plan if "SubPlan" in line], "\n".join(plan)
        else:
            plan = [row[3] for row in (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                         parameters)).all()]
            assert not [line for line in plan if "CORRELATED" in line], "\n".join(plan)
