"""`/digest`: the week so far — a supervisor's region digest with chart and ledger, an officer's summary.

Today is Wednesday 2026-11-25 (week 48: 11-23 to 11-29). Numbers counted by hand from the
`world` fixture plus the visits added below.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import BotApiEmulator
from storage.models import User, Visit
from storage.uow import unit_of_work
from tests.conversations.conftest import Talk, World


async def _visits(factory: async_sessionmaker[AsyncSession], world: World) -> None:
    async with unit_of_work(factory) as uow:
        officer = await uow.session.scalar(select(User).where(User.name == "王芳"))
        assert officer is not None
        for enterprise, day in ((world.baiyang, date(2026, 11, 24)), (world.dongshi, date(2026, 11, 17)),
                                (world.yuanan, date(2026, 11, 18))):
            uow.session.add(Visit(enterprise_id=enterprise, officer_id=officer.id, visit_date=day))
        await uow.commit()


async def test_supervisor_gets_digest_chart_and_ledger(
    bot: object, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _visits(factory, world)
    supervisor = Talk(emulator, emulator.user(601, "督导", last_name="李"))
    await supervisor.say(f"/start {world.supervisor_code}")
    photos, documents = len(emulator.calls_to("sendPhoto")), len(emulator.calls_to("sendDocument"))
    await supervisor.say("/digest")

    text = next(m["text"] for m in reversed(supervisor.chat.messages) if "第 48 周" in m.get("text", ""))
    assert "宜昌市 · 第 48 周（11-23 至 11-29）" in text
    # This week: 白洋港 11-24 = 1; last week: 董市镇 11-17, 远安县 11-18 = 2 → −50 %.
    # Covered as of 11-25 (cadence 30): 白洋港 (1 day), 董市镇 (8), 远安县 (7); not 楚韵纺织 (45) → 3 / 4.
    assert "走访 1 次（上周 2，↓50%）· 按期走访率 75%" in text
    # 王芳 visited on 11-24: nobody idle. 楚韵纺织 has 120 employees and no organisation: 1 priority;
    # it has 2 members, one short of forming: 0 ready.
    assert "14 天无走访的联系员：0 人" in text
    assert "具备组建条件未建党组织：0 家 · 百人以上未建：1 家" in text
    # 枝江市: 2 of 3 covered (67 %), 1 visit; 远安县: 1 of 1 (100 %), 0 visits. Neither lags.
    assert "枝江市：3 家 / 67% / 1 次" in text and "远安县：1 家 / 100% / 0 次" in text
    assert "按期走访率低于 60%" not in text

    [photo] = emulator.calls_to("sendPhoto")[photos:]
    assert photo.ok and photo.files["photo"][1].startswith(b"\x89PNG")
    [document] = emulator.calls_to("sendDocument")[documents:]
    assert document.ok and document.files["document"][0] == "台账-宜昌市-20261125.xlsx"
    assert emulator.violations == []


async def test_officer_gets_her_own_summary(
    officer: Talk, emulator: BotApiEmulator, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _visits(factory, world)
    photos = len(emulator.calls_to("sendPhoto"))
    await officer.say("/digest")
    text = officer.chat.messages[-1]["text"]
    # Hers: this week 白洋港 11-24 = 1, last week 2; overdue: 楚韵纺织 (45 days) = 1.
    assert "本周走访 1 次（上周 2）" in text
    assert "超期未访企业：1 家" in text and "待办业主诉求：0 件" in text
    assert emulator.calls_to("sendPhoto")[photos:] == []
    assert emulator.violations == []
