"""One place decides a person's locale: their own, else the bot's (`BOT_LOCALE`). With
`BOT_LOCALE=en`, what the bot sends unasked (reminders, the 季报 and 年终统计) is English as its
replies are — not Chinese because the person never chose a language."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import scheduler
from bot.config import Settings
from bot.emulator import BotApiEmulator
from output import reports
from storage.clock import FixedClock
from storage.models import User
from storage.sweep import sweep
from storage.uow import unit_of_work
from tests.conversations.conftest import Talk, World, start_bot, stop_bot


async def test_with_bot_locale_en_reminders_and_reports_arrive_in_english(
    emulator: BotApiEmulator, conversation_db: str, clock: FixedClock, world: World,
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", emulator.base_url)
    monkeypatch.setenv("DATABASE_URL", conversation_db)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("BOT_LOCALE", "en")
    settings = Settings(_env_file=None)
    app = await start_bot(emulator, clock)
    try:
        officer = Talk(emulator, emulator.user(501, "Fang", last_name="Wang"))
        supervisor = Talk(emulator, emulator.user(601, "Li"))
        assert "You have joined" in " ".join(await officer.say(f"/start {world.officer_code}"))
        await supervisor.say(f"/start {world.supervisor_code}")
        async with factory() as s:
            assert set(await s.scalars(select(User.locale).where(User.chat_id.is_not(None)))) == {None}

        # 楚韵 was last visited 45 days ago (cadence 30): its reminder goes out at the next drain.
        async with unit_of_work(factory) as uow:
            await sweep(uow.session, now=clock.now(), tz=settings.timezone)
            await uow.commit()
        await app.bot_data.outbox.drain(app.bot, factory)
        assert officer.chat.plain() == "⏰ 枝江市楚韵纺织有限公司 has not been visited for 45 days (cadence 30 days)."
        assert officer.buttons() == ["File it now", "Remind me tomorrow", "Not again this period"]

        # The scheduler's report jobs on the first working day of January, at 09:00 and 09:30.
        day = reports.first_working_day(2027, 1)
        job_clock = FixedClock(datetime.combine(day, time(9, 0), tzinfo=settings.timezone))
        monkeypatch.setattr(scheduler, "_runtime", scheduler.Runtime(app.bot, factory, job_clock, settings,
                                                                     app.bot_data.outbox))
        await scheduler.quarterly_report_job()
        await scheduler.year_end_report_job()
        await app.bot_data.outbox.drain(app.bot, factory, now=job_clock.now())
        texts = [supervisor.chat.plain(message) for message in supervisor.chat.messages]
        assert any(text.startswith("📊 宜昌市 quarterly report · Q4 2026") for text in texts), texts
        assert any(text.startswith("📈 宜昌市 year-end figures 2026") for text in texts), texts
        assert emulator.violations == []
    finally:
        await stop_bot(app)
