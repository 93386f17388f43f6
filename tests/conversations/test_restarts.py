"""The bot and its jobs killed with SIGKILL at any point, then restarted: nothing lost, nothing doubled.

Real processes, really killed. To afford dozens of restarts, processes come from a fork server
(`tests.forkserver`) that imported the bot once: each child runs `python -m bot run` (or a job of
the scheduler, `tests.crashpoints`) as a new process, and the kernel cleans up after its SIGKILL
as after any other (sockets, the SQLite instance lock, the unfinished transaction). One test
starts a plain `python -m bot run` after such a kill.

- A conversation: a visit report killed at every step, (a) after the step's commit while its
  reply is held in the emulator, (b) after the bot took the update, before anything of it could
  commit (the test holds SQLite's write lock), (c) after the reply. Telegram hands the update out
  again; the restarted bot applies it once, and the officer ends with exactly one visit, with
  what she entered.
- The reminder sweep and the weekly digests killed before statements, before their commit and
  after it: the outbox ends with every expected key once; the bot itself killed while queueing
  its weekly digest still sends it, once, after the restart.
- The outbox drain killed mid-way (before statements, with a send in flight): after the lease
  runs out everything is delivered, and only the message in flight at a kill arrives twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import scheduler
from bot.config import Settings
from bot.emulator import ApiCall, BotApiEmulator, UserChat
from output.reminders import render_reminders
from storage import officers, outbox, schedule
from storage.clock import SystemClock, local_today
from storage.creditcode import check_character
from storage.db import make_async_engine, make_session_factory
from storage.digests import week_of
from storage.enums import Role
from storage.models import (
    Assignment,
    AuditEntry,
    Draft,
    Enterprise,
    Invite,
    OutboxMessage,
    ProcessedUpdate,
    User,
    Visit,
)
from storage.pinyin import initials
from storage.sweep import iso_week
from storage.uow import unit_of_work
from tests.conftest import digest_cron_far_from_now
from tests.forkserver import Child, ForkServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "4242:RESTART-test-token"
TZ = ZoneInfo("Asia/Shanghai")
# The jobs' clock: Wednesday 2026-11-25 10:00 in Shanghai (outside quiet hours).
JOB_NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
REPLIES = ("sendMessage", "editMessageText", "answerCallbackQuery")
LEASE = timedelta(minutes=10)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL", "BOT_"))}
    # The bot's scheduler runs on the real clock: its weekly digest must not come into the test.
    env["DIGEST_CRON"] = digest_cron_far_from_now(extra.get("BOT_TIMEZONE", "Asia/Shanghai"))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    server = ForkServer(["bot.cli", "bot.scheduler", "bot.sender"], cwd=tmp_path_factory.mktemp("forks"),
                        env=_env(PYTHONPATH=str(ROOT)))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def forks(fork_server: ForkServer) -> Iterator[ForkServer]:
    """The fork server, with no process of this test left running after it."""
    try:
        yield fork_server
    finally:
        fork_server.reap()


@pytest.fixture
async def factory(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(sqlite_url)
    yield make_session_factory(engine)
    await engine.dispose()


def _path(database_url: str) -> str:
    database = make_url(database_url).database
    assert database
    return database


def _enterprise(name: str, region: str, number: int) -> Enterprise:
    code = f"91420583MA4F{number:05d}"
    return Enterprise(name=name, name_initials=initials(name), credit_code=code + check_character(code),
                      region=region)


# ---------------------------------------------------------------- the conversation


@dataclass(frozen=True)
class Step:
    kind: str  # "say" or "tap"
    arg: str
    answer: str  # in the bot's reply to this step (the question that comes next)


def _steps(code: str) -> list[Step]:
    return [
        Step("say", f"/start {code}", "同志，您好"),
        Step("say", "/visit", "走访哪家企业"),
        Step("tap", "枝江市楚韵纺织有限公司", "走访日期"),
        Step("tap", "今天", "哪些工作"),
        Step("tap", "宣传政策", "哪些工作"),  # ticks the activity; the same question, redrawn
        Step("tap", "下一步", "人数"),
        Step("tap", "没有变化", "走访情况"),
        Step("say", "与董事长交流了用工难问题", "跟进"),
        Step("tap", "跳过", "照片、语音或定位"),
        Step("tap", "跳过", "请确认"),
        Step("tap", "提交", "已保存"),
    ]


@dataclass
class Conversation:
    """王芳 and the bot process she talks to, restarted as often as the test kills it."""

    forks: ForkServer
    emu: BotApiEmulator
    database_url: str
    workdir: Path
    chat: UserChat
    child: Child | None = None

    async def start(self, *, ready: bool = False) -> None:
        """A new `python -m bot run`; with `ready`, returns once it is up (it clears webhooks
        right before polling, after its startup's writes)."""
        since = len(self.emu.calls)
        self.child = await self.forks.spawn(
            "bot", ["run"], cwd=self.workdir, log=self.workdir / "bot.log",
            env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": self.emu.base_url,
                 "DATABASE_URL": self.database_url, "LOG_FORMAT": "text"},
        )
        if ready:
            await self.emu.wait_for_call(lambda c: c.method == "deleteWebhook", timeout=30, start=since)

    async def kill(self) -> None:
        assert self.child is not None
        self.child.kill()
        assert await self.child.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        assert self.child is not None
        self.child.kill(signal.SIGINT)
        assert await self.child.wait() == 0, self.child.log_tail()

    def act(self, step: Step) -> int:
        return self.chat.send_text(step.arg) if step.kind == "say" else self.chat.tap(step.arg)

    def replies(self, since: int) -> list[ApiCall]:
        return [c for c in self.emu.calls[since:]
                if c.ok and c.method in REPLIES and str(c.chat_id) == str(self.chat.id)]

    async def answer(self, since: int) -> str:
        """The text of the bot's next message or edit in the chat, sent since call #`since`."""
        call = await self.emu.wait_for_call(
            lambda c: c.ok and c.method in ("sendMessage", "editMessageText") and str(c.chat_id) == str(self.chat.id),
            timeout=30, start=since)
        return str(call.result["text"])

    async def say(self, text: str) -> str:
        since = len(self.emu.calls)
        self.chat.send_text(text)
        return await self.answer(since)

    async def tap(self, label: str) -> str:
        since = len(self.emu.calls)
        self.chat.tap(label)
        return await self.answer(since)


async def _visit_world(factory: async_sessionmaker[AsyncSession]) -> tuple[str, int]:
    """王芳's invite (not yet redeemed) and the enterprise she is to visit, overdue."""
    today = local_today(SystemClock(), TZ)
    async with unit_of_work(factory) as uow:
        s = uow.session
        invite = await officers.create_invite(s, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市",
                                              now=datetime.now(UTC))
        chuyun = _enterprise("枝江市楚韵纺织有限公司", "宜昌市/枝江市/马家店街道", 1)
        s.add(chuyun)
        await s.flush()
        s.add(Assignment(enterprise_id=chuyun.id, officer_id=invite.user_id, started_on=today - timedelta(days=300)))
        await uow.commit()
        return invite.code, chuyun.id


async def _state(factory: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """What a step changes: the officer's binding, her draft, the visits and their audit."""
    async with factory() as session:
        draft = await session.scalar(select(Draft))
        return {
            "joined": (await session.execute(select(User.telegram_user_id, User.chat_id)
                                             .where(User.name == "王芳"))).one()._tuple(),
            "invite_used": (await session.scalar(select(Invite.used_at))) is not None,
            "draft": (draft.form, draft.step, draft.seq, draft.mode, draft.answers) if draft else None,
            "visits": await session.scalar(select(func.count()).select_from(Visit)),
            "audited_visits": await session.scalar(select(func.count()).select_from(AuditEntry)
                                                   .where(AuditEntry.entity == "visit")),
        }


async def _handled(factory: async_sessionmaker[AsyncSession], update_id: int) -> bool:
    async with factory() as session:
        return await session.get(ProcessedUpdate, update_id) is not None


async def _saved_exactly_once(factory: async_sessionmaker[AsyncSession], enterprise_id: int) -> None:
    async with factory() as session:
        [visit] = (await session.scalars(select(Visit))).all()
        assert (visit.enterprise_id, visit.visit_date, visit.activities, visit.summary, visit.follow_up) == (
            enterprise_id, local_today(SystemClock(), TZ), ["policy"], "与董事长交流了用工难问题", None)
        assert await session.scalar(select(Draft)) is None
        assert await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "visit", AuditEntry.action == "create")) == 1


async def _conversation(forks: ForkServer, emu: BotApiEmulator, sqlite_url: str, tmp_path: Path, *,
                        ready: bool = False) -> Conversation:
    talk = Conversation(forks, emu, sqlite_url, tmp_path, emu.user(501, "芳", last_name="王"))
    await talk.start(ready=ready)
    return talk


async def test_killed_after_each_steps_commit_before_its_reply(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """(a) Every step's change is committed, its reply held in the emulator: kill. The reply never
    comes; Telegram redelivers the update, which the new process recognises and skips (no second
    change, no second answer); the officer asks for her form again and is at the next question."""
    code, chuyun = await _visit_world(factory)
    steps = _steps(code)
    async with BotApiEmulator(token=TOKEN) as emu:
        talk = await _conversation(forks, emu, sqlite_url, tmp_path)
        for number, step in enumerate(steps):
            where = f"step {number} ({step.arg})"
            hold = emu.hold_next("answerCallbackQuery" if step.kind == "tap" else "sendMessage")
            update_id = talk.act(step)
            await hold.wait(timeout=30)
            assert await _handled(factory, update_id), where  # committed, with the record of it
            at_kill = await _state(factory)
            await talk.kill()
            hold.drop()  # Telegram never got the reply
            emu.redeliver(update_id)
            since = len(emu.calls)
            await talk.start()
            open_form = at_kill["draft"] is not None
            if open_form:
                # The redelivered update is not applied again; since its reply may be lost, she is
                # told her input was kept, with the button to the current question.
                assert "已经保存" in await talk.answer(since), where
            # /help changes nothing and is handled after the redelivered update (same chat, in order).
            assert "可以用的命令" in await talk.say("/help"), where
            assert [c.method for c in talk.replies(since)] == ["sendMessage"] * (2 if open_form else 1), where
            assert await _state(factory) == at_kill, where
            if number in (0, len(steps) - 1):
                assert not open_form, where
                continue  # nothing to resume: she has joined / the visit is saved
            assert step.answer in await talk.tap("继续填写"), where
        await talk.stop()
    await _saved_exactly_once(factory, chuyun)
    assert emu.violations == []


async def test_killed_after_taking_each_update_before_anything_commits(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """(b) The bot took the update (confirmed it with its next getUpdates) while the test holds
    SQLite's write lock, so nothing of it can commit: kill. Telegram hands it out again and the new
    process applies it once: the reply is the next question, and the visit is saved once."""
    code, chuyun = await _visit_world(factory)
    async with BotApiEmulator(token=TOKEN) as emu:
        talk = await _conversation(forks, emu, sqlite_url, tmp_path, ready=True)
        for number, step in enumerate(_steps(code)):
            where = f"step {number} ({step.arg})"
            before = await _state(factory)
            writer = sqlite3.connect(_path(sqlite_url), timeout=15, isolation_level=None)
            try:
                writer.execute("BEGIN IMMEDIATE")
                update_id = talk.act(step)
                await emu.wait_confirmed(update_id, timeout=30)
                await talk.kill()
            finally:
                writer.rollback()
                writer.close()
            assert not await _handled(factory, update_id), where
            assert await _state(factory) == before, where
            emu.redeliver(update_id)
            since = len(emu.calls)
            await talk.start(ready=True)  # up before the next step takes the write lock
            assert step.answer in await talk.answer(since), where
        async with factory() as session:
            handled = set((await session.scalars(select(ProcessedUpdate.update_id))).all())
        await talk.stop()
    await _saved_exactly_once(factory, chuyun)
    assert len(handled) == len(_steps(code))
    assert emu.violations == []


async def test_python_m_bot_run_started_after_a_kill_that_followed_a_reply(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """(c) Killed right after answering updates it never confirmed, so Telegram sends them again:
    a plain `python -m bot run` (not from the fork server) gets the SQLite instance lock the killed
    process held, answers none of them a second time, and the officer finishes her visit on the
    message she has."""
    code, chuyun = await _visit_world(factory)
    steps = _steps(code)
    async with BotApiEmulator(token=TOKEN) as emu:
        talk = await _conversation(forks, emu, sqlite_url, tmp_path)
        ids = []
        for step in steps[:4]:
            since = len(emu.calls)
            ids.append(talk.act(step))
            assert step.answer in await talk.answer(since)
        await talk.kill()
        emu.redeliver(*ids[-3:])
        since = len(emu.calls)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=_env(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=emu.base_url,
                     DATABASE_URL=sqlite_url))
        try:
            # Three updates come again, none is applied again; one notice says her input was kept.
            assert "已经保存" in await talk.answer(since)
            assert "可以用的命令" in await talk.say("/help")
            assert [c.method for c in talk.replies(since)] == ["sendMessage", "sendMessage"]
            for step in steps[4:]:
                assert step.answer in await (talk.say(step.arg) if step.kind == "say" else talk.tap(step.arg))
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, stderr.decode()[-2000:]
    await _saved_exactly_once(factory, chuyun)
    assert emu.violations == []


# ---------------------------------------------------------------- the scheduler's jobs


async def _job(forks: ForkServer, job: str, database_url: str, workdir: Path, *, stop: str | None = None,
               api: str = "http://127.0.0.1:9/bot") -> dict[str, Any]:
    """Runs a job in a new process: killed at `stop` (the paused point is returned) or to its end."""
    argv = [job, "--now", JOB_NOW.isoformat(), *(["--stop", stop] if stop else [])]
    child = await forks.spawn("tests.crashpoints", argv, cwd=workdir, log=workdir / f"{job}.log",
                              env={"DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": TOKEN,
                                   "TELEGRAM_API_BASE_URL": api})
    message = await child.event(timeout=60)
    if stop is None:
        assert message["event"] == "done", (message, child.log_tail())
        assert await child.wait() == 0, child.log_tail()
        return message
    assert message["event"] == "paused", (stop, message, child.log_tail())
    child.kill()
    assert await child.wait() == -signal.SIGKILL
    return message


def _copy(database_url: str, target: Path) -> str:
    """A consistent copy of the SQLite file (the backup API, so the WAL's content is in it)."""
    source, copy = sqlite3.connect(_path(database_url)), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return f"sqlite:///{target}"


async def _rows(factory: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with factory() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def _plan(points: list[str], seed: int, statements: int) -> list[int]:
    """Kill points of a one-transaction job: seeded random statements before its commit, the one
    after its first write (written, not committed: the commit's own point when the job writes
    with one statement), the commit itself (not made yet), and the end (after the commit).
    Points are numbered from 1, a statement's point comes before it runs."""
    assert points.count("COMMIT") == 1 and points[-1] == "end", points
    commit = points.index("COMMIT") + 1
    first_write = next(n for n, what in enumerate(points, 1) if what.startswith(("INSERT", "UPDATE")))
    assert first_write < commit
    chosen = set(random.Random(seed).sample(range(1, commit), statements)) | {first_write + 1}
    return [*sorted(chosen - {commit}), commit, len(points)]


async def _killed_anywhere(forks: ForkServer, job: str, sqlite_url: str, factory: async_sessionmaker[AsyncSession],
                           tmp_path: Path, expected: Counter[str], seed: int, statements: int) -> list[OutboxMessage]:
    """Kills `job` at the points of `_plan` (measured on a copy), then lets it finish; after every
    kill the outbox holds all of the job's rows or none of them."""
    reference = await _job(forks, job, _copy(sqlite_url, tmp_path / "reference.db"), tmp_path)
    plan = _plan(reference["points"], seed, statements)
    committed: list[OutboxMessage] = []
    for stop in plan:
        paused = await _job(forks, job, sqlite_url, tmp_path, stop=str(stop))
        rows = await _rows(factory)
        after_commit = stop > plan[-2]
        assert Counter(r.dedupe_key for r in rows) == (expected if after_commit else Counter()), paused
        committed = committed or rows
    await _job(forks, job, sqlite_url, tmp_path)
    rows = await _rows(factory)
    assert Counter(r.dedupe_key for r in rows) == expected
    # The run after the commit queued nothing again: the same rows, not new ones.
    assert [(r.id, r.dedupe_key, r.text) for r in rows] == [(r.id, r.dedupe_key, r.text) for r in committed]
    return rows


async def test_the_reminder_sweep_killed_anywhere_queues_each_reminder_once(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    today = JOB_NOW.astimezone(TZ).date()
    touched = JOB_NOW - timedelta(days=2)
    expected: Counter[str] = Counter()
    async with unit_of_work(factory) as uow:
        s = uow.session
        for n in range(30):
            officer = User(name=f"干部{n}", role=Role.OFFICER.value, region="宜昌市/枝江市",
                           telegram_user_id=9000 + n, chat_id=9000 + n)
            s.add(officer)
            await s.flush()
            for k in range(4):
                enterprise = _enterprise(f"枝江市企业{n}-{k}", "宜昌市/枝江市", 100 + 4 * n + k)
                s.add(enterprise)
                await s.flush()
                s.add(Assignment(enterprise_id=enterprise.id, officer_id=officer.id,
                                 started_on=today - timedelta(days=300)))
                expected[f"overdue_visit:enterprise:{enterprise.id}:officer:{officer.id}:{iso_week(today)}"] += 1
            draft = Draft(user_id=officer.id, form="visit", step="visit_date", answers={"enterprise": enterprise.id},
                          seq=3, created_at=touched, updated_at=touched)
            s.add(draft)
            await s.flush()
            expected[f"draft:{draft.id}:{touched.astimezone(TZ).date().isoformat()}"] += 1
        await uow.commit()

    rows = await _killed_anywhere(forks, "sweep", sqlite_url, factory, tmp_path, expected, seed=47, statements=4)
    assert len(rows) == 150
    # Each row is queued as its key alone, composed when sent: with buttons naming the row.
    assert all(r.text is None and r.status == "pending" for r in rows)
    async with factory() as session:
        composed = await render_reminders(session, rows, JOB_NOW, TZ)
    assert all((found := composed[r.id]) is not None and f"remind:later:{r.id}" in str(found[1]) for r in rows)


async def _digest_world(factory: async_sessionmaker[AsyncSession], emu: BotApiEmulator, today: date) -> Counter[str]:
    """Two supervisors and four officers who visited last week: the keys of last week's digests
    (three parts: text, chart, ledger) and summaries."""
    week = iso_week(week_of(today) - timedelta(days=7))
    expected: Counter[str] = Counter()
    async with unit_of_work(factory) as uow:
        s = uow.session
        for n, region in enumerate(("宜昌市/枝江市", "宜昌市/当阳市")):
            supervisor = User(name=f"督导{n}", role=Role.SUPERVISOR.value, region=region,
                              telegram_user_id=8000 + n, chat_id=8000 + n)
            s.add(supervisor)
            await s.flush()
            expected.update(f"digest:supervisor:{supervisor.id}:{week}:{part}" for part in range(3))
        for n in range(4):
            officer = User(name=f"干部{n}", role=Role.OFFICER.value, region="宜昌市/枝江市",
                           telegram_user_id=9000 + n, chat_id=9000 + n)
            enterprise = _enterprise(f"枝江市企业{n}", "宜昌市/枝江市/白洋镇", 200 + n)
            s.add_all([officer, enterprise])
            await s.flush()
            s.add_all([Assignment(enterprise_id=enterprise.id, officer_id=officer.id,
                                  started_on=today - timedelta(days=300)),
                       Visit(enterprise_id=enterprise.id, officer_id=officer.id, activities=["policy"],
                             visit_date=week_of(today) - timedelta(days=5 - n), summary="走访")])
            expected[f"summary:officer:{officer.id}:{week}"] += 1
        await uow.commit()
    for chat_id in (8000, 8001, 9000, 9001, 9002, 9003):
        emu.world.ensure_chat(emu.user(chat_id, "用户").user).known = True  # they have started the bot
    return expected


def _deliveries(emu: BotApiEmulator) -> Counter[tuple[Any, ...]]:
    """What reached Telegram, per chat: texts, and files by method and name."""
    def what(call: ApiCall) -> tuple[Any, ...]:
        if call.method == "sendMessage":
            return call.chat_id, call.params["text"]
        return call.chat_id, call.method, *(name for name, _ in call.files.values())

    return Counter(what(c) for c in emu.calls if c.ok and c.method in ("sendMessage", "sendPhoto", "sendDocument"))


def _queued(rows: list[OutboxMessage]) -> Counter[tuple[Any, ...]]:
    """The same for outbox rows (a digest's chart and ledger are rows of their own, without text)."""
    return Counter((r.chat_id, r.text) if r.text else
                   (r.chat_id, "sendPhoto" if r.attachments[0]["kind"] == "photo" else "sendDocument",
                    r.attachments[0]["filename"]) for r in rows)


async def test_weekly_digests_killed_while_queued_are_queued_and_sent_once(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with BotApiEmulator(token=TOKEN, rate_limit=True) as emu:
        expected = await _digest_world(factory, emu, JOB_NOW.astimezone(TZ).date())
        rows = await _killed_anywhere(forks, "digests", sqlite_url, factory, tmp_path, expected, seed=1125,
                                      statements=2)
        await _job(forks, "drain", sqlite_url, tmp_path, api=emu.base_url)
        assert _deliveries(emu) == _queued(rows) and len(_queued(rows)) == len(expected)
        assert emu.violations == []
    assert all(r.status == "sent" for r in await _rows(factory))


async def test_the_bot_killed_while_queueing_the_weekly_digest_queues_and_sends_it_after_the_restart(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """`python -m bot run`, its scheduler's digest time a minute ago: killed while the digest job
    queues (nothing committed), then right after the job committed (nothing sent yet), then left
    running: the digests are queued once and each arrives once. (Before the fix in
    `bot.scheduler.catch_up` no digest job ran at all after a restart: the week's were lost.)"""
    # The bot's own clock runs: a time zone where it is midday now keeps quiet hours away.
    offset = 12 - datetime.now(UTC).hour
    zone = f"Etc/GMT{-offset:+d}"  # (sic: Etc/GMT-8 is UTC+8)
    now = datetime.now(ZoneInfo(zone))
    due = now - timedelta(minutes=1)
    async with BotApiEmulator(token=TOKEN, rate_limit=True) as emu:
        expected = await _digest_world(factory, emu, now.date())
        # The bot has run on this database since before the digest fell due: a database new
        # since then would not make up a digest due before it existed.
        async with unit_of_work(factory) as uow:
            await schedule.first_started(uow.session, now=due - timedelta(hours=1))
            await uow.commit()
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url, "DATABASE_URL": sqlite_url,
               "LOG_FORMAT": "text", "BOT_TIMEZONE": zone, "DIGEST_CRON": f"{due:%a} {due:%H:%M}".lower()}
        # Before the digest job's first row; once it committed (it says so in the log).
        for stop, committed in (("1:INSERT INTO outbox", Counter()), ("1:LOG Weekly digests", expected)):
            child = await forks.spawn("tests.crashpoints", ["bot", "--stop", stop], env=env, cwd=tmp_path,
                                      log=tmp_path / "bot.log")
            paused = await child.event(timeout=20)
            assert paused["event"] == "paused", (stop, paused, child.log_tail())
            child.kill()
            assert await child.wait() == -signal.SIGKILL
            assert Counter(r.dedupe_key for r in await _rows(factory)) == committed, stop
        child = await forks.spawn("bot", ["run"], env=env, cwd=tmp_path, log=tmp_path / "bot.log")
        rows = await _rows(factory)
        while sum(_deliveries(emu).values()) < len(expected):
            await emu.wait_for_call(lambda c: c.ok and c.method.startswith("send"), start=len(emu.calls), timeout=30)
        child.kill(signal.SIGINT)
        assert await child.wait() == 0, child.log_tail()
        assert _deliveries(emu) == _queued(rows)
        assert emu.violations == []
    rows = await _rows(factory)
    assert Counter(r.dedupe_key for r in rows) == expected and all(r.status == "sent" for r in rows)


async def test_an_outbox_drain_killed_mid_way_sends_everything_and_only_a_message_in_flight_twice(
    forks: ForkServer, sqlite_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """60 messages to 20 chats, Telegram's flood control on. The sender is killed before a
    statement (seeded), after Telegram accepted a message but before it was marked sent, before a
    commit, and while a send is in flight (Telegram then never gets it, or performs it and the
    answer is lost). Each time the rows the dead sender claimed wait for their lease (a new sender
    leaves them alone), then go again. In the end every message arrived; a message arrived twice
    exactly when Telegram had it while its row was still `sending` at a kill — at most one a kill."""
    rng = random.Random(2026)
    async with BotApiEmulator(token=TOKEN, rate_limit=True) as emu:
        async with unit_of_work(factory) as uow:
            for n in range(20):
                emu.user(7000 + n, f"用户{n}").send_text("/start")
                for k in range(3):
                    await outbox.enqueue(uow.session, dedupe_key=f"notice:{n}:{k}", chat_id=7000 + n, user_id=None,
                                         kind="notice", text=f"通知 {n}-{k}", not_before=JOB_NOW)
            await uow.commit()

        def deliveries() -> Counter[tuple[int, str]]:
            return Counter((int(c.chat_id or 0), str(c.params["text"])) for c in emu.calls_to("sendMessage") if c.ok)

        twice: list[set[tuple[int, str]]] = []

        async def in_flight() -> set[tuple[int, str]]:
            """Rows the killed sender leaves `sending` that Telegram has (and had not before an
            earlier kill, whose row may still wait for its lease): these will arrive twice."""
            sending = {(r.chat_id, r.text) for r in await _rows(factory) if r.status == "sending"}
            return {row for row in sending if deliveries()[row]} - set().union(*twice)

        async def lease_runs_out() -> None:
            async with unit_of_work(factory) as uow:
                await uow.session.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                                          .values(claimed_at=JOB_NOW - LEASE - timedelta(seconds=1)))
                await uow.commit()

        async def kill_in_flight(then: str) -> None:
            hold = emu.hold_next("sendMessage")
            since = len(emu.calls)
            child = await forks.spawn("tests.crashpoints", ["drain", "--now", JOB_NOW.isoformat()], cwd=tmp_path,
                                      log=tmp_path / "drain.log", env={"DATABASE_URL": sqlite_url,
                                                                       "TELEGRAM_BOT_TOKEN": TOKEN,
                                                                       "TELEGRAM_API_BASE_URL": emu.base_url})
            params = await hold.wait(timeout=30)
            child.kill()
            assert await child.wait() == -signal.SIGKILL
            if then == "drop":
                hold.drop()
                return
            hold.release()  # Telegram performs it; the answer goes nowhere
            await emu.wait_for_call(lambda c: c.ok and c.params.get("text") == params["text"], start=since)

        async def drain(stop: str) -> None:
            await _job(forks, "drain", sqlite_url, tmp_path, stop=stop, api=emu.base_url)

        # Telegram accepted message k, its row is not marked sent yet: the one message in flight.
        await drain(f"{rng.randint(3, 15)}:sent_at=?")
        twice.append(await in_flight())
        assert len(twice[-1]) == 1
        # Before the lease runs out, a new sender sends none of the rows the dead one claimed.
        before = deliveries()
        await _job(forks, "drain", sqlite_url, tmp_path, api=emu.base_url)
        assert deliveries() == before
        await lease_runs_out()
        remaining = sum(1 for r in await _rows(factory) if r.status != "sent")
        await drain(str(rng.randint(4, 2 * remaining)))  # any statement
        twice.append(await in_flight())
        await lease_runs_out()
        await drain(f"{rng.randint(2, 8)}:COMMIT")
        twice.append(await in_flight())
        await lease_runs_out()
        await kill_in_flight("drop")
        twice.append(await in_flight())
        assert twice[-1] == set()  # Telegram never got it: it will arrive once, later
        await lease_runs_out()
        await kill_in_flight("release")
        twice.append(await in_flight())
        assert len(twice[-1]) == 1  # Telegram has it, the row says `sending`
        await lease_runs_out()
        await _job(forks, "drain", sqlite_url, tmp_path, api=emu.base_url)

        assert all(len(kill) <= 1 for kill in twice), twice
        duplicated = set().union(*twice)
        assert deliveries() == Counter({(r.chat_id, r.text): 2 if (r.chat_id, r.text) in duplicated else 1
                                        for r in await _rows(factory)})
        assert len(deliveries()) == 60 and all(r.status == "sent" for r in await _rows(factory))
        assert emu.violations == []


async def test_a_report_due_within_its_grace_is_made_up_at_start_and_only_then(tmp_path: Path) -> None:
    """What the fix to the lost digest does, without processes: at start, a report job whose last
    fire time is within its grace runs now; one further back, or not yet due, keeps its plan."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    planned = scheduler.build_scheduler(settings)
    planned.start(paused=True)
    try:
        monday = datetime(2026, 11, 30, 8, 30, tzinfo=TZ)  # DIGEST_CRON's default: mon 08:30
        assert scheduler.catch_up(planned, monday - timedelta(minutes=1)) == []
        assert scheduler.catch_up(planned, monday + timedelta(hours=11)) == ["weekly_digest"]
        assert planned.get_job("weekly_digest").next_run_time == monday + timedelta(hours=11)
        assert scheduler.catch_up(planned, monday + timedelta(hours=13)) == []
        # The quarterly and year-end reports fire on days 1-7 of January at 09:00 and 09:30.
        saturday = datetime(2027, 1, 2, 10, 0, tzinfo=TZ)
        assert scheduler.catch_up(planned, saturday) == ["quarterly_report", "year_end_report"]
        assert planned.get_job("year_end_report").next_run_time == saturday + timedelta(seconds=1)
    finally:
        planned.shutdown(wait=False)
