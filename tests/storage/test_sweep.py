"""The reminder sweep on SQLite and PostgreSQL: each kind found, nothing queued twice, who is
skipped (away, blocked, unbound), and snoozes honoured."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, event, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import feedback as feedback_handlers
from handlers import people as people_handlers
from handlers import visit as visit_handlers
from handlers.adapter import DRAFT_BUTTON
from output.reminders import LATER, SKIP, render_reminders
from storage import development
from storage import sweep as sweeps
from storage.models import (
    Assignment,
    Draft,
    Enterprise,
    Feedback,
    OutboxMessage,
    Person,
    ReminderSnooze,
    ReviewNote,
    User,
    Visit,
)
from storage.uow import unit_of_work

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 local, ISO week 2026-W48
TODAY = date(2026, 11, 25)


async def _world(factory: async_sessionmaker[AsyncSession], **officer: object) -> dict[str, int]:
    """One officer with an overdue enterprise, an old open feedback item, an activist due for
    review and a draft left two days ago."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        values: dict[str, object] = {"name": "王芳", "role": "officer", "region": "宜昌市/枝江市", "chat_id": 501,
                                     "telegram_user_id": 501, "created_at": NOW, **officer}
        user = User(**values)
        late = Enterprise(name="楚韵纺织", credit_code="A" * 18, region="宜昌市/枝江市", visit_cadence_days=30)
        fine = Enterprise(name="白洋港", credit_code="B" * 18, region="宜昌市/枝江市", visit_cadence_days=30)
        s.add_all([user, late, fine])
        await s.flush()
        s.add_all([
            Assignment(enterprise_id=late.id, officer_id=user.id, started_on=date(2026, 1, 1)),
            Assignment(enterprise_id=fine.id, officer_id=user.id, started_on=date(2026, 1, 1)),
            Visit(enterprise_id=late.id, officer_id=user.id, visit_date=TODAY - timedelta(days=31)),
            Visit(enterprise_id=fine.id, officer_id=user.id, visit_date=TODAY - timedelta(days=20)),
            Feedback(enterprise_id=fine.id, raised_by="张总", channel="officer", category="hiring", content="招工难",
                     urgency="normal", officer_id=user.id, created_at=NOW - timedelta(days=8)),
            Feedback(enterprise_id=fine.id, raised_by="张总", channel="officer", category="hiring", content="新的",
                     urgency="normal", officer_id=user.id, created_at=NOW - timedelta(days=6)),
            Person(enterprise_id=late.id, officer_id=user.id, name="李明", gender="male",
                   birth_date=date(1990, 1, 1), stage="activist", applied_on=date(2025, 1, 2),
                   talked_on=date(2025, 1, 20), activist_on=date(2026, 5, 28)),
            Draft(user_id=user.id, form="visit", step="visit_date", answers={"enterprise": late.id},
                  updated_at=NOW - timedelta(days=2), created_at=NOW - timedelta(days=2)),
        ])
        await uow.commit()
        return {"officer": user.id, "late": late.id, "fine": fine.id}


async def _sweep(factory: async_sessionmaker[AsyncSession], now: datetime = NOW) -> sweeps.SweepReport:
    async with unit_of_work(factory) as uow:
        report = await sweeps.sweep(uow.session, now=now, tz=TZ)
        await uow.commit()
    return report


async def _keys(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as s:
        return sorted(await s.scalars(select(OutboxMessage.dedupe_key)))


async def test_each_kind_is_found_once_however_often_the_sweep_runs(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    report = await _sweep(session_factory)
    assert report.queued == {"overdue_visit": 1, "feedback": 1, "milestone": 1, "draft": 1}
    officer = ids["officer"]
    async with session_factory() as s:
        draft_id = await s.scalar(select(Draft.id))
        feedback_id = await s.scalar(select(Feedback.id).order_by(Feedback.id))
        person_id = await s.scalar(select(Person.id))
    assert await _keys(session_factory) == sorted([
        f"overdue_visit:enterprise:{ids['late']}:officer:{officer}:2026-W48",
        f"feedback:{feedback_id}:officer:{officer}:2026-W48",
        f"milestone:person:{person_id}:review:2026-11-28",
        f"draft:{draft_id}:2026-11-23",
    ])
    assert (await _sweep(session_factory)).total == 0
    assert (await _sweep(session_factory, NOW + timedelta(hours=5))).total == 0
    # A new week is a new period for the weekly kinds only.
    report = await _sweep(session_factory, NOW + timedelta(days=5))
    assert report.queued == {"overdue_visit": 1, "feedback": 2, "milestone": 0, "draft": 0}


async def test_a_sweep_queues_at_most_its_limit_and_the_next_sweeps_go_on(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """With a limit of two rows a sweep: Python's rows first (the draft), then the kinds in the
    order milestone, feedback, overdue visit; each later sweep goes on from there, and when all
    four are queued the next sweep is not limited and queues nothing."""
    await _world(session_factory)

    async def limited_sweep(limit: int) -> sweeps.SweepReport:
        async with unit_of_work(session_factory) as uow:
            report = await sweeps.sweep(uow.session, now=NOW, tz=TZ, limit=limit)
            await uow.commit()
        return report

    first = await limited_sweep(2)
    assert first.queued == {"overdue_visit": 0, "feedback": 0, "milestone": 1, "draft": 1} and first.limited
    second = await limited_sweep(1)
    assert second.queued == {"overdue_visit": 0, "feedback": 1, "milestone": 0, "draft": 0} and second.limited
    third = await limited_sweep(2)
    assert third.queued == {"overdue_visit": 1, "feedback": 0, "milestone": 0, "draft": 0} and not third.limited
    fourth = await limited_sweep(2)
    assert fourth.total == 0 and not fourth.limited
    keys = await _keys(session_factory)
    assert len(keys) == len(set(keys)) == 4
    assert sweeps.ROWS_PER_SWEEP == 27_000  # Telegram's 30/s for the 15 minutes between sweeps


async def _rendered(factory: async_sessionmaker[AsyncSession], now: datetime = NOW) -> dict[str, tuple[
        OutboxMessage, tuple[str, list[list[dict[str, str]]]] | None]]:
    """What the sender would send for each queued reminder at `now`, by kind: (row, text and
    buttons, or None when its reason has gone)."""
    async with factory() as s:
        rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        composed = await render_reminders(s, rows, now, TZ)
    return {row.kind: (row, composed[row.id]) for row in rows}


async def test_a_reminder_is_queued_as_its_key_and_composed_when_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    await _sweep(session_factory)
    rendered = await _rendered(session_factory)
    visit, composed = rendered["overdue_visit"]
    assert visit.text is None and visit.buttons == []  # nothing composed when queued
    assert visit.chat_id == 501 and visit.user_id == ids["officer"] and visit.not_before == NOW
    assert composed == ("⏰ 楚韵纺织已 31 天未走访（周期 30 天）。", [
        [{"text": "立即填报", "callback_data": f"visit:start:{ids['late']}"}],
        [{"text": "明天提醒", "callback_data": f"remind:later:{visit.id}"},
         {"text": "本期不再提醒", "callback_data": f"remind:skip:{visit.id}"}],
    ])
    milestone, draft = rendered["milestone"][1], rendered["draft"][1]
    assert milestone is not None and "李明（入党积极分子，楚韵纺织）将于 2026-11-28 满半年" in milestone[0]
    assert draft is not None and "未完成的走访记录（楚韵纺织）" in draft[0]
    patterns = {"overdue_visit": visit_handlers.START, "feedback": feedback_handlers.SHOW,
                "milestone": people_handlers.REVIEW, "draft": DRAFT_BUTTON}
    for kind, (_row, found) in rendered.items():
        assert found is not None, kind
        act, (later, skip) = found[1]
        assert patterns[kind].fullmatch(act[0]["callback_data"]), kind
        assert LATER.fullmatch(later["callback_data"]) and SKIP.fullmatch(skip["callback_data"])
        assert all(len(b["callback_data"].encode()) <= 64 for line in found[1] for b in line)
    # Sent a day later, the text says so: the values are read when the row is sent.
    later_visit = (await _rendered(session_factory, NOW + timedelta(days=1)))["overdue_visit"][1]
    assert later_visit is not None and later_visit[0] == "⏰ 楚韵纺织已 32 天未走访（周期 30 天）。"


async def test_a_reminder_is_composed_in_the_officers_locale_at_send_time(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    await _sweep(session_factory)
    async with unit_of_work(session_factory) as uow:  # the officer switches to English after the sweep
        user = await uow.session.get_one(User, ids["officer"])
        user.locale = "en"
        await uow.commit()
    found = (await _rendered(session_factory))["overdue_visit"][1]
    assert found is not None
    assert found[0] == "⏰ 楚韵纺织 has not been visited for 31 days (cadence 30 days)."
    assert [b["text"] for line in found[1] for b in line] != ["立即填报", "明天提醒", "本期不再提醒"]


async def test_a_reminder_whose_reason_has_gone_is_not_composed(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Between the sweep and the send the enterprise is visited, the feedback closed, the
    review noted and the draft finished: nothing is left to remind of."""
    ids = await _world(session_factory)
    await _sweep(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        s.add(Visit(enterprise_id=ids["late"], officer_id=ids["officer"], visit_date=TODAY))
        for item in await s.scalars(select(Feedback)):
            item.status = "resolved"
        person = await s.scalar(select(Person))
        assert person is not None
        s.add(ReviewNote(person_id=person.id, written_on=TODAY, content="良好", author_id=ids["officer"]))
        await s.execute(Draft.__table__.delete())
        await uow.commit()
    rendered = await _rendered(session_factory)
    assert {kind: found for kind, (_row, found) in rendered.items()} == dict.fromkeys(sweeps.KINDS)
    # Nor is a row whose subject is gone altogether, or whose enterprise is no longer the officer's.
    async with unit_of_work(session_factory) as uow:
        await uow.session.execute(Visit.__table__.delete())
        await uow.session.execute(Assignment.__table__.delete())
        await uow.commit()
    assert (await _rendered(session_factory))["overdue_visit"][1] is None


async def test_concurrent_sweeps_queue_each_reminder_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Two sweeps at once (two processes, on PostgreSQL truly in parallel): the unique key and
    ON CONFLICT DO NOTHING leave one row per reminder, and neither sweep fails."""
    await _world(session_factory)
    reports = await asyncio.gather(_sweep(session_factory), _sweep(session_factory))
    keys = await _keys(session_factory)
    assert len(keys) == len(set(keys)) == 4
    assert sum(report.total for report in reports) == 4


async def test_away_blocked_inactive_and_unbound_officers_get_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    for officer in ({"away_until": TODAY}, {"blocked_bot": True}, {"active": False}, {"chat_id": None}):
        async with unit_of_work(session_factory) as uow:
            for table in (OutboxMessage, Draft, Person, Feedback, Visit, Assignment, Enterprise, User):
                await uow.session.execute(table.__table__.delete())
            await uow.commit()
        await _world(session_factory, **officer)
        assert (await _sweep(session_factory)).total == 0, officer
    # Away until yesterday: back today.
    async with unit_of_work(session_factory) as uow:
        user = await uow.session.scalar(select(User))
        assert user is not None
        user.chat_id, user.away_until = 501, TODAY - timedelta(days=1)
        await uow.commit()
    assert (await _sweep(session_factory)).total == 4


async def test_snoozes_hold_a_subject_back_then_remind_once_more(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    await _sweep(session_factory)
    async with unit_of_work(session_factory) as uow:
        rows = {row.kind: row for row in await uow.session.scalars(select(OutboxMessage))}
        assert await sweeps.reminder_row(uow.session, rows["overdue_visit"].id, ids["officer"] + 1) is None
        row = await sweeps.reminder_row(uow.session, rows["overdue_visit"].id, ids["officer"])
        assert row is not None
        await sweeps.snooze(uow.session, row, user_id=ids["officer"], actor_label="王芳", now=NOW,
                            until=sweeps.later_until(NOW, TZ))
        await sweeps.snooze(uow.session, rows["feedback"], user_id=ids["officer"], actor_label="王芳", now=NOW,
                            skip=True)
        await uow.commit()
    async with session_factory() as s:
        snoozed = {row.subject: row for row in await s.scalars(select(ReminderSnooze))}
    subject = f"overdue_visit:enterprise:{ids['late']}:officer:{ids['officer']}"
    assert snoozed[subject].until == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 local
    assert snoozed[rows["feedback"].dedupe_key.rsplit(":", 1)[0]].skip_period == "2026-W48"
    assert (await _sweep(session_factory, NOW + timedelta(hours=22))).total == 0  # 08:00 next day
    report = await _sweep(session_factory, NOW + timedelta(hours=23))  # 09:00 next day
    assert report.queued["overdue_visit"] == 1 and report.total == 1
    assert f"{subject}:2026-W48:2026-11-26" in await _keys(session_factory)
    # Two days on: the snoozed subject is not reminded a third time (the newer item is now due).
    assert (await _sweep(session_factory, NOW + timedelta(days=2))).queued["overdue_visit"] == 0
    # Next week: both subjects are reminded again under the new period, without the suffix.
    report = await _sweep(session_factory, NOW + timedelta(days=5))
    assert f"{subject}:2026-W49" in await _keys(session_factory)
    assert report.queued["feedback"] == 2


def test_a_reminder_key_gives_back_its_subject_and_period() -> None:
    assert sweeps.parse_key("overdue_visit:enterprise:42:officer:7:2026-W47") == (
        "overdue_visit:enterprise:42:officer:7", "2026-W47")
    assert sweeps.parse_key("milestone:person:12:review:2027-03-01:2027-03-02") == (
        "milestone:person:12:review", "2027-03-01")
    assert sweeps.parse_key("digest:weekly:7:2026-W47") is None


def test_leave_is_today_or_later_within_ninety_days() -> None:
    assert sweeps.away_problem(TODAY, TODAY) is None
    assert sweeps.away_problem(TODAY - timedelta(days=1), TODAY) == "away_past"
    assert sweeps.away_problem(TODAY + timedelta(days=90), TODAY) is None
    assert sweeps.away_problem(TODAY + timedelta(days=91), TODAY) == "away_too_far"


async def test_each_milestone_is_reminded_from_its_first_day_at_a_month_end(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The sweep's query narrows people down in SQL before `development.milestones` decides: at
    the shortest periods (a month that ends on the 28th) nobody is left out, nobody early."""
    now = datetime(2027, 2, 21, 2, 0, tzinfo=UTC)  # 10:00 local; a week before 2027-02-28
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        user = User(name="王芳", role="officer", region="宜昌市/枝江市", chat_id=501, telegram_user_id=501,
                    created_at=NOW)
        firm = Enterprise(name="楚韵纺织", credit_code="A" * 18, region="宜昌市/枝江市")
        s.add_all([user, firm])
        await s.flush()

        def person(name: str, stage: str, **dates: date) -> Person:
            return Person(enterprise_id=firm.id, officer_id=user.id, name=name, gender="male",
                          birth_date=date(1990, 1, 1), stage=stage, **{"applied_on": date(2024, 1, 2), **dates})

        people = {
            "talk": person("申请人", "applicant", applied_on=date(2027, 1, 31)),  # talk by 02-28
            "talk_later": person("晚申请", "applicant", applied_on=date(2027, 2, 1)),  # by 03-01: a day early
            "review": person("积极分子", "activist", talked_on=date(2024, 1, 20), activist_on=date(2026, 8, 31)),
            # Reviewed lately, so no review is due, but a year as activist ends on 02-28.
            "candidate": person("满一年", "activist", talked_on=date(2024, 1, 20), activist_on=date(2026, 2, 28)),
            "probation": person("预备党员", "probationary", talked_on=date(2024, 1, 20),
                                activist_on=date(2024, 3, 1), candidate_on=date(2025, 3, 3),
                                probation_on=date(2026, 2, 28)),
        }
        s.add_all(people.values())
        await s.flush()
        s.add(ReviewNote(person_id=people["candidate"].id, written_on=date(2027, 1, 10), content="良好",
                         author_id=user.id))
        await uow.commit()
    report = await _sweep(session_factory, now)
    assert report.queued["milestone"] == 4
    assert set(await _keys(session_factory)) == {
        f"milestone:person:{people['talk'].id}:talk:2027-02-28",
        f"milestone:person:{people['review'].id}:review:2027-02-28",
        f"milestone:person:{people['candidate'].id}:candidate:2027-02-28",
        f"milestone:person:{people['probation'].id}:probation:2027-02-28",
    }
    # Swept again, nobody is even considered: the query finds each reminder queued, at the same
    # month-end dates as Python's.
    again = await _sweep(session_factory, now)
    assert (again.queued["milestone"], again.due["milestone"]) == (0, 0)
    # 明天提醒 on the review: the next day it comes once more, and the late applicant's talk
    # (due 03-01) comes into the week.
    async with unit_of_work(session_factory) as uow:
        review = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("%:review:%")))
        assert review is not None
        await sweeps.snooze(uow.session, review, user_id=user.id, actor_label="王芳", now=now,
                            until=sweeps.later_until(now, TZ))
        await uow.commit()
    report = await _sweep(session_factory, now + timedelta(days=1))
    assert (report.queued["milestone"], report.due["milestone"]) == (2, 2)
    assert {f"milestone:person:{people['talk_later'].id}:talk:2027-03-01",
            f"milestone:person:{people['review'].id}:review:2027-02-28:2027-02-22"} <= set(await _keys(session_factory))


async def test_a_sweep_that_finds_everything_queued_writes_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The read-only probes come first: a sweep with nothing new never takes SQLite's write lock;
    one with something new writes its inserts after all its reads."""
    await _world(session_factory)
    engine = session_factory.kw["bind"].sync_engine
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        # PostgreSQL counts an INSERT … SELECT's rows around it: WITH inserted AS (INSERT …).
        statements.append("INSERT" if verb == "WITH" and "INSERT INTO" in statement.upper() else verb)

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert (await _sweep(session_factory)).total == 4
        first_write = statements.index("INSERT")
        assert set(statements[first_write:]) == {"INSERT"}
        statements.clear()
        assert (await _sweep(session_factory)).total == 0
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert statements and not {"INSERT", "UPDATE", "DELETE"} & set(statements)


async def test_sql_due_dates_of_milestones_match_python_on_every_day_of_two_years(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The sweep builds a milestone's key from its due date computed in SQL; the sender checks
    it against `development.milestones` and drops a row whose date differs, so a difference
    would silently lose a reminder. Every start date of 2027-2028 (a leap year, every month end),
    every rule of the current rule set."""
    rules = development.CURRENT
    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(731)]
    async with session_factory() as s:
        for rule in (rules.talk_within, rules.review_every, rules.candidate_after, rules.probation):
            for i in range(0, len(days), 200):
                batch = days[i : i + 200]
                found = (await s.execute(select(*(sweeps._iso(s, sweeps._add_period(s, literal(day, Date), rule))
                                                   for day in batch)))).one()
                assert list(found) == [development.add_period(day, rule).isoformat() for day in batch], rule
