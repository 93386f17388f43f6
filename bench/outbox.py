"""Benchmark 4: the outbox sender draining 2,000 messages within Telegram's 30 messages/s.

    python -m bench.outbox [--messages 2000] [--chats 200] [--backend sqlite postgresql]
                           [--order clustered interleaved] [--inject 3] [--plain-bot] [--tiny]

A fresh database per backend gets `--messages` queued rows for `--chats` officers (10 each by
default), in one of two orders: `clustered` — each chat's messages one after another, as a
sweep leaves them (an officer's reminders together) — or `interleaved` (one per chat, round and
round). `bot.sender.OutboxSender.drain` sends them, in real time, over HTTP to
`BotApiEmulator(rate_limit=True)`, which answers 429 with retry_after to the 31st message in a
rolling second and to a chat's messages faster than one a second (after a burst of three), like
Telegram. The bot is the one the Application builds: PTB's `ExtBot` with `bot.retry.TelegramRetry`
(`--plain-bot`: a bare `telegram.Bot`, so the sender sees the 429s itself). `--inject` extra 429s
(retry_after 1 s) are injected at even steps of the run with `emulator.fail_next`. The drains run
as the scheduler runs them: one every `bot.scheduler.DRAIN_SECONDS`, never two at once.

Figures: messages/s against the ceiling of 30/s (target ≥ 90 %, 27/s); sendMessage calls per
text (zero duplicates, none missing); 429s seen (injected and Telegram's own); every row `sent`.
Baselines in the same run: the ceiling itself (messages / 30), and the same sender on the same
queue with a fake clock and a bot that answers at once — the pacing alone, without HTTP,
database or 429s (what the sender's own rules allow).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import typing
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.ext import ExtBot

from bench.common import format_table, machine_lines, pg_server_available, scratch_database
from bot.app import SANDBOX_TOKEN
from bot.emulator import BotApiEmulator
from bot.retry import TelegramRetry
from bot.scheduler import DRAIN_SECONDS
from bot.sender import GLOBAL_PER_SECOND, OutboxSender
from storage.clock import FixedClock
from storage.db import make_async_engine, make_session_factory
from storage.models import OutboxMessage, User

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours
TARGET_SHARE = 0.90
FIRST_CHAT = 800_000
TINY_MESSAGES, TINY_CHATS = 40, 8


def plan(messages: int, chats: int, order: str) -> list[tuple[int, int]]:
    """(chat index, message number in its chat) in queue order."""
    counts = [messages // chats + (1 if i < messages % chats else 0) for i in range(chats)]
    if order == "clustered":
        return [(chat, n) for chat in range(chats) for n in range(counts[chat])]
    return [(chat, n) for n in range(max(counts)) for chat in range(chats) if n < counts[chat]]


def _text(chat: int, n: int) -> str:
    return f"⏰ 提醒 {chat}-{n}：楚韵纺织已 31 天未走访（周期 30 天）。"


async def fill(factory: async_sessionmaker[AsyncSession], queue: list[tuple[int, int]], chats: int) -> None:
    """The officers and their queued messages, with bulk inserts."""
    async with factory() as session:
        await session.execute(insert(typing.cast(Table, User.__table__)), [
            {"id": i + 1, "name": f"干部{i}", "role": "officer", "region": "宜昌市/枝江市", "active": True,
             "blocked_bot": False, "telegram_user_id": FIRST_CHAT + i, "chat_id": FIRST_CHAT + i,
             "created_at": NOW, "updated_at": NOW}
            for i in range(chats)])
        await session.execute(insert(typing.cast(Table, OutboxMessage.__table__)), [
            {"dedupe_key": f"bench:{chat}:{n}", "chat_id": FIRST_CHAT + chat, "user_id": chat + 1, "kind": "reminder",
             "text": _text(chat, n), "buttons": [[{"text": "立即填报", "callback_data": f"bench:{chat}:{n}"}]],
             "attachments": [], "not_before": NOW, "status": "pending", "attempts": 0, "created_at": NOW}
            for chat, n in queue])
        await session.commit()


async def _statuses(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return {status: int(count) for status, count in rows.tuples()}


# ---------------------------------------------------------------- the baseline: pacing alone


@dataclass
class _VirtualClock(FixedClock):
    """Calendar time that moves only when the sender sleeps: no I/O takes any time."""

    async def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def seconds(self) -> float:
        return self.current.timestamp()


class _InstantBot:
    """Accepts every message at once."""

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Any:
        return SimpleNamespace(message_id=1)


async def pacing_alone(queue: list[tuple[int, int]], chats: int) -> float:
    """Seconds the sender's pacing needs for the queue when sending costs nothing."""
    with scratch_database("sqlite", "outbox_ideal") as url:
        engine = make_async_engine(url)
        factory = make_session_factory(engine)
        try:
            await fill(factory, queue, chats)
            clock = _VirtualClock(NOW)
            sender = OutboxSender(clock=clock, tz=TZ, sleep=clock.sleep, timer=clock.seconds)
            while (await sender.drain(_InstantBot(), factory)).sent:  # type: ignore[arg-type]
                pass
            return (clock.now() - NOW).total_seconds()
        finally:
            await engine.dispose()


# ---------------------------------------------------------------- the real run


class _RunningClock:
    """Calendar time from NOW on at the real pace (quiet hours stay out of the way)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self.start)


@dataclass
class Run:
    backend: str
    order: str
    messages: int
    chats: int
    seconds: float
    ideal_seconds: float
    drains: int
    sent_reports: int
    throttled_by_sender: int
    throttled_emulator: int
    injected: int
    duplicates: int
    missing: int
    statuses: dict[str, int]
    violations: int
    gaps: list[float] = field(default_factory=list)  # seconds between drains

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def share(self) -> float:
        return self.rate / GLOBAL_PER_SECOND

    @property
    def ok(self) -> bool:
        return (self.share >= TARGET_SHARE and self.duplicates == 0 and self.missing == 0
                and self.statuses == {"sent": self.messages})


async def _inject(emulator: BotApiEmulator, at: list[int], done: asyncio.Event) -> int:
    """A 429 (retry_after 1) on the next sendMessage each time `at[i]` messages went out."""
    injected, seen, sent = 0, 0, 0
    while injected < len(at) and not done.is_set():
        calls = emulator.calls
        for call in calls[seen:]:
            sent += call.method == "sendMessage" and call.ok
        seen = len(calls)
        if sent >= at[injected]:
            emulator.fail_next("sendMessage", status=429, retry_after=1,
                               description="Too Many Requests: retry after 1")
            injected += 1
        await asyncio.sleep(0.01)
    return injected


async def real_run(url: str, backend: str, order: str, messages: int, chats: int, inject: int, plain: bool,
                   ideal: float, timeout: float) -> Run:
    queue = plan(messages, chats, order)
    engine = make_async_engine(url)
    factory = make_session_factory(engine)
    try:
        await fill(factory, queue, chats)
        async with BotApiEmulator(rate_limit=True) as emulator:
            for i in range(chats):
                emulator.user(FIRST_CHAT + i, f"干部{i}").send_text("/start")
            bot: Bot = (Bot(SANDBOX_TOKEN, base_url=emulator.base_url) if plain
                        else ExtBot(SANDBOX_TOKEN, base_url=emulator.base_url, rate_limiter=TelegramRetry()))
            async with bot:
                sender = OutboxSender(clock=_RunningClock(), tz=TZ)
                done = asyncio.Event()
                targets = [messages * (k + 1) // (inject + 1) for k in range(inject)]
                injector = asyncio.create_task(_inject(emulator, targets, done))
                began = time.monotonic()
                drains, sent, throttled, gaps = 0, 0, 0, []
                last_end = began
                while sent < messages and time.monotonic() - began < timeout:
                    # The scheduler: a drain every DRAIN_SECONDS, skipped while one runs.
                    tick = began + DRAIN_SECONDS * math.ceil((time.monotonic() - began) / DRAIN_SECONDS)
                    if drains:
                        await asyncio.sleep(max(0.0, tick - time.monotonic()))
                        gaps.append(time.monotonic() - last_end)
                    report = await sender.drain(bot, factory)
                    last_end = time.monotonic()
                    drains += 1
                    sent += len(report.sent)
                    throttled += report.throttled
                seconds = time.monotonic() - began
                done.set()
                injected = await injector
            texts = Counter(str(call.params.get("text")) for call in emulator.calls
                            if call.method == "sendMessage" and call.ok)
            expected = {_text(chat, n) for chat, n in queue}
            statuses = await _statuses(factory)
            return Run(backend, order, messages, chats, seconds, ideal, drains, sent, throttled,
                       len(emulator.throttled), injected, sum(1 for count in texts.values() if count > 1),
                       len(expected - set(texts)), statuses, len(emulator.violations), gaps)
    finally:
        await engine.dispose()


def report(runs: list[Run]) -> str:
    ceiling = runs[0].messages / GLOBAL_PER_SECOND if runs else 0.0
    rows: list[list[object]] = [["ceiling: 30 messages/s", "all", f"{ceiling:.1f}", f"{GLOBAL_PER_SECOND:.1f}",
                                 "100 %", "", "", "", ""]]
    for order in dict.fromkeys(run.order for run in runs):
        ideal = next(run.ideal_seconds for run in runs if run.order == order)
        rows.append([f"baseline: pacing alone ({order})", "-", f"{ideal:.1f}", f"{runs[0].messages / ideal:.1f}",
                     f"{runs[0].messages / ideal / GLOBAL_PER_SECOND:.0%}", "", "", "", ""])
    for run in runs:
        verdict = "ok" if run.share >= TARGET_SHARE else "MISSED"
        rows.append([f"drain ({run.order})", run.backend, f"{run.seconds:.1f}", f"{run.rate:.1f}",
                     f"{run.share:.0%} (≥ 90 % {verdict})", f"{run.ideal_seconds / run.seconds:.2f}×",
                     f"{run.throttled_emulator} ({run.injected} injected)", f"{run.duplicates} / {run.missing}",
                     ", ".join(f"{k} {v}" for k, v in sorted(run.statuses.items()))])
    table = format_table(["measure", "backend", "seconds", "msg/s", "of ceiling", "× pacing alone", "429s",
                          "dup / missing", "rows"], rows)
    notes = [f"{run.backend} {run.order}: {run.drains} drains, gaps between them "
             f"{', '.join(f'{g:.1f}' for g in run.gaps) or 'none'} s; sender saw {run.throttled_by_sender} 429s; "
             f"{run.violations} Bot API violations" for run in runs]
    return table + "\n" + "\n".join(notes)


def run(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--order", nargs="+", choices=("clustered", "interleaved"),
                        default=["clustered", "interleaved"])
    parser.add_argument("--inject", type=int, default=3, help="extra 429s (retry_after 1 s) during the run")
    parser.add_argument("--plain-bot", action="store_true", help="telegram.Bot without bot.retry's layer")
    parser.add_argument("--tiny", action="store_true",
                        help=f"{TINY_MESSAGES} messages to {TINY_CHATS} chats, one 429 (the smoke test)")
    args = parser.parse_args(argv)
    messages, chats, inject = (TINY_MESSAGES, TINY_CHATS, 1) if args.tiny else (args.messages, args.chats, args.inject)
    print("\n".join(machine_lines()))
    print(f"outbox drain: {messages:,} messages to {chats} chats, {inject} injected 429s, "
          f"{'plain telegram.Bot' if args.plain_bot else 'ExtBot with bot.retry.TelegramRetry'}; "
          f"target ≥ {TARGET_SHARE:.0%} of {GLOBAL_PER_SECOND}/s", flush=True)
    ideal = {order: asyncio.run(pacing_alone(plan(messages, chats, order), chats)) for order in args.order}
    timeout = max(60.0, 5 * messages / GLOBAL_PER_SECOND)
    runs = []
    for backend in args.backend:
        if backend == "postgresql" and not pg_server_available():
            print("postgresql: skipped, no server answers at 127.0.0.1:5432")
            continue
        for order in args.order:
            with scratch_database(backend, "outbox") as url:
                runs.append(asyncio.run(real_run(url, backend, order, messages, chats, inject, args.plain_bot,
                                                 ideal[order], timeout)))
            print(f"{backend} {order}: {runs[-1].seconds:.1f} s, {runs[-1].rate:.1f} msg/s", flush=True)
    print(report(runs))
    return runs


def main(argv: list[str] | None = None) -> int:
    runs = run(argv)
    return 0 if all(r.duplicates == 0 and r.missing == 0 and r.statuses == {"sent": r.messages} for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
