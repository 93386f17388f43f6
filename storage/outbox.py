"""The outbox: every message the bot sends on its own is queued here first, then sent by
`bot.sender.OutboxSender`.

Life of a row: `pending` (due at `not_before`) → `sending` (claimed by one sender, `claimed_at`
set) → `sent` | `pending` again (a transient error, later `not_before`) | `failed` (gave up) |
`dropped` (the user blocked the bot) | `obsolete` (composed when sent, and its reason had gone
by then: a reminder of an enterprise visited meanwhile). A `sending` row whose claim is older
than the lease is taken back by the next claim: its sender died before finishing it.

Like every storage function these take the session first and never commit; the sender commits
each claim and each mark in its own small unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage import officers
from storage.models import OutboxMessage

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DROPPED = "dropped"
OBSOLETE = "obsolete"

ACTOR_LABEL = "outbox"  # audit label of the sender's own writes (no user acts)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def enqueue(
    session: AsyncSession,
    *,
    dedupe_key: str,
    chat_id: int,
    user_id: int | None,
    kind: str,
    text: str,
    buttons: Sequence[Sequence[Mapping[str, str]]] = (),
    not_before: datetime,
    attachments: Sequence[Mapping[str, str]] = (),
) -> bool:
    """Queues a message unless one with this key exists; True if it was new.

    `attachments` (a digest's chart and ledger): `[{"filename", "kind": "photo"|"document",
    "data": base64}]`, sent by `bot.sender` with the text as caption.

    INSERT … ON CONFLICT DO NOTHING rather than look-then-insert: two sweeps running at once
    cannot both insert, and the loser gets no error that would roll back its other rows.
    """
    values: dict[str, Any] = {
        "dedupe_key": dedupe_key, "chat_id": chat_id, "user_id": user_id, "kind": kind, "text": text,
        "buttons": [[dict(button) for button in row] for row in buttons], "not_before": not_before,
        "status": PENDING, "attempts": 0, "attachments": [dict(item) for item in attachments],
    }
    dialect_insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
        .returning(OutboxMessage.id)
    )
    # RETURNING yields no row when the conflict skipped the insert.
    return (await session.execute(statement)).scalar_one_or_none() is not None


def _due(now: datetime, lease: timedelta) -> Any:
    return or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.not_before <= now),
        and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_at <= now - lease),
    )


async def claim(session: AsyncSession, *, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Takes up to `limit` due rows for this sender (oldest due first), marked `sending`.

    Due: pending with `not_before <= now`, or `sending` with a claim older than `lease` (its
    sender crashed). On PostgreSQL the candidates are locked with SKIP LOCKED, so two senders
    claiming at once get disjoint rows. The UPDATE repeats the due condition, so on SQLite (no
    row locks; the write lock is taken by the UPDATE) a row another sender claimed in between is
    not taken twice either.
    """
    candidates = (
        select(OutboxMessage.id)
        .where(_due(now, lease))
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list((await session.scalars(candidates)).all())
    if not ids:
        return []
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), _due(now, lease))
        .values(status=SENDING, claimed_at=now)
        .returning(OutboxMessage)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    rows = list((await session.scalars(statement)).all())
    rows.sort(key=lambda row: (row.not_before, row.id))
    return rows


async def mark_sent(session: AsyncSession, outbox_id: int, *, now: datetime, telegram_message_id: int | None) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status=SENT, sent_at=now, telegram_message_id=telegram_message_id, last_error=None)
    )


async def mark_retry(
    session: AsyncSession, outbox_id: int, *, attempts: int, not_before: datetime, error: str | None
) -> None:
    """Back to pending, due again at `not_before` (a transient error, or quiet hours)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status=PENDING, attempts=attempts, not_before=not_before, claimed_at=None, last_error=error)
    )


async def mark_failed(session: AsyncSession, outbox_id: int, *, attempts: int, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status=FAILED, attempts=attempts, last_error=error)
    )


async def mark_obsolete(session: AsyncSession, outbox_ids: Sequence[int], *, now: datetime) -> None:
    """Not sent, and never will be: the row's reason was gone when it came to be sent."""
    if outbox_ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(outbox_ids)))
            .values(status=OBSOLETE, sent_at=None, claimed_at=now, last_error=None)
        )


async def mark_dropped(session: AsyncSession, outbox_id: int, *, error: str) -> None:
    """The user blocked the bot: the row is dropped and the user marked, so no one keeps trying."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is None:
        return
    row.status = DROPPED
    row.last_error = error
    if row.user_id is not None:
        await officers.set_blocked_bot(session, row.user_id, True, actor_id=None, actor_label=ACTOR_LABEL)
