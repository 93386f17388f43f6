"""Owner feedback storage on SQLite and PostgreSQL: the lifecycle graph, scopes, ratings, and
owner invites."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import feedback as feedbacks
from storage import officers
from storage.enums import FeedbackStatus, Role
from storage.models import Assignment, AuditEntry, Enterprise, Feedback, Invite, User
from storage.officers import InviteRefused, Member
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
OFFICER = Member(id=0, name="王芳", role=Role.OFFICER, region="宜昌市/枝江市", locale=None)


async def _world(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """An officer in 枝江市 with one assigned enterprise, one unassigned, one in another county."""
    async with unit_of_work(factory) as uow:
        s = uow.session
        officer = User(name="王芳", role="officer", region="宜昌市/枝江市", created_at=NOW)
        mine = Enterprise(name="楚韵纺织", credit_code="A" * 18, region="宜昌市/枝江市/马家店街道", owner_name="张总")
        other = Enterprise(name="董市酒业", credit_code="B" * 18, region="宜昌市/枝江市/董市镇")
        far = Enterprise(name="远安茶业", credit_code="C" * 18, region="宜昌市/远安县")
        s.add_all([officer, mine, other, far])
        await s.flush()
        s.add(Assignment(enterprise_id=mine.id, officer_id=officer.id, started_on=date(2026, 1, 1)))
        await uow.commit()
        return {"officer": officer.id, "mine": mine.id, "other": other.id, "far": far.id}


def _new(enterprise_id: int, officer_id: int | None = None, **changes: object) -> feedbacks.NewFeedback:
    values: dict[str, object] = {"enterprise_id": enterprise_id, "raised_by": "张总", "channel": "officer",
                                 "category": "hiring", "content": "缺挡车工", "urgency": "normal",
                                 "officer_id": officer_id}
    return feedbacks.NewFeedback(**{**values, **changes})  # type: ignore[arg-type]


async def _create(session: AsyncSession, enterprise_id: int, officer_id: int, *, at: datetime = NOW,
                  **changes: object) -> Feedback:
    return await feedbacks.create(session, _new(enterprise_id, officer_id, **changes), actor_id=officer_id,
                                  actor_label="王芳", now=at)


async def test_every_transition_outside_the_graph_is_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    allowed = {("open", "in_progress"), ("open", "resolved"), ("open", "closed"),
               ("in_progress", "resolved"), ("in_progress", "closed")}
    for start, to in product(FeedbackStatus, FeedbackStatus):
        async with unit_of_work(session_factory) as uow:
            item = await _create(uow.session, ids["mine"], ids["officer"])
            item.status = start.value
            await uow.session.flush()
            if (start.value, to.value) in allowed:
                await feedbacks.transition(uow.session, item, to, note="办好了", actor_id=ids["officer"],
                                           actor_label="王芳", now=NOW + timedelta(days=2))
                assert item.status == to.value
                final = to in (FeedbackStatus.RESOLVED, FeedbackStatus.CLOSED)
                assert item.closed_at == (NOW + timedelta(days=2) if final else None)
                assert item.resolution == ("办好了" if final else None)
            else:
                with pytest.raises(feedbacks.FeedbackRefused) as refused:
                    await feedbacks.transition(uow.session, item, to, note="办好了", actor_id=ids["officer"],
                                               actor_label="王芳", now=NOW)
                assert refused.value.reason == "transition", (start, to)
                assert item.status == start.value


async def test_a_final_transition_needs_its_note_and_every_move_is_audited(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        item = await _create(uow.session, ids["mine"], ids["officer"])
        with pytest.raises(feedbacks.FeedbackRefused, match="note_required"):
            await feedbacks.transition(uow.session, item, FeedbackStatus.CLOSED, note="  ", actor_id=ids["officer"],
                                       actor_label="王芳", now=NOW)
        await feedbacks.transition(uow.session, item, FeedbackStatus.IN_PROGRESS, note=None,
                                   actor_id=ids["officer"], actor_label="王芳", now=NOW)
        await feedbacks.transition(uow.session, item, FeedbackStatus.CLOSED, note="企业自行解决",
                                   actor_id=ids["officer"], actor_label="王芳", now=NOW)
        await uow.commit()
        item_id = item.id
    async with session_factory() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.entity == "feedback",
                                                                   AuditEntry.entity_id == item_id)
                                         .order_by(AuditEntry.id))).all()
        assert [e.action for e in entries] == ["create", "transition", "transition"]
        assert entries[-1].after is not None and entries[-1].after["resolution"] == "企业自行解决"
        assert entries[-1].after["status"] == "closed"


async def test_bad_values_are_refused_before_anything_is_stored(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        for changes in ({"category": "loans"}, {"urgency": "asap"}, {"channel": "email"}, {"content": "  "},
                        {"content": "长" * 1001}, {"raised_by": ""}):
            with pytest.raises(feedbacks.FeedbackRefused, match="invalid"):
                await _create(uow.session, ids["mine"], ids["officer"], **changes)
        assert await uow.session.scalar(select(func.count(Feedback.id))) == 0


async def test_scope_queries_show_an_item_only_to_those_who_may_see_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        mine = await _create(s, ids["mine"], ids["officer"])
        far = await _create(s, ids["far"], ids["officer"])
        owner = User(name="张总", role="owner", region="宜昌市/枝江市/马家店街道", enterprise_id=ids["mine"],
                     created_at=NOW)
        other_owner = User(name="赵总", role="owner", region="宜昌市/枝江市/董市镇", enterprise_id=ids["other"],
                           created_at=NOW)
        s.add_all([owner, other_owner])
        await uow.commit()
        mine_id, far_id, owner_id, other_owner_id = mine.id, far.id, owner.id, other_owner.id
    async with session_factory() as s:
        assert await feedbacks.get_in_scope(s, mine_id, "宜昌市/枝江市") is not None
        assert await feedbacks.get_in_scope(s, far_id, "宜昌市/枝江市") is None
        assert await feedbacks.get_in_scope(s, far_id, "宜昌市") is not None  # a city supervisor
        assert await feedbacks.get_in_scope(s, mine_id, "宜昌市/枝江") is None  # not a prefix of a name
        assert await feedbacks.get_for_owner(s, mine_id, owner_id) is not None
        assert await feedbacks.get_for_owner(s, mine_id, other_owner_id) is None
        assert await feedbacks.get_for_owner(s, far_id, owner_id) is None
        # An officer's id is never taken for an owner's.
        assert await feedbacks.get_for_owner(s, mine_id, ids["officer"]) is None
        as_owner = Member(owner_id, "张总", Role.OWNER, "宜昌市/枝江市/马家店街道", None)
        assert await feedbacks.get_visible(s, mine_id, as_owner) is not None
        # Same region as the item, but an owner sees their own enterprise's items only.
        as_other = Member(other_owner_id, "赵总", Role.OWNER, "宜昌市/枝江市", None)
        assert await feedbacks.get_visible(s, mine_id, as_other) is None


async def test_open_items_list_the_officers_own_enterprises_first_then_the_region(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        region_old = await _create(s, ids["other"], ids["officer"], at=NOW - timedelta(days=20))
        own_new = await _create(s, ids["mine"], ids["officer"], at=NOW - timedelta(days=1))
        own_old = await _create(s, ids["mine"], ids["officer"], at=NOW - timedelta(days=8))
        own_week = await _create(s, ids["mine"], ids["officer"], at=NOW - timedelta(days=7))
        await _create(s, ids["far"], ids["officer"])
        done = await _create(s, ids["mine"], ids["officer"])
        await feedbacks.transition(s, done, FeedbackStatus.RESOLVED, note="好", actor_id=ids["officer"],
                                   actor_label="王芳", now=NOW)
        await uow.commit()
        expected = [own_old.id, own_week.id, own_new.id, region_old.id]
    async with session_factory() as s:
        page = await feedbacks.open_for_officer(s, ids["officer"], "宜昌市/枝江市", NOW)
        assert [row.id for row in page.rows] == expected
        assert page.total == 4
        # More than seven whole days: the 8-day and 20-day ones, not the one of exactly 7 days.
        assert page.overdue == 2 and [row.overdue for row in page.rows] == [True, False, False, True]
        second = await feedbacks.open_for_officer(s, ids["officer"], "宜昌市/枝江市", NOW, limit=3, offset=3)
        assert [row.id for row in second.rows] == expected[3:] and second.total == 4


async def test_only_the_enterprises_owner_rates_and_only_once_it_is_final(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        owner = User(name="张总", role="owner", region="宜昌市/枝江市/马家店街道", enterprise_id=ids["mine"],
                     created_at=NOW)
        stranger = User(name="赵总", role="owner", region="宜昌市/枝江市/董市镇", enterprise_id=ids["other"],
                        created_at=NOW)
        officer = await s.get_one(User, ids["officer"])
        s.add_all([owner, stranger])
        await s.flush()
        item = await feedbacks.create(s, _new(ids["mine"], None, channel="owner", owner_id=owner.id),
                                      actor_id=owner.id, actor_label="张总", now=NOW)
        for rater, stars, reason in ((owner, 4, "not_final"), (owner, 0, "rating_range"), (owner, 6, "rating_range"),
                                     (stranger, 4, "not_owner"), (officer, 4, "not_owner")):
            with pytest.raises(feedbacks.FeedbackRefused) as refused:
                await feedbacks.rate(s, item, stars, owner=rater, now=NOW)
            assert refused.value.reason == reason
        await feedbacks.transition(s, item, FeedbackStatus.RESOLVED, note="好", actor_id=ids["officer"],
                                   actor_label="王芳", now=NOW)
        await feedbacks.rate(s, item, 4, owner=owner, now=NOW)
        with pytest.raises(feedbacks.FeedbackRefused, match="already_rated"):
            await feedbacks.rate(s, item, 5, owner=owner, now=NOW)
        assert item.rating == 4
        # The owner who sent it is the one told of its progress, with the owner's own items.
        assert await feedbacks.owner_of(s, item) is None  # not bound to Telegram yet
        owner.chat_id = 777
        await s.flush()
        told = await feedbacks.owner_of(s, item)
        assert told is not None and told.id == owner.id
        assert [row.id for row in await feedbacks.for_owner(s, owner.id, NOW)] == [item.id]
        assert await feedbacks.for_owner(s, stranger.id, NOW) == []


async def test_a_correction_changes_the_content_and_is_audited(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    async with unit_of_work(session_factory) as uow:
        item = await _create(uow.session, ids["mine"], ids["officer"])
        await feedbacks.correct(uow.session, item, _new(ids["mine"], ids["officer"], content="缺电工", urgency="urgent"),
                                actor_id=ids["officer"], actor_label="王芳", now=NOW)
        await uow.commit()
        item_id = item.id
    async with session_factory() as s:
        item = await s.get_one(Feedback, item_id)
        assert (item.content, item.urgency, item.status) == ("缺电工", "urgent", "open")
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "correct"))
        assert entry is not None and entry.before == {"content": "缺挡车工", "urgency": "normal"}


async def test_an_owner_invite_reuses_the_unbound_owner_and_retires_older_links(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _world(session_factory)
    officer = Member(ids["officer"], "王芳", Role.OFFICER, "宜昌市/枝江市", None)
    async with unit_of_work(session_factory) as uow:
        s = uow.session
        enterprise = await s.get_one(Enterprise, ids["mine"])
        first = await feedbacks.create_owner_invite(s, enterprise, officer, NOW)
        second = await feedbacks.create_owner_invite(s, enterprise, officer, NOW + timedelta(hours=1))
        assert first.user_id == second.user_id
        assert first.expires_at == NOW + timedelta(hours=1)  # the older link no longer works
        assert second.expires_at == NOW + timedelta(days=7, hours=1)
        owner = await s.get_one(User, second.user_id)
        assert (owner.role, owner.enterprise_id, owner.region, owner.name) == (
            "owner", ids["mine"], "宜昌市/枝江市/马家店街道", "张总")
        with pytest.raises(InviteRefused, match="expired"):
            await officers.redeem_invite(s, code=first.code, telegram_user_id=777, chat_id=777,
                                         now=NOW + timedelta(hours=2))
        await officers.redeem_invite(s, code=second.code, telegram_user_id=777, chat_id=777,
                                     now=NOW + timedelta(hours=2))
        with pytest.raises(InviteRefused, match="used"):
            await officers.redeem_invite(s, code=second.code, telegram_user_id=778, chat_id=778,
                                         now=NOW + timedelta(hours=3))
        # Once bound, a new link prepares another owner account rather than taking over this one.
        third = await feedbacks.create_owner_invite(s, enterprise, officer, NOW + timedelta(days=1))
        assert third.user_id != owner.id
        other = await s.get_one(Enterprise, ids["other"])
        unnamed = await feedbacks.create_owner_invite(s, other, officer, NOW, fallback_name="业主")
        assert (await s.get_one(User, unnamed.user_id)).name == "业主"
        await uow.commit()
    async with session_factory() as s:
        assert await s.scalar(select(func.count(User.id)).where(User.role == "owner")) == 3
        assert await s.scalar(select(func.count(Invite.id))) == 4
        actions = (await s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "invite"))).all()
        assert sorted(actions) == ["create"] * 4 + ["expire"]
