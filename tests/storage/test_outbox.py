"""The outbox table: dedupe on enqueue, claiming due rows, leases, marks (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import outbox
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.models import AuditEntry, OutboxMessage, User
from storage.uow import unit_of_work

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


async def _enqueue(session: AsyncSession, key: str, *, due: datetime = NOW, chat_id: int = 501,
                   user_id: int | None = None) -> bool:
    return await outbox.enqueue(session, dedupe_key=key, chat_id=chat_id, user_id=user_id, kind="reminder",
                                text=f"<b>{key}</b>", buttons=[[{"text": "立即填报", "callback_data": "r:now:1"}]],
                                not_before=due)


async def _rows(factory: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with unit_of_work(factory) as uow:
        return list((await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_enqueue_twice_keeps_one_row(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        assert await _enqueue(uow.session, "overdue_visit:enterprise:42:2026-W47") is True
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        assert await _enqueue(uow.session, "overdue_visit:enterprise:42:2026-W47") is False
        # A conflict must not spoil the rest of the unit of work.
        assert await _enqueue(uow.session, "overdue_visit:enterprise:43:2026-W47") is True
        await uow.commit()
    rows = await _rows(session_factory)
    assert [r.dedupe_key for r in rows] == ["overdue_visit:enterprise:42:2026-W47", "overdue_visit:enterprise:43:2026-W47"]
    assert rows[0].status == "pending" and rows[0].attempts == 0
    assert rows[0].buttons == [[{"text": "立即填报", "callback_data": "r:now:1"}]]


async def test_claim_takes_due_rows_oldest_first(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        await _enqueue(uow.session, "later", due=NOW + timedelta(minutes=1))
        await _enqueue(uow.session, "b", due=NOW - timedelta(minutes=1))
        await _enqueue(uow.session, "a", due=NOW - timedelta(minutes=5))
        await _enqueue(uow.session, "c", due=NOW)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        claimed = await outbox.claim(uow.session, now=NOW, limit=2, lease=LEASE)
        await uow.commit()
    assert [r.dedupe_key for r in claimed] == ["a", "b"]
    assert all(r.status == "sending" and r.claimed_at == NOW for r in claimed)
    async with unit_of_work(session_factory) as uow:
        claimed = await outbox.claim(uow.session, now=NOW, limit=10, lease=LEASE)
        await uow.commit()
    assert [r.dedupe_key for r in claimed] == ["c"]  # "a", "b" are held; "later" is not due


async def test_a_stuck_claim_is_taken_back_after_the_lease(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        await _enqueue(uow.session, "a")
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        assert len(await outbox.claim(uow.session, now=NOW, limit=10, lease=LEASE)) == 1
        await uow.commit()
    # Its sender died: within the lease nobody else takes it, after the lease the next claim does.
    async with unit_of_work(session_factory) as uow:
        assert await outbox.claim(uow.session, now=NOW + LEASE - timedelta(seconds=1), limit=10, lease=LEASE) == []
        again = await outbox.claim(uow.session, now=NOW + LEASE, limit=10, lease=LEASE)
        await uow.commit()
    assert [r.dedupe_key for r in again] == ["a"]
    assert again[0].claimed_at == NOW + LEASE


async def test_marks(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as uow:
        user = User(name="王芳", role=Role.OFFICER, region="宜昌市/枝江市", chat_id=501)
        uow.session.add(user)
        await uow.session.flush()
        for key in ("sent", "retry", "failed", "dropped"):
            await _enqueue(uow.session, key, user_id=user.id)
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        ids = {r.dedupe_key: r.id for r in await outbox.claim(uow.session, now=NOW, limit=10, lease=LEASE)}
        later = NOW + timedelta(seconds=30)
        await outbox.mark_sent(uow.session, ids["sent"], now=NOW, telegram_message_id=77)
        await outbox.mark_retry(uow.session, ids["retry"], attempts=1, not_before=later, error="Timed out")
        await outbox.mark_failed(uow.session, ids["failed"], attempts=5, error="Bad Gateway")
        await outbox.mark_dropped(uow.session, ids["dropped"], error="Forbidden: bot was blocked by the user")
        await uow.commit()
    rows = {r.dedupe_key: r for r in await _rows(session_factory)}
    assert (rows["sent"].status, rows["sent"].sent_at, rows["sent"].telegram_message_id) == ("sent", NOW, 77)
    retry = rows["retry"]
    assert (retry.status, retry.attempts, retry.not_before, retry.claimed_at) == ("pending", 1, later, None)
    assert (rows["failed"].status, rows["failed"].attempts) == ("failed", 5)
    assert rows["dropped"].status == "dropped"
    async with unit_of_work(session_factory) as uow:
        marked = await uow.session.get(User, user.id)
        assert marked is not None and marked.blocked_bot is True
        entries = (await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "blocked_bot"))).all()
        assert [(e.entity, e.entity_id) for e in entries] == [("user", user.id)]
    # Sent, failed and dropped rows are never claimed again; the retry is, once it is due.
    async with unit_of_work(session_factory) as uow:
        assert await outbox.claim(uow.session, now=NOW + timedelta(hours=1), limit=10, lease=LEASE) != []
        await uow.commit()
    assert {r.dedupe_key for r in await _rows(session_factory) if r.status == "sending"} == {"retry"}


async def test_two_senders_on_postgresql_claim_disjoint_rows(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks (SKIP LOCKED) are PostgreSQL's; SQLite serialises writers instead")
    engines = [make_async_engine(database_url), make_async_engine(database_url)]
    first, second = (make_session_factory(e) for e in engines)
    try:
        async with unit_of_work(first) as uow:
            for n in range(10):
                await _enqueue(uow.session, f"m{n}", due=NOW - timedelta(seconds=10 - n))
            await uow.commit()
        # Both claims are open at once: the second must skip the rows the first has locked.
        async with unit_of_work(first) as a, unit_of_work(second) as b:
            mine = await outbox.claim(a.session, now=NOW, limit=6, lease=LEASE)
            theirs = await outbox.claim(b.session, now=NOW, limit=6, lease=LEASE)
            await a.commit()
            await b.commit()
        assert [r.dedupe_key for r in mine] == [f"m{n}" for n in range(6)]
        assert [r.dedupe_key for r in theirs] == [f"m{n}" for n in range(6, 10)]
        assert {r.status for r in await _rows(first)} == {"sending"}
    finally:
        for engine in engines:
            await engine.dispose()
