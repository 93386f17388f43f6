"""Faults: the Bot API failing under the bot (429, 5xx, timeouts, dropped connections) and the
database going away mid-conversation (a private PostgreSQL, stopped as by a crash).

What must hold every time: the bot keeps running; what the user was told is saved is saved,
once; what could not be saved is said plainly, and the draft is as before; no call breaks a
Bot API rule (`emulator.violations == []`). The retry policy itself is unit-tested in
tests/unit/test_retry.py; here it meets the real Application, over HTTP.

The emulator's injected faults never perform the call, so a dropped connection or a timeout here
is one where Telegram did NOT deliver: the bot cannot know that, and must act as if it might
have (not send the message again), then still leave the user a way on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.emulator import ApiCall, BotApiEmulator
from bot.retry import Failure, TelegramRetry
from storage import outbox
from storage.clock import FixedClock
from storage.migrate import upgrade
from storage.models import Draft, OutboxMessage, Visit
from storage.uow import unit_of_work
from tests.conversations.conftest import Talk, World
from tests.pgserver import PostgresServer, require_binaries

SUMMARY = "与董事长交流了用工难问题，车间主任李明递交了入党申请书。"
FOLLOW_UP_Q = "需要后续跟进的事项"
READ_TIMEOUT = 1.0  # seconds; a fault's delay beyond it is a timeout for the bot
TIMEOUT = {"delay": READ_TIMEOUT + 0.5}

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "description": "Too Many Requests: retry after 1", "retry_after": 1},
    "500": {"status": 500, "description": "Internal Server Error"},
    "502": {"status": 502, "description": "Bad Gateway"},
    "503-twice": {"status": 503, "description": "Service Unavailable", "times": 2},
    "dropped": {"drop_connection": True},
    "timeout": TIMEOUT,
}


@pytest.fixture(autouse=True)
def short_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_READ_TIMEOUT", str(READ_TIMEOUT))


def _limiter(bot: Any) -> TelegramRetry:
    limiter = bot.bot.rate_limiter
    assert isinstance(limiter, TelegramRetry)
    return limiter


async def _to_summary(officer: Talk) -> None:
    """/visit for 楚韵纺织, today, 宣传政策, head counts unchanged: the summary is asked."""
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    await officer.tap("宣传政策")
    await officer.tap("下一步")
    [ask] = await officer.tap("没有变化")
    assert "走访情况" in ask


async def _summary_to_receipt(officer: Talk) -> str:
    [ask] = await officer.say(SUMMARY)
    assert FOLLOW_UP_Q in ask
    return await _skips_to_receipt(officer)


async def _skips_to_receipt(officer: Talk) -> str:
    await officer.tap("跳过")
    [card] = await officer.tap("跳过")
    assert "请确认" in card
    [receipt] = await officer.tap("提交")
    assert "已保存（编号 V-" in receipt
    return receipt


async def _new_visits(factory: async_sessionmaker[AsyncSession], world: World) -> list[Visit]:
    async with factory() as session:
        rows = await session.scalars(select(Visit).where(Visit.enterprise_id == world.chuyun, Visit.summary == SUMMARY))
        return list(rows)


def _shown(officer: Talk) -> list[str]:
    """The bot's messages in the chat as the user sees them."""
    return [str(m.get("text", "")) for m in officer.chat.messages]


def _attempts(emulator: BotApiEmulator, method: str, marker: str) -> list[ApiCall]:
    return [c for c in emulator.calls_to(method) if marker in str(c.params.get("text", ""))]


# ---------------------------------------------------------------- Bot API faults on replies


@pytest.mark.parametrize("fault", ["429", "500", "502", "503-twice"])
async def test_a_throttled_or_failed_reply_is_sent_again_and_arrives_once(
    fault: str, bot: Any, officer: Talk, world: World, emulator: BotApiEmulator,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await _to_summary(officer)
    await officer.say(SUMMARY)
    await officer.tap("跳过")
    await officer.tap("跳过")
    emulator.fail_next("sendMessage", **FAULTS[fault])
    replies = await officer.tap("提交")
    receipts = [text for text in _shown(officer) if "已保存（编号 V-" in text]
    assert len(receipts) == 1 and receipts[0] in replies
    failures = FAULTS[fault].get("times", 1)
    assert len([c for c in emulator.calls_to("sendMessage") if not c.ok]) == failures
    kind = Failure.THROTTLED if fault == "429" else Failure.REFUSED
    assert list(_limiter(bot).retried) == [("sendMessage", kind)] * failures
    assert len(emulator.throttled) == (1 if fault == "429" else 0)
    assert len(await _new_visits(factory, world)) == 1
    assert emulator.violations == []


@pytest.mark.parametrize("fault", ["dropped", "timeout", "502", "429"])
@pytest.mark.parametrize("method", ["editMessageText", "answerCallbackQuery"])
async def test_edits_and_button_answers_are_retried_even_when_the_outcome_was_unknown(
    method: str, fault: str, bot: Any, officer: Talk, emulator: BotApiEmulator,
) -> None:
    await officer.say("/visit")
    await officer.tap("枝江市楚韵纺织有限公司")
    await officer.tap("今天")
    start = len(emulator.calls)
    emulator.fail_next(method, **FAULTS[fault])
    [redrawn] = [text for text in await officer.tap("宣传政策") if text]  # answered, then redrawn by an edit
    assert "哪些工作" in redrawn
    assert "✅ 宣传政策" in officer.buttons()
    await emulator.wait_for_call(lambda c: c.method == method and not c.ok, start=start)  # a timeout's comes late
    attempts = [c for c in emulator.calls[start:] if c.method == method]
    assert sorted(c.ok for c in attempts) == [False, True]
    assert [m for m, _ in _limiter(bot).retried] == [method]
    [ask] = await officer.tap("下一步")  # and the conversation goes on
    assert "人数" in ask
    assert emulator.violations == []


@pytest.mark.parametrize("fault", ["dropped", "timeout"])
async def test_a_reply_whose_delivery_is_unknown_is_not_sent_twice_and_the_user_can_go_on(
    fault: str, bot: Any, officer: Talk, world: World, emulator: BotApiEmulator,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await _to_summary(officer)
    emulator.fail_next("sendMessage", **FAULTS[fault])
    await officer.say(SUMMARY)
    # The question after the summary was tried once, never again: it might have arrived.
    await emulator.wait_for_call(lambda c: c.method == "sendMessage" and FOLLOW_UP_Q in str(c.params.get("text")))
    assert len(_attempts(emulator, "sendMessage", FOLLOW_UP_Q)) == 1
    assert list(_limiter(bot).retried) == []
    # The summary is saved (the draft moved on) and the user is told so, not asked to resend.
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        assert draft is not None and draft.answers.get("summary") == {"text": SUMMARY}
    notice = _shown(officer)[-1]
    assert "已经保存" in notice and "不要重复发送" in notice
    assert officer.buttons() == ["继续填写"]
    [ask] = await officer.tap("继续填写")
    assert FOLLOW_UP_Q in ask
    await _skips_to_receipt(officer)
    assert len(await _new_visits(factory, world)) == 1
    assert emulator.violations == []


async def test_a_lost_receipt_is_followed_by_a_notice_that_the_visit_was_saved(
    bot: Any, officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession],
) -> None:
    await _to_summary(officer)
    await officer.say(SUMMARY)
    await officer.tap("跳过")
    await officer.tap("跳过")
    emulator.fail_next("sendMessage", drop_connection=True)
    await officer.tap("提交")
    assert not any("已保存（编号 V-" in text for text in _shown(officer))
    notice = _shown(officer)[-1]
    assert "已经保存" in notice and "继续填写" not in notice  # no draft left to continue
    assert len(await _new_visits(factory, world)) == 1
    assert emulator.violations == []


async def test_a_reply_that_keeps_failing_is_given_up_after_three_retries(
    bot: Any, officer: Talk, world: World, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession],
) -> None:
    _limiter(bot).backoff = (0.05, 0.1, 0.2)  # the production backoff is tested in tests/unit/test_retry.py
    await _to_summary(officer)
    emulator.fail_next("sendMessage", status=502, description="Bad Gateway", times=4)
    await officer.say(SUMMARY)
    failed = _attempts(emulator, "sendMessage", FOLLOW_UP_Q)
    assert len(failed) == 4 and not any(c.ok for c in failed)
    assert "已经保存" in _shown(officer)[-1]
    [ask] = await officer.tap("继续填写")
    assert FOLLOW_UP_Q in ask
    await _skips_to_receipt(officer)
    assert len(await _new_visits(factory, world)) == 1
    assert emulator.violations == []


# ---------------------------------------------------------------- the outbox sender, faults test_sender.py lacks


@pytest.mark.parametrize("fault", ["dropped", "timeout"])
async def test_the_outbox_puts_a_send_of_unknown_outcome_back_and_sends_it_once_later(
    fault: str, bot: Any, officer: Talk, emulator: BotApiEmulator, factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
) -> None:
    data = bot.bot_data
    async with unit_of_work(factory) as uow:
        await outbox.enqueue(uow.session, dedupe_key="fault:1", chat_id=officer.chat.id, user_id=None, kind="notice",
                             text="<b>提醒</b> 请走访", not_before=clock.now())
        await uow.commit()
    emulator.fail_next("sendMessage", **FAULTS[fault])
    first = await data.outbox.drain(bot.bot, data.session_factory)
    assert first.sent == [] and len(first.retried) == 1
    assert list(_limiter(bot).retried) == []  # not resent on the spot by the retry layer either
    clock.advance(timedelta(minutes=1))  # past the sender's backoff
    second = await data.outbox.drain(bot.bot, data.session_factory)
    assert second.sent == first.retried
    assert [text for text in _shown(officer) if "请走访" in text] == ["提醒 请走访"]
    async with factory() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.status == "sent" and row.attempts == 1
    assert emulator.violations == []


# ---------------------------------------------------------------- the database going away


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own (the shared one is never stopped), with a migrated
    template database each test copies."""
    require_binaries()
    with PostgresServer() as server:
        upgrade(server.create_database("liaison_template"))
        yield server


@pytest.fixture
def pg(private_pg: PostgresServer) -> Iterator[PostgresServer]:
    yield private_pg
    private_pg.start()  # running again for the next test, whatever this one did


async def _told_not_saved(emulator: BotApiEmulator, act: Callable[[], int]) -> None:
    """Does `act` (the user's input) and waits until the bot has said it was not saved."""
    start = len(emulator.calls)
    update_id = act()
    told = await emulator.wait_for_call(
        lambda c: c.method == "sendMessage" and "没有保存" in str(c.params.get("text")), start=start)
    assert "请过一两分钟再发送一次" in str(told.params["text"])
    await emulator.wait_processed(update_id)


class TestDatabaseOutage:
    @pytest.fixture
    def conversation_db(self, pg: PostgresServer) -> str:
        return pg.create_database(f"faults_{secrets.token_hex(4)}", template="liaison_template")

    async def test_a_restart_mid_conversation_loses_nothing_and_the_user_is_told_to_resend(
        self, pg: PostgresServer, bot: Any, officer: Talk, world: World, emulator: BotApiEmulator,
        factory: async_sessionmaker[AsyncSession],
    ) -> None:
        # A visit confirmed to the user survives a crash of the database right after.
        await _to_summary(officer)
        await _summary_to_receipt(officer)
        pg.stop(immediate=True)
        pg.start()
        assert len(await _new_visits(factory, world)) == 1

        await _to_summary(officer)
        async with factory() as session:
            before = await session.scalar(select(Draft))
            assert before is not None
            state = (before.step, dict(before.answers), before.seq)
        pg.stop(immediate=True)

        # An answer typed while the database is away: not saved, and the user is told so.
        await _told_not_saved(emulator, lambda: officer.chat.send_text(SUMMARY))
        assert bot.running and bot.updater.running
        pg.start()
        async with factory() as session:
            after = await session.scalar(select(Draft))
            assert after is not None and (after.step, dict(after.answers), after.seq) == state  # rolled back
        # Sent again once the database is back: the conversation goes on where it was.
        [ask] = await officer.say(SUMMARY)
        assert FOLLOW_UP_Q in ask
        await officer.tap("跳过")
        [card] = await officer.tap("跳过")
        assert "请确认" in card

        # The confirmation pressed while the database is away: not saved, the press answered.
        pg.stop(immediate=True)
        await _told_not_saved(emulator, lambda: officer.chat.tap("提交"))
        assert officer.chat.callback_answers[-1].ok
        assert bot.running and bot.updater.running
        pg.start()
        assert len(await _new_visits(factory, world)) == 1
        [receipt] = await officer.tap("提交")
        assert "已保存（编号 V-" in receipt

        visits = await _new_visits(factory, world)
        assert len(visits) == 2
        assert [(v.activities, str(v.visit_date)) for v in visits] == [(["policy"], "2026-11-25")] * 2
        async with factory() as session:
            assert await session.scalar(select(func.count()).select_from(Visit)) == 4  # 2 from `world`, 2 filed
            assert await session.scalar(select(Draft)) is None
        assert emulator.violations == []

    async def test_the_outbox_drain_stops_during_an_outage_and_sends_after_it(
        self, pg: PostgresServer, bot: Any, officer: Talk, emulator: BotApiEmulator,
        factory: async_sessionmaker[AsyncSession], clock: FixedClock,
    ) -> None:
        data = bot.bot_data
        async with unit_of_work(factory) as uow:
            await outbox.enqueue(uow.session, dedupe_key="outage:1", chat_id=officer.chat.id, user_id=None,
                                 kind="notice", text="数据库恢复后送达", not_before=clock.now())
            await uow.commit()
        pg.stop(immediate=True)
        during = await data.outbox.drain(bot.bot, data.session_factory)
        assert during.interrupted and during.sent == []
        assert not any("数据库恢复后送达" in text for text in _shown(officer))
        pg.start()
        after = await data.outbox.drain(bot.bot, data.session_factory)
        assert not after.interrupted and len(after.sent) == 1
        assert [text for text in _shown(officer) if "数据库恢复后送达" in text] == ["数据库恢复后送达"]
        assert emulator.violations == []
