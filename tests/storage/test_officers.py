"""Users' own state kept by the bot (both backends)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import officers
from storage.enums import Role
from storage.models import AuditEntry, User
from storage.uow import unit_of_work


async def test_the_blocked_bot_flag_changes_once_each_way_and_each_change_is_audited(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as uow:
        user = User(name="李督导", role=Role.SUPERVISOR.value, region="宜昌市", telegram_user_id=601, chat_id=601)
        uow.session.add(user)
        await uow.commit()
    for blocked, changed in ((True, True), (True, False), (False, True), (False, False)):
        async with unit_of_work(session_factory) as uow:
            assert await officers.set_blocked_bot(uow.session, user.id, blocked, actor_id=user.id,
                                                  actor_label="李督导") is changed
            await uow.commit()
        async with session_factory() as session:
            assert (await session.get_one(User, user.id)).blocked_bot is blocked
    async with session_factory() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.action, e.entity_id, e.actor_id, e.before, e.after) for e in entries] == [
        ("blocked_bot", user.id, user.id, {"blocked_bot": False}, {"blocked_bot": True}),
        ("unblocked_bot", user.id, user.id, {"blocked_bot": True}, {"blocked_bot": False}),
    ]
