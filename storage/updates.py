"""Telegram updates handled once, even when Telegram delivers one again.

Telegram redelivers an update when the bot did not confirm it: in polling mode when the process
died before its next getUpdates, in webhook mode when the HTTP answer never came. The bot keeps
the update_id of every update it handled (`processed_updates`), and the processor skips one it
has seen.

"Handled" is recorded in the same transaction as the update's first change: while an update is
being processed, `UnitOfWork.commit()` adds the row to whatever it commits. So the update's
effect and the record of it commit together or not at all; a crash before the commit leaves
neither, and the redelivered update is processed as if for the first time. An update that
changed nothing is recorded when its handlers are done (a lost read-only answer is harmless).
If two instances receive the same update at once, the second commit fails on the primary key
and its transaction (and so its effect) is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import officers
from storage.models import ProcessedUpdate, User

# Telegram keeps an unconfirmed update for 24 hours; a week of margin costs a few thousand rows.
KEEP_FOR = timedelta(days=7)


@dataclass
class HandlingUpdate:
    """The update being processed, as the update processor (`bot.processor`) checked it; its
    handlers receive it as `BotContext.handling` and pass it to their units of work."""

    update_id: int
    now: datetime
    recorded: bool = False
    # The sender's active user row (None: a stranger), read by the processor together with the
    # redelivery check (`seen_with_sender`) for the access gate; `sender_id` None: not read.
    sender_id: int | None = None
    sender: User | None = None
    # The session the processor asked those questions in, still holding its connection: the
    # update's first unit of work on the same factory takes it over (`take_session`), so an
    # update checks out one connection from the pool instead of two (and on PostgreSQL pings
    # one instead of two). None once taken, or when the processor has none to hand on.
    session: AsyncSession | None = None
    factory: async_sessionmaker[AsyncSession] | None = None


class AlreadyHandled(Exception):
    """The update was recorded as handled by another commit (a concurrent redelivery)."""


# The two statements every update runs are built once, with bound parameters: building a
# statement and its cache key each time cost more than executing it on PostgreSQL (0.44 against
# 0.26 ms per seen_with_sender, a microbenchmark of 2000 calls).
_SEEN = select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == bindparam("update_id"))
_SEEN_WITH_SENDER = select(
    User, exists().where(ProcessedUpdate.update_id == bindparam("update_id")).label("handled"),
).where(*officers.active_with_telegram_id(bindparam("telegram_user_id")))


async def seen(session: AsyncSession, update_id: int) -> bool:
    return await session.scalar(_SEEN, {"update_id": update_id}) is not None


async def seen_with_sender(session: AsyncSession, update_id: int, telegram_user_id: int) -> tuple[bool, User | None]:
    """`seen` and the access gate's `officers.by_telegram_id` in one statement, as every update
    asks both before its handlers run: the sender's active row, and whether the update was
    handled before. A sender without such a row (a stranger) costs a second statement."""
    row = (await session.execute(_SEEN_WITH_SENDER,
                                 {"update_id": update_id, "telegram_user_id": telegram_user_id})).first()
    if row is None:
        return await seen(session, update_id), None
    return bool(row[1]), row[0]


def add_to(session: AsyncSession, handling: HandlingUpdate | None) -> HandlingUpdate | None:
    """Adds the update's row to the session's transaction, once per update."""
    if handling is None or handling.recorded:
        return None
    session.add(ProcessedUpdate(update_id=handling.update_id, processed_at=handling.now))
    return handling


def take_session(handling: HandlingUpdate | None, factory: async_sessionmaker[AsyncSession]) -> AsyncSession | None:
    """The update's checked session, if it is still there and from `factory`; whoever takes it
    closes it (it is handed on once)."""
    if handling is None or handling.session is None or handling.factory is not factory:
        return None
    session, handling.session = handling.session, None
    return session


async def record_if_unrecorded(factory: async_sessionmaker[AsyncSession], handling: HandlingUpdate,
                               session: AsyncSession | None = None) -> None:
    """After the handlers: records an update that committed nothing (it may already be there),
    in `session` when one is left over from the check (it is closed here), else in a new one."""
    if handling.recorded:
        if session is not None:
            await session.close()
        return
    async with session if session is not None else factory() as session:
        session.add(ProcessedUpdate(update_id=handling.update_id, processed_at=handling.now))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
    handling.recorded = True


async def prune(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - KEEP_FOR))
    return int(getattr(result, "rowcount", 0) or 0)
