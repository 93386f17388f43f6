"""Full-stack throughput and step latency: officers filing visit reports, against an echo bot.

    python -m bench.throughput [--officers 1 10 50] [--backend sqlite postgresql] [--visits N]
                               [--think MS] [--tiny]

What is measured. Simulated officers — each its own Telegram user who redeemed an invite, each
with their own assigned enterprises — file complete visit reports through the Bot API emulator
over HTTP, as a phone would: /visit → enterprise → 今天 → an activity → 下一步 → 没有变化 → the
summary typed → 跳过 → 跳过 → 提交 (ten steps; the flow of tests/conversations/test_visit.py).
All officers of a level go at once, each sending its next step as soon as it sees the bot's
answer to the previous one (a closed loop without think time: the most load that many officers
can put on the bot; `--think` adds a pause between steps, like a person reading and tapping).

A step's latency runs from the moment the user's update is queued at the emulator to the moment
the bot's reply call (sendMessage or editMessageText to that chat, the message the user reads and
taps next) arrives at the emulator; throughput is steps per second of wall time for the level.

The baseline, measured in the same run on the same harness: a bare python-telegram-bot echo bot
(one MessageHandler that replies to the text, one CallbackQueryHandler that answers the query),
polling its own emulator the same way, with the same number of simultaneous users sending the
same steps (two texts and eight button presses per visit). Its "reply" is its only call: the
sendMessage for a text, the answerCallbackQuery for a button. The echo bot processes updates
concurrently with the bot's own limit (64), so the comparison is not against PTB's default
one-update-at-a-time processing but against the best the same framework does with the same
setting; what is left is the bot's own work per update.

Where things run (the choice the figures depend on). The bot runs as its own process, started
the way `python -m bot run` starts it (`build_application(...)` then `run_polling`, JSON logs at
INFO, the real Settings; only the scheduler is left out, as in the tests, so its jobs do not
disturb the measurement). The emulator and the simulated users run in this process. In
production the Bot API is another machine and the bot has its event loop to itself; with the
emulator in the bot's process both would share one event loop and one core, every emulator
request would be CPU time taken from the bot, and the measurement would mostly show how the
two take turns. With two processes each has its own core (this machine has two; PostgreSQL's
server process needs CPU too and competes with both). The echo bot runs as its own process in
exactly the same way against its own emulator in this process, so both see the same harness
and the same HTTP hops; the ratio is then about the bots. Harness CPU per step is printed so
one can see when the harness rather than the bot limits a figure (it does for the echo bot at
50 users: its throughput is a ceiling of the harness more than of PTB).

Each level uses the first N officers of one database and one bot process per backend, after a
warm-up (every officer's /start, one complete visit, so templates are compiled and the
connection pool is filled). At the end the saved visits are counted per officer in the
database: every visit the harness completed must be there, or the script exits with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import format_table, machine_lines, pg_server_available, scratch_database
from bot.emulator import ApiCall, BotApiEmulator, UserChat

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "1000001:SANDBOX-offline-token"  # bot.app.SANDBOX_TOKEN: both bots run without a real token
COUNTIES = ("西陵区", "伍家岗区", "点军区", "猇亭区", "夷陵区", "远安县", "兴山县", "秭归县", "长阳土家族自治县",
            "五峰土家族自治县", "宜都市", "当阳市", "枝江市")
ENTERPRISES_PER_OFFICER = 5
OFFICER_IDS = 600_000_001  # Telegram user ids of the simulated officers: 600000001, …
ECHO_IDS = 900_000_001
SUMMARY = "与董事长交流了用工难问题，车间主任递交了入党申请书。"
STEPS_PER_VISIT = 10
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
TARGET_AT = 50  # officers at once where the p99 target applies
STEP_TIMEOUT = 30.0
COUNTERS = "COUNTERS "
COUNTED = ("statements", "checkouts", "connects", "commits", "rollbacks", "resets")

logger = logging.getLogger("bench.throughput")


# ---------------------------------------------------------------- the bots (child processes)


def serve_bot(api: str, database: str) -> None:
    """The liaison bot as `python -m bot run` runs it (without the scheduler)."""
    from telegram import Update

    from bot.app import build_application, configure_logging
    from bot.config import Settings

    settings = Settings(_env_file=None, telegram_bot_token=None, telegram_api_base_url=api,  # type: ignore[call-arg]
                        database_url=database)
    configure_logging(settings, logging.INFO, json_lines=True)
    application = build_application(settings)
    _count_database_work(application.bot_data.session_factory.kw["bind"].sync_engine)
    application.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=(signal.SIGTERM, signal.SIGINT))


def _count_database_work(engine: Any) -> None:
    """Counts the bot's statements, pool checkouts, new connections and transaction ends; a
    SIGUSR1 prints the counts as one line (`COUNTERS` + JSON) to the log the harness reads."""
    import json

    from sqlalchemy import event

    counts = dict.fromkeys(COUNTED, 0)

    def counter(name: str) -> Callable[..., None]:
        def count(*_args: Any, **_kwargs: Any) -> None:
            counts[name] += 1
        return count

    for name, target, event_name in (("statements", engine, "before_cursor_execute"), ("checkouts", engine, "checkout"),
                                     ("connects", engine, "connect"), ("commits", engine, "commit"),
                                     ("rollbacks", engine, "rollback"), ("resets", engine, "reset")):
        event.listen(target, event_name, counter(name))
    signal.signal(signal.SIGUSR1, lambda *_: print(COUNTERS + json.dumps(counts), flush=True))


def serve_echo(api: str, client: str = "httpx") -> None:
    """A bare python-telegram-bot echo bot: replies to a message, answers a button press. Its
    HTTP client is PTB's own (httpx), or with `client="aiohttp"` the bot's (`bot.transport`),
    so the comparison can also be made with the same client on both sides."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(update.effective_message.text or "…")

    async def answer(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()

    builder = ApplicationBuilder().token(TOKEN).base_url(api).concurrent_updates(64)
    if client == "aiohttp":
        from bot.transport import AiohttpRequest

        builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest(connection_pool_size=1))
    application = builder.build()
    application.add_handler(CallbackQueryHandler(answer))
    application.add_handler(MessageHandler(filters.ALL, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=(signal.SIGTERM, signal.SIGINT))


class Child:
    """A bot process polling an emulator of this process."""

    def __init__(self, kind: str, emulator: BotApiEmulator, log_dir: Path, database: str | None = None,
                 echo_client: str = "httpx") -> None:
        self.kind = kind
        self.emulator = emulator
        command = [sys.executable, "-m", "bench.throughput", "--serve", kind, "--api", emulator.base_url,
                   "--echo-client", echo_client]
        if database is not None:
            command += ["--database", database]
        self.log_path = log_dir / f"{kind}-{os.getpid()}-{len(list(log_dir.iterdir()))}.log"
        self._log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    async def ready(self, timeout: float = 60.0) -> None:
        """Waits until the bot starts polling: PTB deletes any webhook right before its first
        getUpdates (which the emulator records only when it returns)."""
        try:
            await self.emulator.wait_for_call(lambda c: c.method == "deleteWebhook", timeout=timeout)
        except TimeoutError:
            raise RuntimeError(f"the {self.kind} bot did not start; its log:\n{self.log_tail()}") from None

    def cpu_seconds(self) -> float:
        return _proc_cpu(self.process.pid)

    async def counters(self) -> dict[str, int]:
        """The bot's database counters so far (see `_count_database_work`)."""
        import json

        self._log.flush()
        seen = self.log_path.read_text(errors="replace").count(COUNTERS)
        self.process.send_signal(signal.SIGUSR1)
        for _ in range(400):
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.startswith(COUNTERS)]
            if len(lines) > seen:
                return {k: int(v) for k, v in json.loads(lines[-1][len(COUNTERS):]).items()}
            await asyncio.sleep(0.005)
        raise RuntimeError(f"the {self.kind} bot did not report its counters")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            for _ in range(200):  # it confirms its last updates with the emulator on the way out
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _proc_cpu(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc; with `children`,
    those of its ended and reaped children instead."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    first = 13 if children else 11  # cutime, cstime — or utime, stime
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL server on behalf of `database`: its live backends, plus what
    their postmaster's reaped children used (backends that ended meanwhile, as when a pool opens
    and closes connections; this part also counts other databases' ended backends). NaN where
    /proc does not show the server (another host or container)."""
    total, postmasters = 0.0, set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if not (cmdline.startswith(b"postgres:") and f" {database} ".encode() in cmdline):
                continue
            postmasters.add(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]))
        except (OSError, ValueError, IndexError):
            continue
        total += _proc_cpu(int(entry.name))
    if not postmasters:
        return math.nan
    return total + sum(_proc_cpu(pid, children=True) for pid in postmasters)


@contextlib.contextmanager
def profiled(child: Child, directory: Path | None, name: str) -> Iterator[None]:
    """With --profile: py-spy samples the bot process while the block runs (only while it holds
    the GIL; collapsed stacks, one line per stack with its sample count, for flamegraph.pl,
    speedscope or a sort)."""
    if directory is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen([spy, "record", "--pid", str(child.process.pid), "--rate", "200", "--gil",
                                 "--format", "raw", "--output", str(directory / f"{name}.txt"), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=30)


# ---------------------------------------------------------------- the database


async def seed(url: str, officers: int, today: date) -> list[str]:
    """`officers` officers across the 13 counties, each with their own enterprises (some of them
    visited before); returns their invite codes."""
    from storage import officers as officer_store
    from storage.creditcode import check_character
    from storage.db import make_async_engine, make_session_factory
    from storage.enums import Role
    from storage.models import Assignment, Enterprise, Visit
    from storage.pinyin import initials
    from storage.uow import unit_of_work

    now = datetime.now(UTC)
    randomness = random.Random(6)
    engine = make_async_engine(url)
    codes = []
    try:
        async with unit_of_work(make_session_factory(engine)) as uow:
            session = uow.session
            for i in range(officers):
                county = COUNTIES[i % len(COUNTIES)]
                invite = await officer_store.create_invite(session, role=Role.OFFICER, name=f"联络员{i + 1:03d}",
                                                           region=f"宜昌市/{county}", now=now)
                codes.append(invite.code)
                companies = []
                for j in range(ENTERPRISES_PER_OFFICER):
                    name = f"{county[:2]}{'楚韵华新长江三峡清江'[j * 2: j * 2 + 2]}第{i + 1}号有限公司"
                    first17 = f"914205{i:06d}{j:05d}"
                    companies.append(Enterprise(name=name, name_initials=initials(name),
                                                credit_code=first17 + check_character(first17),
                                                region=f"宜昌市/{county}/城区街道", employees=50 + j, party_members=j))
                session.add_all(companies)
                await session.flush()
                for company in companies:
                    session.add(Assignment(enterprise_id=company.id, officer_id=invite.user_id,
                                           started_on=today - timedelta(days=400)))
                    for _ in range(randomness.randint(0, 4)):
                        session.add(Visit(enterprise_id=company.id, officer_id=invite.user_id,
                                          visit_date=today - timedelta(days=randomness.randint(1, 90)),
                                          activities=["policy"], summary="上次走访"))
            await uow.commit()
    finally:
        await engine.dispose()
    return codes


async def saved_visits(url: str) -> dict[int, int]:
    """Visits the benchmark filed, per officer's Telegram id."""
    from sqlalchemy import func, select

    from storage.db import make_async_engine
    from storage.models import User, Visit

    engine = make_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(User.telegram_user_id, func.count(Visit.id)).join(Visit, Visit.officer_id == User.id)
                .where(Visit.summary == SUMMARY).group_by(User.telegram_user_id)
            )
            return {int(tid): int(n) for tid, n in rows}
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- the simulated users


class Replies:
    """Resolves a user's waiting step when the bot's reply to their chat arrives."""

    def __init__(self, emulator: BotApiEmulator, methods: frozenset[str]) -> None:
        self.emulator = emulator
        self.methods = methods
        self._waiting: dict[int, asyncio.Future[ApiCall]] = {}
        self.unexpected: list[ApiCall] = []
        emulator.call_listeners.append(self._on_call)

    def _on_call(self, call: ApiCall) -> None:
        if call.method not in self.methods or call.chat_id is None:
            return
        future = self._waiting.pop(int(call.chat_id), None)
        if future is not None and not future.done():
            future.set_result(call)

    async def step(self, chat: UserChat, action: Callable[[], int]) -> tuple[float, ApiCall]:
        """Does the user's action; returns the latency in seconds and the bot's reply."""
        future: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        self._waiting[chat.id] = future
        queued = time.time()
        action()
        try:
            call = await asyncio.wait_for(future, STEP_TIMEOUT)
        except TimeoutError:
            self._waiting.pop(chat.id, None)
            recent = [f"{c.method}({'ok' if c.ok else c.description})" for c in self.emulator.calls[-6:]]
            raise RuntimeError(f"no reply to chat {chat.id} within {STEP_TIMEOUT}s; last calls: {recent}") from None
        if not call.ok:
            raise RuntimeError(f"the reply to chat {chat.id} was refused: {call.method} {call.description}")
        return call.time - queued, call


def _first_button_data(chat: UserChat) -> str:
    message = chat.last_message or {}
    return str(message["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


def _text(call: ApiCall) -> str:
    result = call.result if isinstance(call.result, dict) else {}
    return str(result.get("text", ""))


Record = Callable[[str, float], None]  # a step's name and latency (seconds)
STEP_NAMES = ("/visit", "enterprise", "今天", "activity", "下一步", "没有变化", "summary", "跳过", "跳过 ", "提交")


async def file_visit(replies: Replies, chat: UserChat, record: Record, think: float) -> None:
    """One complete visit report, step by step, as in tests/conversations/test_visit.py."""
    steps: list[tuple[Callable[[], int], str]] = [
        (lambda: chat.send_text("/visit"), "走访哪家企业"),
        (lambda: chat.tap(data=_first_button_data(chat)), "走访日期"),
        (lambda: chat.tap("今天"), "哪些工作"),
        (lambda: chat.tap("宣传政策"), "哪些工作"),
        (lambda: chat.tap("下一步"), "人数"),
        (lambda: chat.tap("没有变化"), "走访情况"),
        (lambda: chat.send_text(SUMMARY), "跟进"),
        (lambda: chat.tap("跳过"), ""),
        (lambda: chat.tap("跳过"), "请确认"),
        (lambda: chat.tap("提交"), "已保存"),
    ]
    for name, (action, expected) in zip(STEP_NAMES, steps, strict=True):
        if think:
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
        latency, call = await replies.step(chat, action)
        if expected not in _text(call):
            raise RuntimeError(f"chat {chat.id}: expected a reply with {expected!r}, got {_text(call)!r}")
        record(name, latency)


async def echo_visit(replies: Replies, chat: UserChat, record: Record, think: float) -> None:
    """The same steps against the echo bot: two texts, eight button presses."""
    kinds = ("text", "button", "button", "button", "button", "button", "text", "button", "button", "button")
    for n, (name, kind) in enumerate(zip(STEP_NAMES, kinds, strict=True)):
        if think:
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
        if kind == "text":
            text = "/visit" if n == 0 else SUMMARY
            latency, _call = await replies.step(chat, functools.partial(chat.send_text, text))
        else:
            data = f"f:1:{n}:k{n}"
            latency, _call = await replies.step(chat, functools.partial(chat.forge_callback, data))
        record(name, latency)


def _ignore(_name: str, _latency: float) -> None:
    pass


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) in ms of latencies in seconds; NaN for none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


@dataclass
class Level:
    users: int
    visits: int
    steps: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)
    bot_cpu: float = math.nan
    harness_cpu: float = math.nan
    db_cpu: float = math.nan
    calls: int = 0
    database: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, latency: float) -> None:
        self.latencies.append(latency)
        self.by_step.setdefault(name, []).append(latency)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)

    def per_step_ms(self, seconds: float) -> float:
        return seconds / self.steps * 1000 if self.steps else math.nan


async def run_level(
    replies: Replies, chats: Sequence[UserChat], visits: int, think: float, child: Child,
    visit: Callable[[Replies, UserChat, Record, float], Any], done: dict[int, int] | None = None,
    database: str | None = None,
) -> Level:
    level = Level(len(chats), visits)
    calls_before = len(replies.emulator.calls)
    counted = await child.counters() if child.kind == "bot" else {}
    cpu_bot, cpu_self = child.cpu_seconds(), time.process_time()
    cpu_db = _postgres_cpu(database) if database else math.nan
    began = time.perf_counter()

    async def officer(chat: UserChat) -> None:
        for _ in range(visits):
            await visit(replies, chat, level.record, think)
            if done is not None:
                done[chat.id] = done.get(chat.id, 0) + 1

    await asyncio.gather(*(officer(chat) for chat in chats))
    level.seconds = time.perf_counter() - began
    level.steps = len(level.latencies)
    level.bot_cpu = child.cpu_seconds() - cpu_bot
    level.harness_cpu = time.process_time() - cpu_self
    if database:
        level.db_cpu = _postgres_cpu(database) - cpu_db
    level.calls = len(replies.emulator.calls) - calls_before
    if counted:
        level.database = {k: v - counted[k] for k, v in (await child.counters()).items()}
    return level


# ---------------------------------------------------------------- the run


@dataclass
class Row:
    backend: str
    bot: Level
    echo: Level


async def warm_up_echo(replies: Replies, chats: Sequence[UserChat]) -> None:
    await asyncio.gather(*(replies.step(chat, functools.partial(chat.send_text, "/start")) for chat in chats))
    await echo_visit(replies, chats[0], _ignore, 0.0)


async def warm_up_bot(replies: Replies, chats: Sequence[UserChat], codes: Sequence[str], done: dict[int, int]) -> None:
    async def join(chat: UserChat, code: str) -> None:
        _latency, call = await replies.step(chat, lambda: chat.send_text(f"/start {code}"))
        if "联络员" not in _text(call):
            raise RuntimeError(f"chat {chat.id} could not join: {_text(call)!r}")

    await asyncio.gather(*(join(chat, code) for chat, code in zip(chats, codes, strict=True)))
    await file_visit(replies, chats[0], _ignore, 0.0)
    done[chats[0].id] = done.get(chats[0].id, 0) + 1


def visits_for(users: int, fixed: int | None) -> int:
    """Fixed by --visits, or about 1,000 steps per level (at least two visits per officer)."""
    return fixed if fixed is not None else max(2, math.ceil(100 / users))


async def run_backend(
    backend: str, levels: Sequence[int], fixed_visits: int | None, think: float, echo: tuple[Replies, Child, list[UserChat]],
    log_dir: Path, out: Callable[[str], None], profile: Path | None = None,
) -> tuple[list[Row], str]:
    echo_replies, echo_child, echo_chats = echo
    rows: list[Row] = []
    with scratch_database(backend, "throughput") as url:
        codes = await seed(url, max(levels), datetime.now(UTC).date())
        database = url.rsplit("/", 1)[1] if backend == "postgresql" else None
        async with BotApiEmulator() as emulator:
            child = Child("bot", emulator, log_dir, url)
            try:
                await child.ready()
                replies = Replies(emulator, frozenset({"sendMessage", "editMessageText"}))
                chats = [emulator.user(OFFICER_IDS + i, f"员{i + 1}", last_name="联络") for i in range(max(levels))]
                done: dict[int, int] = {}
                await warm_up_bot(replies, chats, codes, done)
                for users in levels:
                    visits = visits_for(users, fixed_visits)
                    out(f"  {backend}: {users} at once, {visits} visits each …")
                    echo_level = await run_level(echo_replies, echo_chats[:users], visits, think, echo_child, echo_visit)
                    with profiled(child, profile, f"{backend}-{users}"):
                        bot_level = await run_level(replies, chats[:users], visits, think, child, file_visit, done,
                                                    database)
                    rows.append(Row(backend, bot_level, echo_level))
                if emulator.violations:
                    raise RuntimeError(f"the bot broke Bot API rules: {[str(v) for v in emulator.violations[:3]]}")
            except BaseException:
                out(f"bot log ({child.log_path}):\n{child.log_tail()}")
                raise
            finally:
                await child.stop()
        saved = await saved_visits(url)
    filed = sum(done.values())
    missing = {tid: n - saved.get(tid, 0) for tid, n in done.items() if saved.get(tid, 0) != n}
    check = f"{backend}: visits saved {sum(saved.values())} of {filed} filed" + (
        f" — MISMATCH for officers {sorted(missing)[:5]}" if missing else ""
    )
    return rows, check


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def step_report(rows: Sequence[Row]) -> str:
    """p50/p99 of each step of the visit (the bot; the echo bot in brackets)."""
    header = ["backend", "officers", *(name.strip() for name in STEP_NAMES)]
    table = [[row.backend, row.bot.users, *(
        f"{percentile(row.bot.by_step.get(name, []), 50):.0f}/{percentile(row.bot.by_step.get(name, []), 99):.0f}"
        f" ({percentile(row.echo.by_step.get(name, []), 50):.0f})" for name in STEP_NAMES)] for row in rows]
    return "Step by step, bot p50/p99 ms (echo p50):\n" + format_table(header, table)


def report(rows: Sequence[Row], think: float) -> str:
    header = ["backend", "officers", "steps", "bot steps/s", "echo steps/s", f"ratio (≥{TARGET_RATIO})",
              "bot p50 ms", f"bot p99 ms (<{TARGET_P99_MS:.0f} @{TARGET_AT})", "echo p50", "echo p99",
              "CPU ms/step bot/echo", "db CPU ms/step", "harness CPU ms/step (bot/echo)", "calls/step (bot/echo)"]
    table = []
    for row in rows:
        bot, echo = row.bot, row.echo
        ratio = bot.rate / echo.rate if echo.rate else math.nan
        p99 = bot.percentile(99)
        p99_note = ""
        if bot.users == TARGET_AT:
            p99_note = " ok" if p99 < TARGET_P99_MS else " MISS"
        table.append([
            row.backend, bot.users, bot.steps, f"{bot.rate:.0f}", f"{echo.rate:.0f}",
            f"{ratio:.2f}" + (" ok" if ratio >= TARGET_RATIO else " MISS"),
            _ms(bot.percentile(50)), _ms(p99) + p99_note, _ms(echo.percentile(50)), _ms(echo.percentile(99)),
            f"{_ms(bot.per_step_ms(bot.bot_cpu))}/{_ms(echo.per_step_ms(echo.bot_cpu))}", _ms(bot.per_step_ms(bot.db_cpu)),
            f"{_ms(bot.per_step_ms(bot.harness_cpu))}/{_ms(echo.per_step_ms(echo.harness_cpu))}",
            f"{bot.calls / bot.steps:.1f}/{echo.calls / echo.steps:.1f}" if bot.steps and echo.steps else "-",
        ])
    title = "closed loop, no think time" if not think else f"think time {think * 1000:.0f} ms (±50 %) between steps"
    work = [[row.backend, row.bot.users, *(f"{row.bot.database.get(k, 0) / row.bot.steps:.2f}" for k in COUNTED)]
            for row in rows if row.bot.steps]
    return (f"Visit-report steps, {title}:\n" + format_table(header, table)
            + "\n\nThe bot's database work per step:\n" + format_table(["backend", "officers", *COUNTED], work))


async def main_async(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    levels = sorted(set(args.officers))
    backends = list(dict.fromkeys(args.backend))
    if "postgresql" in backends and not pg_server_available():
        out("PostgreSQL is not running on 127.0.0.1:5432: skipped.")
        backends.remove("postgresql")
    for line in machine_lines():
        out(line)
    out(f"echo bot's HTTP client: {args.echo_client}")
    out(f"levels: {levels} officers at once; visits per officer: "
        f"{', '.join(str(visits_for(n, args.visits)) for n in levels)}; {STEPS_PER_VISIT} steps per visit")
    rows: list[Row] = []
    checks: list[str] = []
    with _log_directory(args.keep_logs) as log_dir, contextlib.ExitStack():
        async with BotApiEmulator() as echo_emulator:
            echo_child = Child("echo", echo_emulator, log_dir, echo_client=args.echo_client)
            try:
                await echo_child.ready()
                echo_replies = Replies(echo_emulator, frozenset({"sendMessage", "answerCallbackQuery"}))
                echo_chats = [echo_emulator.user(ECHO_IDS + i, f"回声{i + 1}") for i in range(max(levels))]
                await warm_up_echo(echo_replies, echo_chats)
                for backend in backends:
                    backend_rows, check = await run_backend(
                        backend, levels, args.visits, args.think / 1000, (echo_replies, echo_child, echo_chats),
                        log_dir, out, args.profile)
                    rows += backend_rows
                    checks.append(check)
            finally:
                await echo_child.stop()
    out(report(rows, args.think / 1000))
    if args.by_step:
        out("")
        out(step_report(rows))
    for check in checks:
        out(check)
    return 1 if any("MISMATCH" in check for check in checks) else 0


@contextlib.contextmanager
def _log_directory(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="bench_throughput_logs_"))
        print(f"bot logs in {path}", flush=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bench_throughput_logs_") as directory:
        yield Path(directory)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--officers", type=int, nargs="+", default=[1, 10, 50], help="officers at once (default 1 10 50)")
    p.add_argument("--backend", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    p.add_argument("--visits", type=int, default=None,
                   help="visits per officer and level (default: about 1,000 steps per level, at least 2)")
    p.add_argument("--think", type=float, default=0.0, metavar="MS",
                   help="pause between a reply and the next step, in ms (±50 %%; default 0: closed loop)")
    p.add_argument("--by-step", action="store_true", help="also print p50/p99 of each of the ten steps")
    p.add_argument("--tiny", action="store_true", help="smoke run: 1 and 2 officers, 1 visit each, SQLite only")
    p.add_argument("--keep-logs", action="store_true", help="keep the bots' logs (their directory is printed)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="sample the bot process with py-spy during each level (pip install py-spy); "
                        "collapsed stacks go to DIR/<backend>-<officers>.txt")
    p.add_argument("--echo-client", choices=["httpx", "aiohttp"], default="httpx",
                   help="the echo bot's HTTP client: PTB's default (httpx: the bare baseline) or the bot's own "
                        "aiohttp client (bot.transport), to compare with the same client on both sides")
    p.add_argument("--serve", choices=["bot", "echo"], help=argparse.SUPPRESS)  # a child process
    p.add_argument("--api", help=argparse.SUPPRESS)
    p.add_argument("--database", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve == "bot":
        serve_bot(args.api, args.database)
        return 0
    if args.serve == "echo":
        serve_echo(args.api, args.echo_client)
        return 0
    if args.tiny:
        args.officers, args.visits, args.backend = [1, 2], 1, ["sqlite"]
    if min(args.officers) < 1 or (args.visits is not None and args.visits < 1):
        parser().error("--officers and --visits must be at least 1")
    logging.basicConfig(level=logging.WARNING)

    def out(text: str) -> None:
        print(text, flush=True)

    return asyncio.run(main_async(args, out))


if __name__ == "__main__":
    sys.exit(main())
