"""`/export`: supervisors and admins receive the ledger 分类台账 of their region as an XLSX file.

The workbook is `output.ledger.build_ledger`'s, the same as `python -m bot export --region`, and
the export is audited there (who exported which scope, how many rows). Its sheets name people
in development, so the scope is always the caller's own region, never one they choose.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import Form
from output.ledger import build_ledger_with_counts, ledger_filename
from output.render import render
from storage.enums import Role

logger = logging.getLogger(__name__)

FORMS: tuple[Form, ...] = ()
async def send_ledger(update: Update, context: BotContext) -> None:
    """Builds the ledger of the caller's region, records the export, and sends the file."""
    chat, member = update.effective_chat, context.member
    if chat is None or member is None or not await common.allowed(update, context, Role.SUPERVISOR, Role.ADMIN):
        return
    # A city's ledger takes a few seconds to build: show "sending a file…" meanwhile.
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    today = context.bot_data.today()
    async with context.unit_of_work() as uow:
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
