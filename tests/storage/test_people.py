"""People in development: the queries, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import development, officers, people
from storage.enums import ReviewStatus, Role, Stage
from storage.models import Assignment, AuditEntry, Enterprise, Person, Review, User
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)


@dataclass(frozen=True)
class Setting:
    officer: int
    colleague: int
    mine: int  # assigned to the officer
    theirs: int  # in the region, assigned to the colleague
    away: int  # another county


async def _setting(factory: async_sessionmaker[AsyncSession]) -> Setting:
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = await officers.create_invite(s, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市", now=NOW)
        colleague = await officers.create_invite(s, role=Role.OFFICER, name="刘强", region="宜昌市/枝江市", now=NOW)
        mine = Enterprise(name="楚韵纺织", credit_code="A" * 18, region="宜昌市/枝江市/马家店街道")
        theirs = Enterprise(name="白洋港机械", credit_code="B" * 18, region="宜昌市/枝江市/白洋镇")
        away = Enterprise(name="远安茶业", credit_code="C" * 18, region="宜昌市/远安县")
        s.add_all([mine, theirs, away])
        await s.flush()
        s.add_all([Assignment(enterprise_id=mine.id, officer_id=officer.user_id, started_on=date(2026, 1, 1)),
                   Assignment(enterprise_id=theirs.id, officer_id=colleague.user_id, started_on=date(2026, 1, 1))])
        await uow.commit()
        return Setting(officer.user_id, colleague.user_id, mine.id, theirs.id, away.id)


def _new(setting: Setting, name: str = "李明", **changes: object) -> people.NewPerson:
    base = people.NewPerson(enterprise_id=setting.mine, officer_id=setting.officer, name=name, gender="male",
                            birth_date=date(1990, 5, 12), stage="applicant", applied_on=date(2026, 10, 1),
                            contacts=["张三", "李四"])
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_create_is_audited_and_read_back_only_in_scope(session_factory: async_sessionmaker[AsyncSession]) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        person = await people.create(uow.session, _new(setting), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        found = await people.get_in_scope(uow.session, person.id, "宜昌市/枝江市")
        assert found is not None and found.name == "李明" and found.contacts == ["张三", "李四"]
        assert found.created_at == NOW
        assert await people.get_in_scope(uow.session, person.id, "宜昌市/远安县") is None
        assert await people.get_in_scope(uow.session, person.id, "宜昌市/枝江") is None  # not a path prefix
        assert await people.get_in_scope(uow.session, person.id, "宜昌市") is not None
        entry = await uow.session.scalar(select(AuditEntry).where(AuditEntry.entity == "person"))
        assert entry is not None and entry.action == "create" and entry.after is not None
        assert entry.after["name"] == "李明" and entry.after["applied_on"] == "2026-10-01"


async def test_duplicate_is_the_same_name_at_the_same_enterprise_not_withdrawn(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        first = await people.create(uow.session, _new(setting), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        assert (await people.duplicate(s, setting.mine, "李明")) is not None
        assert await people.duplicate(s, setting.mine, "李明", exclude_id=first.id) is None  # its own correction
        assert await people.duplicate(s, setting.theirs, "李明") is None
        assert await people.duplicate(s, setting.mine, "李明华") is None
        person = await s.get_one(Person, first.id)
        await people.withdraw(s, person, TODAY, "调离", actor_id=setting.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        assert await people.duplicate(uow.session, setting.mine, "李明") is None


async def test_the_officers_people_are_their_nominations_and_their_enterprises_overdue_first(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        # At her enterprise, nominated by the colleague before a rotation.
        await people.create(s, _new(setting, "新申请", officer_id=setting.colleague, applied_on=date(2026, 11, 20)),
                            actor_label="刘强", now=NOW)
        # Her nomination at the colleague's enterprise.
        await people.create(s, _new(setting, "久未谈话", enterprise_id=setting.theirs), actor_label="王芳", now=NOW)
        await people.create(s, _new(setting, "老积极分子", stage="activist", applied_on=date(2025, 10, 1),
                                    activist_on=date(2026, 1, 10)), actor_label="王芳", now=NOW)
        await people.create(s, _new(setting, "别人的", enterprise_id=setting.theirs, officer_id=setting.colleague),
                            actor_label="刘强", now=NOW)
        await people.create(s, _new(setting, "外县", enterprise_id=setting.away), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        rows = await people.for_officer(uow.session, setting.officer, "宜昌市/枝江市", TODAY)
        colleague = await people.for_officer(uow.session, setting.colleague, "宜昌市/枝江市", TODAY)
    assert [r.name for r in rows] == ["老积极分子", "久未谈话", "新申请"]
    assert [r.next.code if r.next else None for r in rows] == ["review", "talk", "talk"]
    assert [r.next.overdue if r.next else None for r in rows] == [True, True, False]
    assert [r.days_in_stage for r in rows] == [319, 55, 5]
    assert rows[1].enterprise == "白洋港机械" and rows[0].reviews == 0
    assert sorted(r.name for r in colleague) == ["久未谈话", "别人的", "新申请"]


async def test_advance_review_note_and_withdraw_are_audited(session_factory: async_sessionmaker[AsyncSession]) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        person = await people.create(uow.session, _new(setting, stage="activist", applied_on=date(2025, 1, 10),
                                                       activist_on=date(2025, 6, 1)), actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        found = await s.get_one(Person, person.id)
        await people.add_review_note(s, found, date(2026, 6, 1), "表现良好", author_id=setting.officer,
                                     actor_label="王芳", now=NOW)
        await people.add_review_note(s, found, date(2026, 11, 20), "继续考察", author_id=setting.officer,
                                     actor_label="王芳", now=NOW)
        await people.advance(s, found, Stage.CANDIDATE, TODAY, notice_started_on=date(2026, 11, 16),
                             actor_id=setting.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        found = await s.get_one(Person, person.id)
        assert (found.stage, found.candidate_on, found.notice_started_on) == ("candidate", TODAY, date(2026, 11, 16))
        notes = await people.review_notes(s, person.id)
        assert [n.content for n in notes] == ["继续考察", "表现良好"]  # the latest first
        rows = await people.for_officer(s, setting.officer, "宜昌市/枝江市", TODAY)
        assert rows[0].reviews == 2 and rows[0].stage == "candidate" and rows[0].next is None
        await people.withdraw(s, found, TODAY, "本人申请", actor_id=setting.officer, actor_label="王芳", now=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        entries = (await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        actions = [(e.entity, e.action) for e in entries if e.entity in ("person", "review_note")]
        assert actions == [("person", "create"), ("review_note", "create"), ("review_note", "create"),
                           ("person", "advance"), ("person", "withdraw")]
        advance = entries[-2]
        assert advance.before == {"stage": "activist", "notice_started_on": None, "candidate_on": None}
        assert advance.after == {"stage": "candidate", "notice_started_on": "2026-11-16", "candidate_on": "2026-11-25"}
        withdrawn = await uow.session.get_one(Person, person.id)
        assert (withdrawn.stage, withdrawn.withdrawn_reason, withdrawn.candidate_on) == ("withdrawn", "本人申请", TODAY)


async def test_a_correction_updates_the_record_audits_it_and_sends_it_back_to_review(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        person = await people.create(uow.session, _new(setting), actor_label="王芳", now=NOW)
        uow.session.add(Review(entity="person", entity_id=person.id, status=ReviewStatus.NEEDS_FIXING.value))
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        found = await uow.session.get_one(Person, person.id)
        # Even when another officer corrects it, the nominating officer stays.
        await people.correct(uow.session, found, _new(setting, "李明华", officer_id=setting.colleague,
                                                     talked_on=date(2026, 10, 9)),
                             actor_id=setting.officer, actor_label="王芳", now=NOW + timedelta(hours=1))
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        found = await uow.session.get_one(Person, person.id)
        assert (found.name, found.talked_on, found.officer_id) == ("李明华", date(2026, 10, 9), setting.officer)
        entry = await uow.session.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.before == {"name": "李明", "talked_on": None}
        assert entry.after == {"name": "李明华", "talked_on": "2026-10-09"}
        review = await uow.session.scalar(select(Review))
        assert review is not None and review.status == "pending"
        assert await uow.session.scalar(select(User).where(User.id == setting.officer)) is not None


async def test_pipeline_carries_the_dates_and_the_last_review(session_factory: async_sessionmaker[AsyncSession]) -> None:
    setting = await _setting(session_factory)
    async with unit_of_work(session_factory) as uow:
        person = await people.create(uow.session, _new(setting, stage="activist", applied_on=date(2025, 10, 1),
                                                       activist_on=date(2026, 1, 10)), actor_label="王芳", now=NOW)
        await uow.commit()
    p = people.pipeline(person, date(2026, 11, 20))
    assert (p.stage, p.applied_on, p.activist_on, p.last_review_on) == (
        Stage.ACTIVIST, date(2025, 10, 1), date(2026, 1, 10), date(2026, 11, 20))
    due = {m.code: m.due for m in development.milestones(p, TODAY)}
    assert due == {"candidate": date(2027, 1, 10), "review": date(2027, 5, 20)}  # six months after the review
    assert people.stage_since(person) == date(2026, 1, 10)
