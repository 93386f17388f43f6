"""The outbox sender: drains `storage.outbox` within Telegram's limits.

Limits kept: at most 30 messages in any rolling second overall, at least one second between two
messages to one chat (`Pacer`). A message counts from the moment its answer came back, not from
when it went out: Telegram counts it on arrival, somewhere in between, so however the network's
delay varies from one message to the next, no second as Telegram sees it holds a 31st message.
Rows are claimed in batches, and more are claimed while every chat at hand must wait for its
one-second gap: a sweep queues each officer's reminders together, and a batch of ten officers'
ten reminders each would otherwise go out at ten messages a second. A 429's `retry_after` pauses all sending for that long and the
same message is tried again (a 429 is not a failure); timeouts, network errors and 5xx put the
row back with exponential backoff until `max_attempts`, then it is `failed`; 403 (the user
blocked the bot) drops the row and marks the user `blocked_bot`; other 400s fail at once (the
message itself is wrong, resending cannot help). Quiet hours (`QUIET_HOURS`, 21:00–08:00 by
default, local to `BOT_TIMEZONE`): a message whose send time falls in them is pushed to their
next end, unless its kind is in `quiet_exempt` (empty by default).

A row queued without text (the sweep's reminders: key, kind, officer, chat) is composed when it
is claimed, by the renderer of its kind (`renderers`: `output.reminders` by default), from the values of
its subject then; one whose reason has gone meanwhile is marked `obsolete` instead of sent. A
row postponed by quiet hours is composed again when it is next claimed.

Delivery guarantee — at least once, with a crash window of one message per sender:
each claim is committed before anything is sent, and each row is committed `sent` in its own
unit of work right after Telegram accepted it. A crash (or a failed commit) after Telegram
accepted a message but before its `mark_sent` commits leaves that one row `sending`; after the
lease it is claimed again and sent again, so that one message arrives twice. Rows claimed but
not yet sent when the sender died are only delayed until the lease expires, never duplicated.
Outside that window no message is sent twice: a `sending` row is not claimable until its lease
expires (keep the lease far longer than a drain takes), and on PostgreSQL two senders never
claim the same row (SKIP LOCKED). Exactly-once is not reachable: Telegram has no idempotency key.
The other way a message can arrive twice: a send that timed out or lost its connection after
Telegram had received it looks like a network error, so the row is put back and sent again
(`bot.retry` does not resend it on the spot; the sender's backoff does, preferring a rare
duplicate reminder to a lost one).

Time is injected: `clock` gives the current time (quiet hours, leases, backoff), `timer` the
seconds pacing counts and `sleep` waits them; tests pass a fake clock whose sleep advances it and
whose seconds are the timer, so nothing really waits.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.config import QuietHours
from output import reminders
from output.reminders import Composed, Renderer
from output.text import CAPTION_LIMIT, utf16_len
from storage import outbox
from storage.clock import Clock
from storage.db import unavailable as database_unavailable
from storage.models import OutboxMessage
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

GLOBAL_PER_SECOND = 30  # Telegram: about 30 messages per second to all chats together
CHAT_INTERVAL = 1.0  # Telegram: about one message per second to one chat
# Our clock and Telegram's never agree to the microsecond; a millisecond's margin keeps the
# 31st message of a second from landing on the very edge of Telegram's window.
MARGIN = 0.001
# Waits shorter than this are none. Float seconds never compare exactly (a clock read from a
# datetime has whole microseconds, a 1.7e9-second timestamp loses the last digits): a window
# kept full by a rounding error while the wait said 0 let messages through without ever freeing
# a place — at one instant, as many as were ready.
EPSILON = 1e-6
# The default of the QUIET_HOURS setting (`bot.config`).
DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(8, 0))
MAX_THROTTLES = 5  # 429s in a row for one message before it is put back for a later drain
# Rows one drain handles at most: about six minutes at 30/s. The scheduler starts the next drain
# at its next tick (up to `bot.scheduler.DRAIN_SECONDS` later), a pause a small limit would
# repeat every thousand messages (5 s in 33 s: 13 % of the rate).
DRAIN_LIMIT = 10_000


class Pacer:
    """When the next message may go: a sliding one-second window overall, a gap per chat.

    Pure bookkeeping on seconds from any monotonic origin; the sender asks `wait` before each
    send, sleeps that long, then calls `record`, and `settle` once the answer is back.
    """

    def __init__(self, per_second: int = GLOBAL_PER_SECOND, chat_interval: float = CHAT_INTERVAL) -> None:
        self.per_second = per_second
        self.chat_interval = chat_interval
        self._window: deque[float] = deque()  # send times within the last second
        self._chat_next: dict[int, float] = {}
        self._paused_until = float("-inf")

    def _trim(self, now: float) -> None:
        # The same test as `_until`'s: a place is free exactly when the wait for it is over.
        while self._window and self._window[0] + 1.0 + MARGIN - now <= EPSILON:
            self._window.popleft()

    @staticmethod
    def _until(ready: float, now: float) -> float:
        delay = ready - now
        return delay if delay > EPSILON else 0.0

    def wait(self, chat_id: int, now: float) -> float:
        """Seconds to wait before a message to `chat_id` may be sent (0 if it may go now)."""
        self._trim(now)
        ready = max(self._paused_until, self._chat_next.get(chat_id, float("-inf")))
        if len(self._window) >= self.per_second:
            ready = max(ready, self._window[0] + 1.0 + MARGIN)
        return self._until(ready, now)

    def wait_overall(self, now: float) -> float:
        """Seconds before any message may go (the one-second window, a retry_after), whatever
        its chat."""
        self._trim(now)
        ready = self._paused_until
        if len(self._window) >= self.per_second:
            ready = max(ready, self._window[0] + 1.0 + MARGIN)
        return self._until(ready, now)

    def record(self, chat_id: int, now: float) -> None:
        self._trim(now)
        self._window.append(now)
        self._chat_next[chat_id] = now + self.chat_interval + MARGIN

    def settle(self, chat_id: int, sent: float, answered: float) -> None:
        """The message recorded at `sent` was answered at `answered`: it counts from then on
        (Telegram counted it on arrival, at the latest then)."""
        try:
            self._window.remove(sent)
        except ValueError:
            pass  # trimmed already
        bisect.insort(self._window, answered)
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, float("-inf")),
                                       answered + self.chat_interval + MARGIN)

    def pause(self, seconds: float, now: float) -> None:
        """Telegram said retry_after: nothing goes out before then."""
        self._paused_until = max(self._paused_until, now + seconds)

    def pick(self, chat_ids: Iterable[int], now: float) -> int:
        """Index of the chat that may be sent to soonest (the first on ties, keeping order).

        Without it ten messages to one chat at the head of a batch would hold back every other
        chat for ten seconds.
        """
        best, best_wait = 0, float("inf")
        for index, chat_id in enumerate(chat_ids):
            delay = self.wait(chat_id, now)
            if delay < best_wait:
                best, best_wait = index, delay
                if delay == 0.0:
                    break
        return best


def in_quiet_hours(moment: datetime, tz: ZoneInfo, quiet: QuietHours | None = DEFAULT_QUIET_HOURS) -> bool:
    """Whether `moment` falls in the quiet hours (None: there are none)."""
    if quiet is None:
        return False
    local = moment.astimezone(tz).time()
    if quiet.start < quiet.end:  # within one day, e.g. 12:00–14:00
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # across midnight, e.g. 21:00–08:00


def quiet_hours_end(moment: datetime, tz: ZoneInfo, quiet: QuietHours = DEFAULT_QUIET_HOURS) -> datetime:
    """The next end of quiet hours after `moment`, local (the morning after, for an evening moment
    in 21:00–08:00)."""
    local = moment.astimezone(tz)
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet.end, tzinfo=tz)


def backoff(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Delay before retry after `attempts` failed attempts: base, 2·base, 4·base, … up to cap."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def keyboard(buttons: list[Any]) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(text=b["text"], callback_data=b["callback_data"]) for b in row] for row in buttons]
    return InlineKeyboardMarkup(rows) if rows else None


@dataclass(frozen=True)
class _Job:
    id: int
    chat_id: int
    kind: str
    text: str
    buttons: list[Any]
    attempts: int
    # [{"filename", "kind": "photo"|"document", "data": base64}] — a digest's chart or ledger.
    attachments: list[Any] = field(default_factory=list)


async def _send(bot: Bot, job: _Job) -> Message:
    """Sends the row: a text message, or its files with the text as caption when it fits.

    A text too long for a caption goes first as a message of its own. (If the file then fails
    and is retried, that text goes again: the files of a digest are queued as rows of their own,
    with empty text, so this only concerns rows built otherwise.)
    """
    if not job.attachments:
        return await bot.send_message(job.chat_id, job.text, parse_mode=ParseMode.HTML,
                                      reply_markup=keyboard(job.buttons))
    caption: str | None = job.text or None
    if caption is not None and utf16_len(caption) > CAPTION_LIMIT:
        await bot.send_message(job.chat_id, caption, parse_mode=ParseMode.HTML)
        caption = None
    message: Message | None = None
    for item in job.attachments:
        data = InputFile(base64.b64decode(item["data"]), filename=item["filename"])
        markup = keyboard(job.buttons) if caption is not None or message is None else None
        if item.get("kind") == "photo":
            message = await bot.send_photo(job.chat_id, data, caption=caption, parse_mode=ParseMode.HTML,
                                           reply_markup=markup)
        else:
            message = await bot.send_document(job.chat_id, data, caption=caption, parse_mode=ParseMode.HTML,
                                              reply_markup=markup)
        caption = None
    assert message is not None
    return message


@dataclass
class DrainReport:
    sent: list[int] = field(default_factory=list)  # outbox ids
    retried: list[int] = field(default_factory=list)  # put back after a transient error
    failed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    postponed: list[int] = field(default_factory=list)  # quiet hours
    obsolete: list[int] = field(default_factory=list)  # composed when sent, and its reason had gone
    throttled: int = 0  # 429 answers seen (0 when pacing is right)
    interrupted: bool = False  # the database went away during the drain


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class OutboxSender:
    clock: Clock
    tz: ZoneInfo
    # The bot's locale (`BOT_LOCALE`): what a row composed when sent is worded in for a person
    # who has none of their own.
    locale: str = "zh_CN"
    sleep: Callable[[float], Awaitable[None]] = _real_sleep
    lease: timedelta = timedelta(minutes=10)
    batch: int = 100
    # Rows held at most while claiming more to find a chat that may be sent to (at 30/s, half
    # a minute of sending: far inside the lease).
    lookahead: int = 1000
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=1)
    quiet_exempt: frozenset[str] = frozenset()
    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS  # None: no quiet hours
    pacer: Pacer = field(default_factory=Pacer)
    # Pacing measures elapsed seconds on `timer`, and `sleep` must move it: the real pair by
    # default. A test whose sleep advances a fake clock passes that clock's seconds as well. A
    # real sleep read against a calendar clock held still (a FixedClock) would wait for ever.
    timer: Callable[[], float] = monotonic
    # Who composes rows queued without text, by kind: the reminders' wording by default.
    renderers: Mapping[str, Renderer] = field(default_factory=lambda: reminders.RENDERERS)

    def _seconds(self) -> float:
        return self.timer()

    async def drain(
        self, bot: Bot, factory: async_sessionmaker[AsyncSession], *, now: datetime | None = None,
        limit: int = DRAIN_LIMIT,
    ) -> DrainReport:
        """Sends what is due, batch by batch, until nothing is due or `limit` rows were handled.

        When the database goes away (PostgreSQL restarting) the drain stops and says so in the
        report instead of raising: rows claimed but not sent stay `sending` until their lease
        ends (delayed, not lost), and a message Telegram accepted whose `mark_sent` could not
        commit goes again then (the crash window above). The next drain carries on.
        """
        report = DrainReport()
        try:
            await self._drain(bot, factory, report, now=now, limit=limit)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logger.warning("Outbox drain stopped, the database is unavailable: %s", exc)
            report.interrupted = True
        return report

    async def _drain(
        self, bot: Bot, factory: async_sessionmaker[AsyncSession], report: DrainReport, *, now: datetime | None,
        limit: int,
    ) -> None:
        handled = 0
        jobs: list[_Job] = []
        more = True
        while True:
            if more and handled < limit and (not jobs or (len(jobs) < self.lookahead and self._held_by_chats(jobs))):
                wanted = min(self.batch, limit - handled)
                claimed, count = await self._claim(factory, now if now is not None else self.clock.now(), wanted,
                                                   report)
                handled += count
                jobs.extend(claimed)
                more = count == wanted
                continue
            if not jobs:
                break
            job = jobs.pop(self.pacer.pick((j.chat_id for j in jobs), self._seconds()))
            await self._deliver(bot, factory, job, report)

    def _held_by_chats(self, jobs: list[_Job]) -> bool:
        """Every chat at hand must wait for its gap while the overall rate has room: rows of
        other chats, further down the queue, could go now."""
        moment = self._seconds()
        overall = self.pacer.wait_overall(moment)
        return all(self.pacer.wait(job.chat_id, moment) > overall for job in jobs)

    async def _claim(self, factory: async_sessionmaker[AsyncSession], claimed_at: datetime, limit: int,
                     report: DrainReport) -> tuple[list[_Job], int]:
        """Claims due rows, then composes those queued without text (after the claim's commit:
        on SQLite the write lock is not held while templates render); the jobs, and how many
        rows were claimed (some may have turned out obsolete or not composable)."""
        async with unit_of_work(factory) as uow:
            rows = await outbox.claim(uow.session, now=claimed_at, limit=limit, lease=self.lease)
            await uow.commit()
        composed: dict[int, Composed | None] = {}
        if bare := [r for r in rows if r.text is None]:
            async with factory() as session:
                composed = await self._compose(session, bare, claimed_at)
        jobs: list[_Job] = []
        obsolete: list[int] = []
        unrendered: list[OutboxMessage] = []
        for r in rows:
            if r.text is not None:
                text, buttons = r.text, list(r.buttons)
            elif r.id not in composed:
                unrendered.append(r)
                continue
            elif (found := composed[r.id]) is None:
                obsolete.append(r.id)
                continue
            else:
                text, buttons = found[0], list(found[1])
            jobs.append(_Job(r.id, r.chat_id, r.kind, text, buttons, r.attempts, list(r.attachments or [])))
        if obsolete or unrendered:
            async with unit_of_work(factory) as uow:
                await outbox.mark_obsolete(uow.session, obsolete, now=claimed_at)
                for r in unrendered:
                    logger.error("outbox %s: no renderer for kind %r", r.id, r.kind)
                    await outbox.mark_failed(uow.session, r.id, attempts=r.attempts, error=f"no renderer for {r.kind}")
                await uow.commit()
            report.obsolete.extend(obsolete)
            report.failed.extend(r.id for r in unrendered)
        return jobs, len(rows)

    async def _compose(self, session: AsyncSession, rows: list[OutboxMessage],
                       now: datetime) -> dict[int, Composed | None]:
        """Each row's text and buttons from the renderer of its kind, one call per renderer."""
        by_renderer: dict[Renderer, list[OutboxMessage]] = {}
        for row in rows:
            if row.kind in self.renderers:
                by_renderer.setdefault(self.renderers[row.kind], []).append(row)
        composed: dict[int, Composed | None] = {}
        for renderer, of_renderer in by_renderer.items():
            composed.update(await renderer(session, of_renderer, now, self.tz, self.locale))
        return composed

    async def _deliver(
        self, bot: Bot, factory: async_sessionmaker[AsyncSession], job: _Job, report: DrainReport
    ) -> None:
        throttles = 0
        while True:
            # Asked again after each sleep: another drain of this sender may have sent meanwhile.
            while (delay := self.pacer.wait(job.chat_id, self._seconds())) > 0:
                await self.sleep(delay)
            moment, quiet = self.clock.now(), self.quiet_hours
            if quiet is not None and job.kind not in self.quiet_exempt and in_quiet_hours(moment, self.tz, quiet):
                async with unit_of_work(factory) as uow:
                    await outbox.mark_retry(uow.session, job.id, attempts=job.attempts,
                                            not_before=quiet_hours_end(moment, self.tz, quiet), error=None)
                    await uow.commit()
                report.postponed.append(job.id)
                return
            try:
                message = await self._send_paced(bot, job)
            except RetryAfter as exc:
                report.throttled += 1
                throttles += 1
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                self.pacer.pause(seconds, self._seconds())
                if throttles < MAX_THROTTLES:
                    continue  # the pacer sleeps retry_after before the same message goes again
                await self._put_back(factory, job, job.attempts, self.clock.now() + timedelta(seconds=seconds), exc)
                report.retried.append(job.id)
                return
            except Forbidden as exc:
                async with unit_of_work(factory) as uow:
                    await outbox.mark_dropped(uow.session, job.id, error=str(exc))
                    await uow.commit()
                report.dropped.append(job.id)
                return
            except BadRequest as exc:
                # BadRequest is a NetworkError subclass in PTB, but retrying a malformed message is futile.
                await self._fail(factory, job, job.attempts + 1, exc)
                report.failed.append(job.id)
                return
            except TelegramError as exc:  # TimedOut, NetworkError, 5xx: transient
                attempts = job.attempts + 1
                if attempts >= self.max_attempts:
                    await self._fail(factory, job, attempts, exc)
                    report.failed.append(job.id)
                else:
                    retry_at = self.clock.now() + backoff(attempts, self.backoff_base, self.backoff_cap)
                    await self._put_back(factory, job, attempts, retry_at, exc)
                    report.retried.append(job.id)
                return
            # Committed on its own right away: this is the crash window of the guarantee above.
            async with unit_of_work(factory) as uow:
                await outbox.mark_sent(uow.session, job.id, now=self.clock.now(), telegram_message_id=message.message_id)
                await uow.commit()
            report.sent.append(job.id)
            return

    async def _send_paced(self, bot: Bot, job: _Job) -> Message:
        """Sends the row, counted by the pacer from when it went out until it was answered."""
        sent = self._seconds()
        self.pacer.record(job.chat_id, sent)
        try:
            return await _send(bot, job)
        finally:
            self.pacer.settle(job.chat_id, sent, self._seconds())

    async def _put_back(
        self, factory: async_sessionmaker[AsyncSession], job: _Job, attempts: int, not_before: datetime, exc: Exception
    ) -> None:
        logger.info("outbox %s: retry at %s after %s", job.id, not_before.isoformat(), exc)
        async with unit_of_work(factory) as uow:
            await outbox.mark_retry(uow.session, job.id, attempts=attempts, not_before=not_before, error=str(exc))
            await uow.commit()

    async def _fail(self, factory: async_sessionmaker[AsyncSession], job: _Job, attempts: int, exc: Exception) -> None:
        logger.warning("outbox %s: giving up after %s attempts: %s", job.id, attempts, exc)
        async with unit_of_work(factory) as uow:
            await outbox.mark_failed(uow.session, job.id, attempts=attempts, error=str(exc))
            await uow.commit()
