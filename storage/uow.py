"""One unit of work per update and per job run (cosmicpython's pattern, with SQLAlchemy 2).

Storage functions take the session and never commit; the caller commits once at the end.
Leaving the block without `commit()` rolls everything back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass
class UnitOfWork:
    session: AsyncSession

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    async with factory() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
        finally:
            # Ends whatever the block did not commit (the connection's transaction is rolled
            # back). Unlike rollback(), close() does not expire the objects read, so values
            # loaded in a read-only block stay usable after it.
            await session.close()
