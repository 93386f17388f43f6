"""The commands a newcomer and an operator type, run as real processes.

`python -m bot shell` must work with no token and no network; `python -m bot run` must come
up on a fresh database (migrating it first) and answer through the Bot API it is pointed at.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.emulator import BotApiEmulator
from storage import officers
from storage.db import make_async_engine, make_session_factory
from storage.enums import Role
from storage.migrate import upgrade
from storage.uow import unit_of_work
from tests.conftest import digest_cron_far_from_now

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL", "BOT_"))}
    # The bot's scheduler runs on the real clock: its weekly digest must not come into the test.
    env["DIGEST_CRON"] = digest_cron_far_from_now(extra.get("BOT_TIMEZONE", "Asia/Shanghai"))
    env.update(extra)
    return env


def test_shell_runs_offline_with_demo_data_and_numbered_buttons(tmp_path: Path) -> None:
    script = "/visit\n1\n1\n1\n8\n1\n:text 走访了企业，宣传了政策。\n1\n1\n1\n/mine\n:as supervisor\n:quit\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--fresh"], input=script, capture_output=True, text=True,
        timeout=120, cwd=tmp_path, env=_env(PYTHONPATH=str(ROOT)),
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "王芳同志，您好！您已作为【联系员】加入" in out
    assert "[1] ⚠ " in out  # her overdue enterprises come first, as numbered buttons
    assert "请确认" in out and "已保存（编号 V-" in out
    assert "我的企业（8 家" in out
    assert "【督导】" in out
    assert "Telegram 拒绝了" not in out  # the emulator refused nothing


async def test_run_migrates_a_fresh_database_and_answers_through_the_api(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    async with BotApiEmulator(token="4242:RUN-test-token") as emu:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=_env(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN="4242:RUN-test-token",
                     TELEGRAM_API_BASE_URL=emu.base_url, DATABASE_URL=database_url),
        )
        try:
            await emu.wait_for_call(lambda c: c.method == "getUpdates", timeout=60)
            # The schema exists now; an operator creates an invite meanwhile.
            upgrade(database_url)
            engine = make_async_engine(database_url)
            async with unit_of_work(make_session_factory(engine)) as uow:
                invite = await officers.create_invite(uow.session, role=Role.OFFICER, name="赵敏",
                                                      region="宜昌市/当阳市", now=datetime.now(UTC))
                await uow.commit()
            await engine.dispose()
            start = len(emu.calls)
            emu.user(901, "敏").send_text(f"/start {invite.code}")
            reply = await emu.wait_for_call(lambda c: c.method == "sendMessage", timeout=30, start=start)
            assert "赵敏同志，您好" in reply.result["text"]
            assert emu.violations == []
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"4242:RUN-test-token" not in stderr  # the token never reaches the logs


def test_run_without_a_token_explains_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "run"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=_env(PYTHONPATH=str(ROOT)))
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "python -m bot shell" in result.stderr


async def test_a_second_bot_on_the_same_sqlite_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'liaison.db'}"
    async with BotApiEmulator(token="4242:RUN-test-token") as emu:
        env = _env(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN="4242:RUN-test-token",
                   TELEGRAM_API_BASE_URL=emu.base_url, DATABASE_URL=database_url)
        first = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await emu.wait_for_call(lambda c: c.method == "getUpdates", timeout=60)
            second = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, _ = await asyncio.wait_for(second.communicate(), timeout=60)
            assert second.returncode == 3
            assert f"pid {first.pid}" in out.decode() and "PostgreSQL" in out.decode()
            assert first.returncode is None  # the first one runs on, undisturbed
            assert len(emu.calls_to("setMyCommands")) == 1  # the second never talked to Telegram
        finally:
            first.send_signal(signal.SIGINT)
            await asyncio.wait_for(first.wait(), timeout=30)
    assert first.returncode == 0
