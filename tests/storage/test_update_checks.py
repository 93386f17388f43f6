"""The two questions asked before every update's handlers run, in one statement: was it handled
before (a redelivery), and who sent it (the access gate) — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import officers, updates
from storage.enums import Role
from storage.models import ProcessedUpdate
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def _joined(factory: async_sessionmaker[AsyncSession], name: str, telegram_id: int, *, active: bool = True) -> int:
    async with unit_of_work(factory) as uow:
        invite = await officers.create_invite(uow.session, role=Role.OFFICER, name=name, region="宜昌市/枝江市", now=NOW)
        user = await officers.redeem_invite(uow.session, code=invite.code, telegram_user_id=telegram_id,
                                            chat_id=telegram_id, now=NOW)
        user.active = active
        user_id = user.id
        await uow.commit()
    return user_id


async def test_the_sender_and_the_redelivery_check_come_back_together(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    wang = await _joined(session_factory, "王芳", 501)
    await _joined(session_factory, "李明", 502, active=False)
    async with unit_of_work(session_factory) as uow:
        uow.session.add(ProcessedUpdate(update_id=7001, processed_at=NOW))
        await uow.commit()

    async with session_factory() as session:
        handled, sender = await updates.seen_with_sender(session, 7001, 501)
        assert handled is True and sender is not None and (sender.id, sender.name) == (wang, "王芳")
        handled, sender = await updates.seen_with_sender(session, 7002, 501)
        assert handled is False and sender is not None and sender.id == wang
        # A stranger and a deactivated officer are nobody to the gate; the update's own record
        # still answers the redelivery question.
        for stranger in (999, 502):
            assert await updates.seen_with_sender(session, 7001, stranger) == (True, None)
            assert await updates.seen_with_sender(session, 7002, stranger) == (False, None)
        # The same answers as the two separate questions.
        for update_id in (7001, 7002):
            for telegram_id in (501, 502, 999):
                handled, sender = await updates.seen_with_sender(session, update_id, telegram_id)
                assert handled == await updates.seen(session, update_id)
                assert sender is await officers.by_telegram_id(session, telegram_id)
