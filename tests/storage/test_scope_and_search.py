from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import enterprises
from storage.models import Enterprise
from storage.pinyin import initials
from storage.uow import unit_of_work


def _enterprise(name: str, region: str, code: str) -> Enterprise:
    return Enterprise(name=name, name_initials=initials(name), credit_code=code, region=region)


async def test_search_stays_inside_the_scope_and_matches_pinyin_initials(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as uow:
        uow.session.add_all([
            _enterprise("枝江市楚韵纺织有限公司", "宜昌市/枝江市/马家店街道", "A" * 18),
            _enterprise("枝江楚韵印务", "宜昌市/枝江", "B" * 18),
            _enterprise("远安楚韵茶业", "宜昌市/远安县", "C" * 18),
        ])
        await uow.commit()
    async with unit_of_work(session_factory) as uow:
        by_name = await enterprises.search(uow.session, "宜昌市/枝江市", "楚韵", date(2026, 11, 25))
        by_letters = await enterprises.search(uow.session, "宜昌市/枝江市", "CYFZ", date(2026, 11, 25))
        city = await enterprises.search(uow.session, "宜昌市", "楚韵", date(2026, 11, 25))
        wildcard = await enterprises.search(uow.session, "宜昌市", "%", date(2026, 11, 25))
    assert [r.name for r in by_name] == ["枝江市楚韵纺织有限公司"]
    assert [r.name for r in by_letters] == ["枝江市楚韵纺织有限公司"]
    assert len(city) == 3
    assert wildcard == []


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    from sqlalchemy import text

    from storage.db import make_async_engine

    engine = make_async_engine(sqlite_url)
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    await engine.dispose()
