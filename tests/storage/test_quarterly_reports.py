"""The 季报 and 年终统计 queued for supervisors, on a small world built by hand.

Every expected number was counted by hand from the fixture (the comments show the counting).
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import scheduler
from bot.config import Settings
from bot.scheduler import Runtime
from bot.sender import OutboxSender
from output.reports import previous_quarter, queue_quarterly, queue_year_end
from storage.clock import FixedClock
from storage.creditcode import check_character
from storage.models import (
    Assignment,
    Enterprise,
    Feedback,
    Founding,
    OutboxMessage,
    PartyOrganisation,
    PartyOrgCoverage,
    Person,
    User,
    Visit,
)
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
CITY = "宜昌市"
ZHIJIANG = "宜昌市/枝江市"
QUARTER_DAY = datetime(2026, 10, 8, 9, 0, tzinfo=TZ)  # the first working day after 国庆: Q3 2026 is reported
YEAR_DAY = datetime(2027, 1, 4, 9, 30, tzinfo=TZ)  # the first working day of 2027: 2026 is reported


def _code(serial: int) -> str:
    first17 = f"91420583MA4F{serial:05d}"
    return first17 + check_character(first17)


async def _world(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Enterprises A (枝江市/马家店街道), B (枝江市/白洋镇), C (远安县), E (宜昌市 itself), F (荆州市,
    outside). Supervisors: the city's (chat 9001), 枝江市's (chat 9002, English), an inactive one,
    one who never joined (no chat), one who blocked the bot; an officer with a chat."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        city = User(name="市督导", role="supervisor", region=CITY, chat_id=9001, telegram_user_id=9001)
        county = User(name="县督导", role="supervisor", region=ZHIJIANG, chat_id=9002, telegram_user_id=9002,
                      locale="en")
        gone = User(name="离任督导", role="supervisor", region=CITY, chat_id=9003, telegram_user_id=9003, active=False)
        unjoined = User(name="未加入督导", role="supervisor", region=CITY)
        blocked = User(name="屏蔽督导", role="supervisor", region=CITY, chat_id=9005, telegram_user_id=9005,
                       blocked_bot=True)
        wang = User(name="王芳", role="officer", region=ZHIJIANG, chat_id=9006, telegram_user_id=9006)
        li = User(name="李明", role="officer", region=CITY, chat_id=9007, telegram_user_id=9007)
        a = Enterprise(name="甲纺织", credit_code=_code(1), region="宜昌市/枝江市/马家店街道")
        b = Enterprise(name="乙机械", credit_code=_code(2), region="宜昌市/枝江市/白洋镇")
        c = Enterprise(name="丙茶业", credit_code=_code(3), region="宜昌市/远安县")
        e = Enterprise(name="戊商贸", credit_code=_code(5), region=CITY)
        f = Enterprise(name="己鱼糕", credit_code=_code(6), region="荆州市/沙市区")
        s.add_all([city, county, gone, unjoined, blocked, wang, li, a, b, c, e, f])
        await s.flush()

        def founding(enterprise: Enterprise, on: date) -> Founding:
            return Founding(enterprise_id=enterprise.id, founded_on=on, category="branch", formation="single",
                            secretary="书记", members=3, officer_id=wang.id)

        s.add_all([
            founding(a, date(2026, 7, 1)),  # Q3: 枝江市 (马家店街道)
            founding(b, date(2026, 9, 30)),  # Q3: 枝江市 (白洋镇)
            founding(a, date(2026, 8, 15)),  # Q3: 枝江市 (马家店街道)
            founding(c, date(2026, 6, 30)),  # Q2: not in the report
            founding(e, date(2026, 10, 1)),  # Q4: not in the report
            founding(f, date(2026, 8, 1)),  # outside the city
        ])

        def organisation(enterprise: Enterprise, on: date, dissolved: date | None = None) -> PartyOrganisation:
            return PartyOrganisation(name=f"中共{enterprise.name}支部委员会{on:%m%d}", category="branch",
                                     formation="single", region=enterprise.region, founded_on=on,
                                     dissolved_on=dissolved)

        # The organisations those records made; A's first one was reorganised into the second.
        a1, b1, a2 = organisation(a, date(2026, 7, 1), date(2026, 8, 15)), organisation(b, date(2026, 9, 30)), \
            organisation(a, date(2026, 8, 15))
        c1, e1, f1 = organisation(c, date(2026, 6, 30)), organisation(e, date(2026, 10, 1)), organisation(f, date(2026, 8, 1))
        s.add_all([a1, b1, a2, c1, e1, f1])
        await s.flush()
        s.add_all([
            PartyOrgCoverage(enterprise_id=a.id, organisation_id=a1.id, started_on=date(2026, 7, 1),
                             ended_on=date(2026, 8, 15)),
            PartyOrgCoverage(enterprise_id=a.id, organisation_id=a2.id, started_on=date(2026, 8, 15)),
            PartyOrgCoverage(enterprise_id=b.id, organisation_id=b1.id, started_on=date(2026, 9, 30)),
            PartyOrgCoverage(enterprise_id=c.id, organisation_id=c1.id, started_on=date(2026, 6, 30)),
            PartyOrgCoverage(enterprise_id=e.id, organisation_id=e1.id, started_on=date(2026, 10, 1)),
            PartyOrgCoverage(enterprise_id=f.id, organisation_id=f1.id, started_on=date(2026, 8, 1)),
        ])
        s.add_all([
            Assignment(enterprise_id=a.id, officer_id=wang.id, started_on=date(2025, 3, 1)),  # counts
            Assignment(enterprise_id=b.id, officer_id=wang.id, started_on=date(2026, 5, 1),
                       ended_on=date(2026, 8, 1)),  # counts
            Assignment(enterprise_id=c.id, officer_id=li.id, started_on=date(2026, 2, 1)),  # counts
            Assignment(enterprise_id=e.id, officer_id=li.id, started_on=date(2027, 1, 2)),  # 2027: no
        ])

        def person(enterprise: Enterprise, name: str, applied: date, **extra: object) -> Person:
            return Person(enterprise_id=enterprise.id, officer_id=wang.id, name=name, gender="male",
                          birth_date=date(1990, 1, 1), stage="activist", applied_on=applied, **extra)

        s.add_all([
            person(a, "P1", date(2026, 2, 1), activist_on=date(2026, 9, 1), is_owner=True),  # activist, owner applied
            person(c, "P2", date(2025, 5, 1), activist_on=date(2026, 3, 1)),  # activist (远安县)
            person(b, "P3", date(2025, 5, 1), activist_on=date(2025, 11, 1)),  # 2025: no
        ])
        s.add_all([
            Visit(enterprise_id=a.id, officer_id=wang.id, visit_date=date(2026, 4, 1), activities=["policy"]),
            Visit(enterprise_id=b.id, officer_id=wang.id, visit_date=date(2026, 5, 1), activities=["policy"]),
            Visit(enterprise_id=c.id, officer_id=li.id, visit_date=date(2026, 6, 1), activities=["policy"]),
            Visit(enterprise_id=c.id, officer_id=li.id, visit_date=date(2027, 1, 2), activities=["policy"]),  # 2027
        ])

        def feedback(enterprise: Enterprise, status: str, closed: datetime) -> Feedback:
            return Feedback(enterprise_id=enterprise.id, raised_by="业主", channel="officer", category="hiring",
                            content="招工难", urgency="normal", status=status, closed_at=closed,
                            created_at=datetime(2026, 1, 1, tzinfo=UTC))

        s.add_all([
            feedback(a, "resolved", datetime(2026, 6, 1, 4, 0, tzinfo=UTC)),  # resolved in 枝江市
            feedback(c, "resolved", datetime(2026, 6, 1, 4, 0, tzinfo=UTC)),  # resolved in 远安县
            feedback(c, "closed", datetime(2026, 6, 1, 4, 0, tzinfo=UTC)),  # closed, not resolved
        ])
        await s.flush()
        ids = {"city": city.id, "county": county.id}
        await uow.commit()
    return ids


async def _rows(factory: async_sessionmaker[AsyncSession]) -> dict[str, OutboxMessage]:
    async with factory() as session:
        return {row.dedupe_key: row for row in await session.scalars(select(OutboxMessage))}


def _books(row: OutboxMessage) -> list[openpyxl.Workbook]:
    return [openpyxl.load_workbook(BytesIO(base64.b64decode(item["data"]))) for item in row.attachments
            if item["filename"].endswith(".xlsx")]


def _sheets(row: OutboxMessage) -> list[list[tuple[object, ...]]]:
    """The XLSX attachments of an outbox row, as rows of values of the sheet shown first."""
    return [[tuple(r) for r in book.active.iter_rows(values_only=True)] for book in _books(row)]  # type: ignore[union-attr]


def _sheet(row: OutboxMessage, title: str) -> list[tuple[object, ...]]:
    """The rows of one sheet of the outbox row's one workbook."""
    [book] = _books(row)
    return [tuple(r) for r in book[title].iter_rows(values_only=True)]


async def _queue(factory: async_sessionmaker[AsyncSession], *, year_end: bool, now: datetime) -> int:
    async with unit_of_work(factory) as uow:
        count = await (queue_year_end if year_end else queue_quarterly)(uow.session, now=now, tz=TZ)
        await uow.commit()
    return count


def test_the_previous_quarter_is_named_and_bounded() -> None:
    assert previous_quarter(date(2026, 10, 1)) == ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1))
    assert previous_quarter(date(2026, 12, 31)) == ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1))
    assert previous_quarter(date(2027, 1, 4)) == ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1))
    assert previous_quarter(date(2026, 4, 1)) == ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1))
    assert previous_quarter(date(2026, 7, 1)) == ("2026-Q2", date(2026, 4, 1), date(2026, 7, 1))


async def test_each_supervisor_gets_the_quarter_by_sub_region_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    assert await _queue(session_factory, year_end=False, now=QUARTER_DAY) == 2
    rows = await _rows(session_factory)
    # Only the two active, reachable supervisors; officers and the others get nothing.
    assert set(rows) == {f"report:quarterly:{ids['city']}:2026-Q3", f"report:quarterly:{ids['county']}:2026-Q3"}
    city = rows[f"report:quarterly:{ids['city']}:2026-Q3"]
    assert (city.chat_id, city.user_id, city.kind, city.status) == (9001, ids["city"], "report", "pending")
    # City, Q3 2026: 枝江市 3 (two at A, one at B); 远安县 0 (its founding was Q2); 宜昌市 itself 0
    # (E's is Q4); F is outside. Total 3.
    assert "2026年第3季度" in city.text and "2026-07-01 至 2026-09-30" in city.text
    assert "新建党组织 <b>3</b> 个" in city.text
    assert "· 枝江市：3 个" in city.text and "· 远安县：0 个" in city.text and "· 宜昌市（本级）：0 个" in city.text
    county = rows[f"report:quarterly:{ids['county']}:2026-Q3"]
    # 枝江市 (English): 马家店街道 2, 白洋镇 1, total 3.
    assert "Q3 2026" in county.text and "<b>3</b> new party organisations" in county.text
    assert "· 马家店街道: 2" in county.text and "· 白洋镇: 1" in county.text and "远安县" not in county.text
    # The organisations behind the count: all 党支部（单独组建）. At the quarter's end A's first one
    # was dissolved (reorganised), so A's second, B's and C's (Q2) exist: 3; founded in 2026 up
    # to 09-30: A's two, B's, C's = 4.
    assert "其中：党支部（单独组建）3 个" in city.text
    assert "截至季末共有党组织 3 个（党委 0、党总支 0、党支部 3），本年累计新建 4 个。" in city.text
    # Covered on 06-30 (the day before the quarter): C of A, B, C, E = 1/4; on 09-30: A, B, C = 3/4
    # (B from 09-30 itself; E only from 10-01).
    assert "党组织覆盖率：季初 25.0%（1/4 户）→ 季末 <b>75.0%</b>（3/4 户），+50.0 个百分点。" in city.text
    # 枝江市: A and B, neither covered on 06-30, both on 09-30.
    assert "0.0% at the start (0/2 enterprises) → <b>100.0%</b> at the end (2/2), +100.0 points" in county.text

    # The same figures as an XLSX for filing.
    [sheet] = _sheets(rows[f"report:quarterly:{ids['county']}:2026-Q3"])
    assert sheet[0] == ("地区", "新建党组织数") and sheet[-1] == ("合计", 3)
    assert ("宜昌市/枝江市/马家店街道", 2) in sheet and ("宜昌市/枝江市/白洋镇", 1) in sheet

    # A second run (a restart, a second instance) queues nothing new.
    assert await _queue(session_factory, year_end=False, now=QUARTER_DAY) == 0
    assert len(await _rows(session_factory)) == 2


async def test_each_supervisor_gets_the_year_end_figures_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    assert await _queue(session_factory, year_end=True, now=YEAR_DAY) == 2
    rows = await _rows(session_factory)
    assert set(rows) == {f"report:year_end:{ids['city']}:2026", f"report:year_end:{ids['county']}:2026"}
    city = rows[f"report:year_end:{ids['city']}:2026"].text
    assert "宜昌市 2026年 年终统计" in city
    # Officers with an assignment meeting 2026 in the city: 王芳 (A, B) and 李明 (C) = 2 (李明 at E
    # starts 2027). Person-years up to 2026-12-31: 王芳 2025 (A since 2025-03-01) and 2026, 李明
    # 2026 = 3.
    assert "选派党建工作指导员（联系员）：2 人，累计 3 人次（按人年计）" in city
    # On 2026-12-31 A, B, C and E are covered, each by its own 党支部: 4/4; the organisations
    # then: A's second, B's, C's, E's = 4; founded in 2026: those and A's first = 5.
    assert "已建立党组织的企业：4 户（单独建立 4、联合建立 0；另挂靠 0 户）" in city
    assert "党组织覆盖率：<b>100.0%</b>" in city
    assert "党组织：4 个（党委 0、党总支 0、党支部 4；单独组建 4、联合组建 0、挂靠 0），本年新建 5 个" in city
    # P1 (2026-09-01) and P2 (2026-03-01); P3 became an activist in 2025.
    assert "培养入党积极分子：2 名" in city
    # Foundings dated 2026 in the city: A ×2, B, C (Q2), E (Q4) = 5; F is outside.
    assert "指导新建党组织：5 个" in city
    # P1 is an owner and applied 2026-02-01.
    assert "业主递交入党申请：1 人" in city
    # Visits dated 2026: A, B, C = 3 (the one at C in 2027 is not).
    assert "走访企业：3 次" in city
    # Resolved in 2026: A's and C's = 2 (the closed one is not resolved).
    assert "办结业主诉求：2 件" in city
    county = rows[f"report:year_end:{ids['county']}:2026"].text
    # 枝江市 (English): assignments A, B (王芳) = 2 by 1; activists P1 = 1; foundings A ×2, B = 3;
    # owners applied P1 = 1; visits A, B = 2; resolved A's = 1.
    assert "枝江市 year-end figures 2026" in county
    # Officers: 王芳 alone, at A since 2025: 2 person-years.
    for line in ("sent: 1 officer, 2 person-years in all", "Activists cultivated: 1", "guided: 3",
                 "applied to join: 1", "Enterprise visits: 2", "requests resolved: 1"):
        assert line in county, line

    sheet = _sheet(rows[f"report:year_end:{ids['city']}:2026"], "工作情况")
    assert ("选派党建工作指导员（联系员）（人次，按人年累计）", 3) in sheet and ("指导新建党组织", 5) in sheet
    assert ("办结业主诉求", 2) in sheet

    assert await _queue(session_factory, year_end=True, now=YEAR_DAY) == 0
    assert len(await _rows(session_factory)) == 2


async def test_the_jobs_queue_only_on_the_first_working_day(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _world(session_factory)
    clock = FixedClock(datetime(2027, 1, 1, 9, 0, tzinfo=TZ))  # a Friday, but 元旦: not a working day
    runtime = Runtime(bot=None, factory=session_factory, clock=clock, settings=Settings(_env_file=None),
                      sender=OutboxSender(clock=clock, tz=TZ))
    monkeypatch.setattr(scheduler, "_runtime", runtime)
    await scheduler.quarterly_report_job()
    await scheduler.year_end_report_job()
    assert await _rows(session_factory) == {}

    clock.advance(datetime(2027, 1, 4, 9, 0, tzinfo=TZ) - clock.now())  # Monday, the first working day of 2027
    await scheduler.quarterly_report_job()
    assert {key.rsplit(":", 1)[1] for key in await _rows(session_factory)} == {"2026-Q4"}
    clock.advance(timedelta(minutes=30))
    await scheduler.year_end_report_job()
    await scheduler.quarterly_report_job()  # run again: nothing new
    assert sorted(key.rsplit(":", 1)[1] for key in await _rows(session_factory)) == ["2026", "2026", "2026-Q4",
                                                                                     "2026-Q4"]


async def test_the_report_job_builds_every_report_before_it_holds_the_write_lock(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A city's 年终统计 takes a second to build, 17 of them many: meanwhile SQLite's one write
    lock must stay free for the officers' saves, so nothing is queued until all are built."""
    import sqlite3

    from sqlalchemy.engine import make_url

    from output import reports
    from storage.db import make_async_engine, make_session_factory

    factory = make_session_factory(make_async_engine(sqlite_url))
    await _world(factory)
    path = make_url(sqlite_url).database
    assert path is not None
    lock_free: list[bool] = []
    build = reports.quarterly

    async def probed(*args: object, **kwargs: object) -> reports.Report:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once while a transaction holds the write lock
            probe.execute("ROLLBACK")
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            probe.close()
        return await build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reports, "quarterly", probed)
    assert await _queue(factory, year_end=False, now=QUARTER_DAY) == 2
    await factory.kw["bind"].dispose()
    assert lock_free == [True, True]  # the city's and 枝江市's supervisors
