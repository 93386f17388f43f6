"""One unit of work per update and per job run (cosmicpython's pattern, with SQLAlchemy 2).

Storage functions take the session and never commit; the caller commits once at the end.
Leaving the block without `commit()` rolls everything back.

For a Telegram update, the handler passes the `HandlingUpdate` the update processor made
(`handlers.context.BotContext.unit_of_work`): the first unit of work goes on in the session of
the processor's redelivery check, and the first commit also records the update_id as handled
(`storage.updates`), so a redelivered update cannot apply the same change twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import updates


@dataclass
class UnitOfWork:
    session: AsyncSession
    update: updates.HandlingUpdate | None = None

    async def commit(self) -> None:
        handling = updates.add_to(self.session, self.update)
        try:
            await self.session.commit()
        except IntegrityError:
            if handling is not None and await _recorded_elsewhere(self.session, handling.update_id):
                raise updates.AlreadyHandled(handling.update_id) from None
            raise
        if handling is not None:
            handling.recorded = True

    async def rollback(self) -> None:
        await self.session.rollback()

    async def handled_elsewhere(self) -> bool:
        """True when another instance handled this very update (a redelivery racing the
        original) while this one waited for a lock: it answered the user; this copy stays
        silent."""
        return self.update is not None and await updates.seen(self.session, self.update.update_id)


async def _recorded_elsewhere(session: AsyncSession, update_id: int) -> bool:
    await session.rollback()
    return await updates.seen(session, update_id)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession],
                       update: updates.HandlingUpdate | None = None) -> AsyncIterator[UnitOfWork]:
    """A unit of work on `factory`; for an update's handler, `update` is the processor's record
    of it: its first unit of work takes over the session already checked out for it."""
    async with updates.take_session(update, factory) or factory() as session:
        uow = UnitOfWork(session, update)
        try:
            yield uow
        finally:
            # Ends whatever the block did not commit (the connection's transaction is rolled
            # back). Unlike rollback(), close() does not expire the objects read, so values
            # loaded in a read-only block stay usable after it.
            await session.close()
