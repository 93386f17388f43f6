"""One unit of work per update and per job run (cosmicpython's pattern, with SQLAlchemy 2).

Storage functions take the session and never commit; the caller commits once at the end.
Leaving the block without `commit()` rolls everything back.

While an update is being processed, the first commit also records its update_id as handled
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

    async def commit(self) -> None:
        handling = updates.add_to(self.session)
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


async def _recorded_elsewhere(session: AsyncSession, update_id: int) -> bool:
    await session.rollback()
    return await updates.seen(session, update_id)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    # The update's first unit of work goes on in the session of its redelivery check, on the
    # connection already checked out for it (`updates.take_session`).
    async with updates.take_session(factory) or factory() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
        finally:
            # Ends whatever the block did not commit (the connection's transaction is rolled
            # back). Unlike rollback(), close() does not expire the objects read, so values
            # loaded in a read-only block stay usable after it.
            await session.close()
