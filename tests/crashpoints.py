"""The scheduler's jobs as processes the restart tests kill at a chosen point.

    python -m tests.crashpoints JOB --now ISO-TIME [--stop SPEC]
    python -m tests.crashpoints bot [--stop SPEC]

JOB is `sweep`, `digests` or `drain`: the bodies the scheduler runs (`bot.scheduler.sweep_job`,
`weekly_digest_job`, `drain_job`), with the settings from the environment as `python -m bot run`
reads them (DATABASE_URL, TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL) and the clock held at
ISO-TIME (so quiet hours and due dates do not depend on when the tests run). `bot` is
`python -m bot run` itself, with its own clock.

Points: before every SQL statement, before every COMMIT, at every log line of the bot's own
loggers (`bot.*`, as "LOG <message>": the scheduler's jobs log once they committed), and once
after the job ("end"). `--stop N` stops the process at the N-th point, `--stop N:TEXT` at the
N-th point that contains TEXT: it writes the protocol line `@@ {"event": "paused", ...}` and
waits to be killed, the statement not yet sent (a COMMIT not yet made). Without `--stop` the
job runs to the end and the process writes `@@ {"event": "done", "points": [...]}`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from telegram import Bot

from bot import scheduler
from bot.app import make_sender
from bot.config import Settings
from storage.clock import FixedClock
from storage.db import make_async_engine, make_session_factory
from tests.forkserver import emit

JOBS = {"sweep": scheduler.sweep_job, "digests": scheduler.weekly_digest_job, "drain": scheduler.drain_job}


class Points:
    """Counts the points and stops at the chosen one."""

    def __init__(self, stop: str | None) -> None:
        self.seen: list[str] = []
        self.number, self.text = 0, ""
        if stop:
            number, _, self.text = stop.partition(":")
            self.number = int(number)
        self._matching = 0

    def point(self, what: str) -> None:
        self.seen.append(what)
        if not self.number or self.text not in what:
            return
        self._matching += 1
        if self._matching == self.number:
            emit("paused", point=len(self.seen), what=what)
            threading.Event().wait()  # until SIGKILL

    def install(self) -> None:
        def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            self.point(" ".join(statement.split()))

        def before_commit(conn: Any) -> None:
            self.point("COMMIT")

        points = self

        class Logged(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                points.point(f"LOG {record.getMessage()}")

        event.listen(Engine, "before_cursor_execute", before_execute)
        event.listen(Engine, "commit", before_commit)
        logging.getLogger("bot").addHandler(Logged())


async def run(job: str, now: datetime, points: Points) -> None:
    settings = Settings(_env_file=None)
    clock = FixedClock(now)
    engine = make_async_engine(settings.database_url)
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else "1:unused-token"
    bot = Bot(token, base_url=settings.telegram_api_base_url)
    # The calendar clock stands still; the pacing counts real seconds (OutboxSender's default).
    sender = make_sender(settings, clock)
    scheduler._runtime = scheduler.Runtime(bot, make_session_factory(engine), clock, settings, sender)
    try:
        if job == "drain":
            await bot.initialize()  # getMe, as the bot does at start
        points.install()
        await JOBS[job]()
    finally:
        if job == "drain":
            await bot.shutdown()
        await engine.dispose()
    points.point("end")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.crashpoints")
    parser.add_argument("job", choices=[*sorted(JOBS), "bot"])
    parser.add_argument("--now", type=datetime.fromisoformat)
    parser.add_argument("--stop")
    args = parser.parse_args()
    points = Points(args.stop)
    if args.job == "bot":
        from bot.cli import main as bot

        points.install()
        sys.exit(bot(["run"]))
    asyncio.run(run(args.job, args.now, points))
    emit("done", points=points.seen)


if __name__ == "__main__":
    main()
