"""Two bot processes in webhook mode on one PostgreSQL, behind a proxy — for real.

The emulator (Telegram) posts every update to the proxy, which hands them round-robin to two
`python -m bot run --webhook` processes. The test checks what several instances promise:
a conversation moves between instances mid-way and ends in one saved visit; exactly one
instance is the scheduler leader, and when it is killed (SIGKILL) the other takes over; the
outbox, drained by the leader, killed mid-drain, finished by the new leader, sends every
message, and none twice beyond the one that may have been in flight at the kill.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot.emulator import BotApiEmulator
from storage import officers, outbox
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.models import OutboxMessage, Visit
from storage.uow import unit_of_work
from tests.conftest import _truncate_all
from tests.conversations.test_processes import ROOT, _env
from tests.proxy import RoundRobinProxy, free_port

pytestmark = pytest.mark.postgres

TOKEN = "4343:MULTI-instance-test-token"
SECRET = "multi_instance_secret"
MESSAGES, CHATS = 240, 40  # the outbox load: 6 s at Telegram's 1 message/s per chat


def daytime_zone() -> str:
    """A time zone where it is about noon now, so quiet hours never postpone the test's messages."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12 … 11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-8 is UTC+8


@dataclass
class Instance:
    name: str
    port: int
    process: asyncio.subprocess.Process
    stderr: list[str]
    reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session, \
                    session.get(self.url + "/healthz") as response:
                return dict(await response.json()) if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None


async def _until(condition: Any, timeout: float, what: str) -> Any:
    """Polls `condition()` (an async function) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what} not within {timeout}s")


@pytest.fixture
def pg_url(pg_run_database: str | None) -> Iterator[str]:
    if pg_run_database is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    _truncate_all(pg_run_database)
    yield pg_run_database


@pytest.fixture
async def cluster(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[BotApiEmulator, RoundRobinProxy, list[Instance]]]:
    async with BotApiEmulator(token=TOKEN, rate_limit=True) as emu:
        ports = [free_port(), free_port()]
        proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
        await proxy.start()
        instances: list[Instance] = []
        for name, port in zip("AB", ports, strict=True):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--webhook", cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env=_env(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=emu.base_url,
                         DATABASE_URL=pg_url, WEBHOOK_URL=f"{proxy.url}/telegram", WEBHOOK_LISTEN="127.0.0.1",
                         WEBHOOK_PORT=str(port), WEBHOOK_SECRET=SECRET, LEADER_POLL_SECONDS="0.3",
                         BOT_TIMEZONE=daytime_zone(), LOG_FORMAT="json"),
            )
            instance = Instance(name, port, process, [])
            instance.reader = asyncio.create_task(_collect(process, instance.stderr))
            instances.append(instance)
        try:
            for instance in instances:
                await _until(instance.health, 60, f"instance {instance.name} healthy")
            yield emu, proxy, instances
        finally:
            for instance in instances:
                if instance.process.returncode is None:
                    instance.process.send_signal(signal.SIGTERM)
            for instance in instances:
                await asyncio.wait_for(instance.process.wait(), 30)
            await proxy.stop()


async def _collect(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        lines.append(line.decode(errors="replace"))


async def _step(emu: BotApiEmulator, update_id: int) -> None:
    await emu.wait_delivered(update_id)


async def _leaders(instances: list[Instance]) -> list[str]:
    healths = [await instance.health() for instance in instances]
    return [i.name for i, h in zip(instances, healths, strict=True) if h and h["leader"]]


async def test_two_webhook_instances_share_conversations_the_scheduler_and_the_outbox(
    cluster: tuple[BotApiEmulator, RoundRobinProxy, list[Instance]], pg_url: str
) -> None:
    emu, proxy, instances = cluster
    engine = make_async_engine(pg_url)
    factory = make_session_factory(engine)
    try:
        async with unit_of_work(factory) as uow:
            invite = await officers.create_invite(uow.session, role=Role.OFFICER, name="王芳", region="宜昌市/枝江市",
                                                  now=datetime.now(UTC))
            from tests.conversations.conftest import _enterprise

            enterprise = _enterprise("枝江市楚韵纺织有限公司", "宜昌市/枝江市/马家店街道", "91420583MA4F00001X")
            uow.session.add(enterprise)
            await uow.commit()

        # 1. A conversation, its updates alternating between the instances.
        officer = emu.user(501, "芳", last_name="王")
        await _step(emu, officer.send_text(f"/start {invite.code}"))
        assert "王芳同志，您好" in officer.plain()
        await _step(emu, officer.send_text("/visit"))
        await _step(emu, officer.send_text("楚韵"))
        for label in ("枝江市楚韵纺织有限公司", "今天", "宣传政策", "下一步", "没有变化"):
            await _step(emu, officer.tap(label))
        await _step(emu, officer.send_text("两个实例轮流处理的走访"))
        for label in ("跳过", "跳过", "提交"):
            await _step(emu, officer.tap(label))
        assert "已保存" in officer.plain()
        served = Counter(backend for backend, status in proxy.log if status == 200)
        assert sorted(served.values()) == [6, 6]  # 12 updates, round-robin: each step on the other instance
        async with factory() as session:
            visit = await session.scalar(select(Visit))
            assert visit is not None and visit.summary == "两个实例轮流处理的走访"
            assert await session.scalar(select(func.count()).select_from(Visit)) == 1

        # 2. Exactly one leader.
        [leader_name] = await _until(lambda: _leaders(instances), 30, "a leader")
        leader = next(i for i in instances if i.name == leader_name)
        follower = next(i for i in instances if i.name != leader_name)
        assert await _leaders(instances) == [leader_name]

        # 3. The leader drains a large outbox; it is killed mid-drain; the follower takes over.
        chats = [emu.user(9000 + n, f"用户{n}") for n in range(CHATS)]
        for chat in chats:  # the chats exist at Telegram: each user has written to the bot once
            emu.world.ensure_chat(chat.user).known = True
        async with unit_of_work(factory) as uow:
            for n in range(MESSAGES):
                await outbox.enqueue(uow.session, dedupe_key=f"load:{n}", chat_id=chats[n % CHATS].id, user_id=None,
                                     kind="notice", text=f"第 {n} 条", not_before=datetime.now(UTC) - timedelta(1))
            await uow.commit()
        start = len(emu.calls)
        sent = lambda: [c for c in emu.calls[start:] if c.method == "sendMessage" and c.ok]  # noqa: E731
        await _until(lambda: asyncio.sleep(0, len(sent()) >= 60), 60, "the leader draining")
        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        assert await _until(lambda: _leaders([follower]), 30, "the follower taking over") == [follower.name]

        # The killed leader's claimed rows wait for their lease (10 minutes); move time on.
        async def stuck() -> int:
            async with factory() as session:
                return int(await session.scalar(select(func.count()).where(OutboxMessage.status == "sending")) or 0)

        async def drained() -> bool:
            async with factory() as session:
                return await session.scalar(select(func.count()).where(OutboxMessage.status != "sent")) == 0

        async def expire_leases() -> bool:
            async with unit_of_work(factory) as uow:
                await uow.session.execute(update(OutboxMessage).where(OutboxMessage.status == "sending").values(
                    claimed_at=datetime.now(UTC) - timedelta(minutes=11)))
                await uow.commit()
            return await drained()

        await _until(expire_leases, 90, "every outbox row sent")
        texts = Counter(str(c.params["text"]) for c in sent())
        assert set(texts) == {f"第 {n} 条" for n in range(MESSAGES)}  # every message arrived
        duplicates = sum(count - 1 for count in texts.values())
        assert duplicates <= 1  # at most the one in flight when the leader was killed
        assert await stuck() == 0

        # 4. The survivor goes on serving the conversation alone.
        await _step(emu, officer.send_text("/mine"))
        assert "还没有分配联系的企业" in officer.plain()
        assert emu.violations == []
        logs = [json.loads(line) for line in follower.stderr if line.startswith("{")]
        assert any(entry.get("update_id") for entry in logs)  # the correlation id is on the lines
        assert all(TOKEN not in line and SECRET not in line for i in instances for line in i.stderr)
    finally:
        await engine.dispose()
