"""`/digest`: the weekly digest on demand, for the week so far.

Supervisors and admins get their region's digest (text parts, the chart, the ledger), the same as
Monday's (`output.digests`); officers get their own summary. The reply goes straight back, not
through the outbox: the caller is waiting for it. The ledger export is audited in
`output.ledger.build_ledger`, in the same unit of work.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import Form
from output.digests import render_officer_summary, supervisor_messages
from output.ledger import ledger_filename
from storage.digests import officer_summary, week_of
from storage.enums import Role
from storage.sweep import iso_week

logger = logging.getLogger(__name__)

FORMS: tuple[Form, ...] = ()


async def send_digest(update: Update, context: BotContext) -> None:
    chat, member = update.effective_chat, context.member
    if chat is None or member is None:
        return
    if not await common.allowed(update, context, Role.SUPERVISOR, Role.ADMIN, Role.OFFICER):
        return
    today, tz, locale = context.bot_data.today(), context.bot_data.tz, context.locale()
    start = week_of(today)
    if member.role == Role.OFFICER:
        async with context.unit_of_work() as uow:
            summary = await officer_summary(uow.session, member.id, start, tz, today=today)
        for text in render_officer_summary(summary, locale):
            await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML)
        return
    # The ledger of a city takes a few seconds: show "sending a file…" meanwhile.
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    async with context.unit_of_work() as uow:
        texts, png, xlsx = await supervisor_messages(uow.session, scope=member.region, actor_id=member.id,
                                                     actor_label=member.name, week_start=start, tz=tz,
                                                     today=today, locale=locale)
        await uow.commit()  # the export's audit entry
    for text in texts:
        await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML)
    await context.bot.send_photo(chat.id, InputFile(png, filename=f"digest-{iso_week(start)}.png"))
    await context.bot.send_document(chat.id, InputFile(xlsx, filename=ledger_filename(member.region, today)))
    logger.info("Digest of %s sent to user %s", (start, start + timedelta(days=6)), member.id)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler("digest", send_digest)]
