"""`python -m bot COMMAND`: run the bot, the offline sandbox, and the operator's commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update

from bot.app import build_application, configure_logging, make_sender
from bot.config import QuietHours, Settings
from bot.leader import InstanceLock, InstanceRefused
from storage.clock import Clock, SystemClock, local_today
from storage.db import is_sqlite, make_async_engine, make_session_factory
from storage.enums import Role
from storage.migrate import upgrade
from storage.scope import normalize_region
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)


def _out(text: str) -> None:
    """Operator-facing output of a command (not a log line)."""
    sys.stdout.write(text.rstrip("\n") + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="党建联络助手 · Liaison Assistant")
    sub = p.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="run the bot (long polling, or --webhook); needs TELEGRAM_BOT_TOKEN")
    run_cmd.add_argument("--webhook", action="store_true",
                         help="webhook mode: WEBHOOK_URL, WEBHOOK_PORT and WEBHOOK_SECRET from the environment")
    shell = sub.add_parser("shell", help="offline sandbox: local Bot API emulator, the bot, and a terminal chat")
    shell.add_argument("--fresh", action="store_true", help="start from a new, temporary database")
    shell.add_argument("--database", default="sqlite:///sandbox.db",
                       help="the sandbox's own database (default sandbox.db; never DATABASE_URL, which may hold real data)")
    invite = sub.add_parser("invite", help="create a single-use invite (valid 7 days)")
    invite.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.OWNER])
    invite.add_argument("--name", required=True)
    invite.add_argument("--region", required=True, help="e.g. 宜昌市/枝江市")
    imp = sub.add_parser("import-enterprises", help="import the enterprise registry (CSV or XLSX)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true",
                     help="show what would be added, changed and rejected, row by row, without writing")
    imp.add_argument("--region", default="",
                     help="the region the file is for, e.g. 宜昌市/枝江市: its townships are read below it")
    exp = sub.add_parser("export", help="write the ledger as XLSX")
    exp.add_argument("--out", required=True, type=Path)
    exp.add_argument("--region", default="", help="region path to export, e.g. 宜昌市/枝江市 (default: everything)")
    digests = sub.add_parser("send-digests", help="queue the weekly digests now and send them; needs TELEGRAM_BOT_TOKEN")
    digests.add_argument("--current", action="store_true",
                         help="the week in progress instead of the last full week (what Monday's job sends)")
    report = sub.add_parser("report", help="the 季报 or the 年终统计 of a scope now: a text summary, and XLSX with --out")
    kinds = report.add_subparsers(dest="report", required=True)
    quarter = kinds.add_parser("quarter", help="the 季报 of a quarter")
    quarter.add_argument("--quarter", required=True, type=_quarter, help="e.g. 2026Q4")
    year_end = kinds.add_parser("year-end", help="the 年终统计 of a year")
    year_end.add_argument("--year", required=True, type=int, help="e.g. 2026")
    for command in (quarter, year_end):
        command.add_argument("--region", default="", help="region path, e.g. 宜昌市/枝江市 (default: everything)")
        command.add_argument("--out", type=Path, help="write the workbook (XLSX) here")
    backup = sub.add_parser("backup", help="a consistent copy of the SQLite database, also while the bot runs")
    backup.add_argument("--out", required=True, type=Path)
    seed = sub.add_parser("seed-demo", help="load a realistic Yichang demo data set into an empty database")
    seed.add_argument("--scale", choices=["demo", "city", "tiny"], default="demo",
                      help="demo: 150 enterprises (default); city: the whole city at full size for benchmarks "
                           "(20,000 enterprises, 2,000 officers, 200,000 visits a year); tiny: a city of 2 counties")
    seed.add_argument("--years", type=int, default=1, help="years of history of --scale city|tiny (default 1)")
    seed.add_argument("--seed", type=int, default=2026, help="random seed: the same seed gives the same data")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    return p


def _quarter(text: str) -> tuple[int, int]:
    """2026Q4 (or 2026-Q4, 2026q4) → (2026, 4)."""
    match = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a quarter: {text!r} (e.g. 2026Q4)")
    return int(match[1]), int(match[2])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    # The running bot logs JSON lines for a log collector; the terminal commands plain text.
    configure_logging(settings, logging.WARNING if args.command == "shell" else logging.INFO,
                      json_lines=args.command == "run" and settings.log_format == "json")
    if args.command == "run":
        return run(settings, webhook=args.webhook)
    if args.command == "backup":
        from bot.backup import backup

        return backup(settings.database_url, args.out, _out)
    if args.command == "shell":
        from bot.sandbox import run_shell

        return asyncio.run(run_shell(settings.model_copy(update={"database_url": args.database}), fresh=args.fresh))
    upgrade(settings.database_url)
    if args.command == "db":
        _out("数据库已是最新结构。")
        return 0
    return asyncio.run(_operator_command(args, settings))


def run(settings: Settings, *, webhook: bool = False) -> int:
    if settings.telegram_bot_token is None:
        logger.error("TELEGRAM_BOT_TOKEN is not set. For a try-out without a token: python -m bot shell")
        return 2
    if webhook and (not settings.webhook_url or settings.webhook_secret is None):
        logger.error("Webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET (and WEBHOOK_PORT, default 8443)")
        return 2
    lock = InstanceLock(settings.database_url) if is_sqlite(settings.database_url) else None
    if lock is not None:
        try:
            lock.acquire()
        except InstanceRefused as refused:
            # Two processes on one SQLite file would both run the scheduler and fight over
            # the write lock; several instances need PostgreSQL.
            logger.error("%s. Stop it first, or use PostgreSQL (DATABASE_URL) to run several instances.", refused)
            _out(f"无法启动：{refused}。请先停止另一个进程；多实例运行请使用 PostgreSQL。")
            return 3
    try:
        upgrade(settings.database_url)
        application = build_application(settings, scheduler=True)
        if webhook:
            from bot.webhook import serve

            asyncio.run(serve(application, settings))
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
        return 0
    finally:
        if lock is not None:
            lock.release()


async def _operator_command(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_async_engine(settings.database_url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    today = local_today(clock, settings.timezone)
    try:
        if args.command == "invite":
            return await _invite(factory, settings, args, clock)
        if args.command == "import-enterprises":
            from output.ledger import LEDGER_LOCALE
            from output.render import labels
            from storage.importer import ImportFileError, format_report, import_enterprises

            try:
                # The ledger's own words are accepted, so an exported ledger imports back.
                report = await import_enterprises(args.file, factory, today=today, labels=labels(LEDGER_LOCALE),
                                                  dry_run=args.dry_run, region=args.region)
            except ImportFileError as error:
                _out(str(error))
                return 1
            _out(format_report(report))
            return 0 if not report.errors else 1
        if args.command == "export":
            from output.ledger import export_ledger

            summary = await export_ledger(factory, args.out, scope=normalize_region(args.region), today=today,
                                          tz=settings.timezone)
            _out(f"已导出 {summary.path}：企业 {summary.enterprises} 家，走访记录 {summary.visits} 条"
                 f"（{summary.size // 1024} KB）")
            return 0
        if args.command == "report":
            return await _report(factory, settings, args)
        if args.command == "send-digests":
            return await _send_digests(factory, settings, clock, current=args.current)
        if args.command == "seed-demo" and args.scale != "demo":
            return await _seed_city(factory, args, today)
        if args.command == "seed-demo":
            from storage.demo import seed_demo

            async with unit_of_work(factory) as uow:
                try:
                    demo = await seed_demo(uow.session, today=today)
                except ValueError as refused:  # the database already holds enterprises
                    _out(str(refused))
                    return 1
                await uow.commit()
            _out(f"演示数据已载入：{demo}")
            return 0
    finally:
        await engine.dispose()
    raise AssertionError(args.command)


async def _report(factory: Any, settings: Settings, args: argparse.Namespace) -> int:
    """`report quarter|year-end`: the figures the scheduler sends, for one scope, now."""
    from output import reports
    from output.text import plain_text

    async with factory() as session:
        if args.report == "quarter":
            year, quarter = args.quarter
            report = await reports.quarter_report(session, args.region, year, quarter, settings.bot_locale)
        else:
            report = await reports.year_end(session, args.region, args.year, settings.timezone, settings.bot_locale)
    _out(plain_text(report.text))
    if args.out is not None:
        args.out.write_bytes(report.workbook)
        _out(f"已写入 {args.out}（{len(report.workbook) // 1024} KB）")
    return 0


async def _seed_city(factory: Any, args: argparse.Namespace, today: Any) -> int:
    """`seed-demo --scale city|tiny`: the synthetic city of `storage.city`, in one transaction."""
    import time

    from storage import city

    if args.years < 1:
        _out("--years 至少为 1。")
        return 2
    scale = (city.CITY if args.scale == "city" else city.TINY).with_years(args.years)
    started = time.perf_counter()
    async with unit_of_work(factory) as uow:
        try:
            built = await city.seed_city(uow.session, today=today, seed=args.seed, scale=scale)
        except ValueError as refused:  # the database already holds enterprises
            _out(str(refused))
            return 1
        await uow.commit()
    _out(f"城市数据已载入（{time.perf_counter() - started:.1f} 秒）：{built.counties} 个县市区，企业 {built.enterprises} 家，"
         f"联络员 {built.officers} 人，督导 {built.supervisors} 人，管理员 {built.admins} 人，业主 {built.owners} 人；"
         f"{built.history_start} 至 {built.today}：走访 {built.visits} 条，党员发展 {built.people} 人"
         f"（考察记录 {built.review_notes} 条），业主诉求 {built.feedback} 条，党组织 {built.organisations} 个"
         f"（其中指导新建 {built.foundings} 个），"
         f"联系分配 {built.assignments} 条")
    return 0


async def _send_digests(factory: Any, settings: Settings, clock: Clock, *, current: bool) -> int:
    """The weekly job, now: queue every digest and summary (deduplicated), then drain the outbox."""
    from telegram import Bot

    from output.digests import queue_weekly
    from storage.digests import week_of

    if settings.telegram_bot_token is None:
        _out("TELEGRAM_BOT_TOKEN 未设置：无法发送。")
        return 2
    now = clock.now()
    week_start = week_of(local_today(clock, settings.timezone)) if current else None
    async with unit_of_work(factory) as uow:
        queued = await queue_weekly(uow.session, now=now, tz=settings.timezone, week_start=week_start,
                                    locale=settings.bot_locale)
        await uow.commit()
    quiet = settings.quiet_window
    async with Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_api_base_url) as bot:
        report = await make_sender(settings, clock).drain(bot, factory)
    _out(f"周报：新排队 {queued} 条；已发送 {len(report.sent)}，推迟（免打扰时段）{len(report.postponed)}，"
         f"稍后重试 {len(report.retried)}，失败 {len(report.failed)}，用户已屏蔽 {len(report.dropped)}")
    if report.postponed and quiet is not None:
        _out(_held_until(len(report.postponed), quiet, now, settings.timezone))
    return 0 if not report.failed else 1


def _held_until(count: int, quiet: QuietHours, now: datetime, tz: ZoneInfo) -> str:
    """What the operator is told of messages quiet hours hold: that they wait, and until when
    (the running bot's sender sends them then, not this command)."""
    from bot.sender import quiet_hours_end

    end = quiet_hours_end(now, tz, quiet)
    day = {0: "今天", 1: "明天"}.get((end.date() - now.astimezone(tz).date()).days, f"{end:%m-%d}")
    return (f"{count} 条消息已排队；免打扰时段（{quiet}）暂不发送，{day} {end:%H:%M} 起由运行中的机器人"
            f"（python -m bot run）发出。")


async def _invite(factory: Any, settings: Settings, args: argparse.Namespace, clock: SystemClock) -> int:
    from storage.officers import create_invite

    async with unit_of_work(factory) as uow:
        invite = await create_invite(uow.session, role=Role(args.role), name=args.name, region=args.region,
                                     now=clock.now())
        await uow.commit()
    username = await _bot_username(settings)
    link = f"https://t.me/{username}?start={invite.code}" if username else f"…?start={invite.code}"
    _out(f"邀请码：{invite.code}\n链接：{link}\n有效期至：{invite.expires_at.astimezone(settings.timezone):%Y-%m-%d %H:%M}")
    return 0


async def _bot_username(settings: Settings) -> str | None:
    """The bot's @username for the deep link: asked from the Bot API when a token is set."""
    if settings.telegram_bot_token is None:
        return None
    from telegram import Bot

    try:
        async with Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_api_base_url) as bot:
            return bot.username
    except Exception:  # offline: the code alone still works with /start <code>
        logger.warning("Could not reach the Bot API for the bot's username", exc_info=True)
        return None
