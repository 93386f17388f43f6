"""`/export`: supervisors and admins receive the ledger 分类台账 of their region as an XLSX file.

The workbook is `bot.export.build_ledger`'s, the same as `python -m bot export --region`, and
the export is audited there (who exported which scope, how many rows). Its sheets name people
in development, so the scope is always the caller's own region, never one they choose.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import BaseHandler, CommandHandler

from bot.export import build_ledger_with_counts
from bot.render import render
from handlers import common
from handlers.context import BotContext
from handlers.forms import Form
from storage.enums import Role
from storage.scope import SEPARATOR
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

FORMS: tuple[Form, ...] = ()
# Characters that Windows, where the ledger is usually opened, refuses in a file name.
UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def ledger_filename(region: str, today: date) -> str:
    """`台账-枝江市-20261125.xlsx` for 宜昌市/枝江市 on 2026-11-25."""
    last = region.rsplit(SEPARATOR, 1)[-1]
    return f"台账-{UNSAFE_IN_FILENAME.sub('_', last)}-{today:%Y%m%d}.xlsx"


async def send_ledger(update: Update, context: BotContext) -> None:
    """Builds the ledger of the caller's region, records the export, and sends the file."""
    chat, member = update.effective_chat, context.member
    if chat is None or member is None or not await common.allowed(update, context, Role.SUPERVISOR, Role.ADMIN):
        return
    # A city's ledger takes a few seconds to build: show "sending a file…" meanwhile.
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    today = context.bot_data.today()
    async with unit_of_work(context.bot_data.session_factory) as uow:
        data, counts = await build_ledger_with_counts(
            uow.session, scope=member.region, today=today, actor_label=member.name, actor_id=member.id,
            tz=context.bot_data.tz,
        )
        await uow.commit()
    caption = render("supervisor/export_caption", context.locale(), region=member.region, today=today, **counts)
    document = InputFile(data, filename=ledger_filename(member.region, today))
    await context.bot.send_document(chat.id, document, caption=caption, parse_mode=ParseMode.HTML)
    logger.info("Ledger sent to user %s: %d bytes", member.id, len(data))


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler("export", send_ledger)]
