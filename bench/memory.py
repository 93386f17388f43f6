"""Benchmark 5: resident memory of the bot, idle and after computing every digest of the city.

    python -m bench.memory [--backend sqlite|postgresql] [--years 1] [--tiny] [--attachments]

Each figure is measured in a fresh child process (`python -m bench.memory --child ...`), so
nothing the parent imported or allocated counts: the parent runs the Bot API emulator, the
child builds and starts an application that long-polls it, and reports its resident set size
(VmRSS from /proc/self/status; psutil where there is no /proc) at each step:

- baseline: a bare python-telegram-bot Application (no handlers, no database), started and
  polling the emulator, idle;
- the bot: `bot.app.build_application` with every conversation, started the way
  `python -m bot run` starts it (initialize, post_init, start, polling), against the city's
  database, idle;
- the same process after computing every supervisor digest and every officer summary of the
  city with their texts (as `bench.digests` does), and its peak (VmHWM);
- with `--attachments`, after also building each supervisor's chart and the ledgers of the
  county-level supervisors (the city-wide ledger is left out: see bench/digests.py).

The parent tells the child when to measure only after the emulator has seen its first long
poll, so "idle" means started and waiting for updates. Ratios are to the bare application.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import format_table, machine_lines, pg_server_available

TOKEN = "1000001:BENCH-memory-token"
ROOT = Path(__file__).resolve().parent.parent  # the children run `-m bench.memory` from here
MIB = 1024 * 1024
# Big libraries, reported when the idle bot has them loaded.
HEAVY_MODULES = ("sqlalchemy", "jinja2", "matplotlib", "numpy", "openpyxl", "pypinyin", "apscheduler", "aiohttp")


# --- measuring --------------------------------------------------------------------------------


def memory() -> dict[str, int]:
    """Resident set size now and at its peak, in bytes: /proc first, psutil where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return {"rss": int(fields["VmRSS"].split()[0]) * 1024, "peak": int(fields["VmHWM"].split()[0]) * 1024}
    except (OSError, KeyError):
        import psutil  # only where /proc is missing

        info = psutil.Process().memory_info()
        return {"rss": int(info.rss), "peak": int(getattr(info, "peak_wset", info.rss))}


def _say(event: str, **values: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **values}) + "\n")
    sys.stdout.flush()


async def _wait_for(command: str) -> None:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != command:
        raise SystemExit(f"expected {command!r} from the parent, got {line.strip()!r}")


# --- the child processes ----------------------------------------------------------------------


async def _child_bare(base_url: str) -> None:
    from telegram.ext import ApplicationBuilder

    app = ApplicationBuilder().token(TOKEN).base_url(base_url).build()
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    _say("ready")
    await _wait_for("measure")
    gc.collect()
    _say("idle", **memory())
    await _wait_for("stop")
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


async def _child_bot(base_url: str, database_url: str, attachments: bool) -> None:
    from pydantic import SecretStr

    from bench import digests
    from bot.app import build_application, on_shutdown, on_startup
    from bot.config import Settings

    settings = Settings(_env_file=None, telegram_bot_token=SecretStr(TOKEN),  # type: ignore[call-arg]
                        telegram_api_base_url=base_url, database_url=database_url)
    app = build_application(settings)
    await app.initialize()
    await on_startup(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    _say("ready")
    await _wait_for("measure")
    gc.collect()
    _say("idle", modules=sorted(m for m in HEAVY_MODULES if m in sys.modules), **memory())
    factory = app.bot_data.session_factory
    supervisors = await digests._users(factory, ("supervisor", "admin"))
    officers = await digests._users(factory, ("officer",))
    run = await digests.one_run(factory, supervisors, officers)
    gc.collect()
    _say("digests", supervisors=len(supervisors), officers=len(officers), seconds=run.supervisor_total + run.officer_total,
         **memory())
    if attachments:
        extra = await digests.attachments(factory, supervisors, "counties")
        gc.collect()
        _say("attachments", charts=len(extra.charts), ledgers=len(extra.ledgers), **memory())
    await _wait_for("stop")
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    await on_shutdown(app)


# --- the parent -------------------------------------------------------------------------------


async def _measure_child(emulator: Any, args: list[str], last: str) -> list[dict[str, Any]]:
    """Runs `python -m bench.memory --child ...`, lets it measure once it polls, and collects its
    reports up to the event `last`."""
    # The child's stderr goes to a file: a pipe nobody reads could fill up and stall it.
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.memory", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errors,
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            return await _talk(process, emulator, last, errors)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _talk(process: asyncio.subprocess.Process, emulator: Any, last: str, errors: Any) -> list[dict[str, Any]]:
    assert process.stdin is not None and process.stdout is not None
    reports: list[dict[str, Any]] = []
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=900)
        if not line:
            await process.wait()
            errors.seek(0)
            raise RuntimeError(f"the measured process ended early:\n{errors.read().decode(errors='replace')[-3000:]}")
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue  # a stray print of a library
        if message["event"] == "ready":
            # Idle means started and waiting: wait for its long poll to reach the emulator.
            start = len(emulator.calls)
            await emulator.wait_for_call(lambda call: call.method == "getUpdates", timeout=30, start=start)
            process.stdin.write(b"measure\n")
            await process.stdin.drain()
            continue
        reports.append(message)
        if message["event"] == last:
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
            await asyncio.wait_for(process.wait(), timeout=60)
            return reports


async def _run(database_url: str | None, attachments: bool) -> dict[str, dict[str, Any]]:
    from bot.emulator import BotApiEmulator

    results: dict[str, dict[str, Any]] = {}
    async with BotApiEmulator(token=TOKEN) as emulator:
        for report in await _measure_child(emulator, ["--child", "bare", "--base-url", emulator.base_url], "idle"):
            results[f"bare:{report['event']}"] = report
        if database_url is not None:
            args = ["--child", "bot", "--base-url", emulator.base_url, "--database", database_url]
            if attachments:
                args.append("--attachments")
            for report in await _measure_child(emulator, args, "attachments" if attachments else "digests"):
                results[f"bot:{report['event']}"] = report
    return results


def _mib(value: int) -> str:
    return f"{value / MIB:.1f} MiB"


def table(backend: str, years: int, results: dict[str, dict[str, Any]]) -> str:
    bare = results["bare:idle"]["rss"]
    rows: list[list[object]] = [["baseline", "bare python-telegram-bot Application, idle", _mib(bare), "1.00×", "—"]]
    labels = {
        "bot:idle": "the bot, started against the emulator, idle",
        "bot:digests": "the bot after every digest and summary of the city",
        "bot:attachments": "the bot after the charts and the counties' ledgers too",
    }
    for key, name in labels.items():
        if key in results:
            rss, peak = results[key]["rss"], results[key]["peak"]
            rows.append([f"{backend} {years}y", name, _mib(rss), f"{rss / bare:.2f}×", _mib(peak)])
    return format_table(("case", "process", "RSS", "vs bare", "peak (VmHWM)"), rows)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--years", type=int, default=1, help="years of the city's history (default 1)")
    p.add_argument("--tiny", action="store_true", help="a tiny city (2 counties, 200 enterprises): the smoke test")
    p.add_argument("--attachments", action="store_true", help="also build the charts and the counties' ledgers")
    p.add_argument("--seed", type=int, default=2026)
    # Internal: the measured child process.
    p.add_argument("--child", choices=["bare", "bot"], help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--database", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.child == "bare":
        asyncio.run(_child_bare(args.base_url))
        return 0
    if args.child == "bot":
        asyncio.run(_child_bot(args.base_url, args.database, args.attachments))
        return 0
    from bench.city import city_database, describe, scale_for
    from bench.digests import TODAY

    out = sys.stdout
    out.write("bench.memory — resident memory of the bot, idle and after the city's digests "
              "(baseline: a bare python-telegram-bot Application, idle)\n")
    for line in machine_lines():
        out.write(line + "\n")
    scale = scale_for(args.tiny, args.years)
    out.write(f"city: {describe(scale)}; {args.years} year(s) of history; {args.backend}\n")
    if args.backend == "postgresql" and not pg_server_available():
        out.write("postgresql: skipped, no server answers at 127.0.0.1:5432\n")
        return 1
    with city_database(args.backend, scale, today=TODAY, seed=args.seed, cache=not args.tiny, name="memory") as db:
        results = asyncio.run(_run(db.url, args.attachments))
    out.write("\n" + table(args.backend, args.years, results) + "\n")
    digests = results.get("bot:digests")
    if digests:
        out.write(f"\ndigests computed in the measured process: {digests['supervisors']} supervisor digests, "
                  f"{digests['officers']} officer summaries in {digests['seconds']:.1f} s\n")
    idle, bare = results["bot:idle"]["rss"], results["bare:idle"]["rss"]
    modules = ", ".join(results["bot:idle"].get("modules", [])) or "none"
    out.write(f"the bot idle is {idle / bare:.2f}× a bare Application (+{(idle - bare) / MIB:.1f} MiB); "
              f"big libraries loaded when idle: {modules}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
