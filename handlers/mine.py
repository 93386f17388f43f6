"""`/mine`: an officer's enterprises, overdue first, a page at a time; an owner's own requests."""

from __future__ import annotations

import math
import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common, owner
from handlers.context import BotContext
from handlers.forms import Form
from handlers.pickers import card_button
from output.render import label, render
from storage import enterprises
from storage.enums import Role

FORMS: tuple[Form, ...] = ()
MINE_PAGE = re.compile(r"^mine:page:(\d{1,4})\Z")
MINE_PAGE_SIZE = 10


async def mine(update: Update, context: BotContext) -> None:
    """Lists the officer's enterprises, overdue first, a page at a time (an owner's /mine is
    their own requests)."""
    if context.member is not None and context.member.role == Role.OWNER:
        await owner.owner_items(update, context)
        return
    query = update.callback_query
    turned = MINE_PAGE.fullmatch(query.data or "") if query is not None else None
    page = int(turned[1]) if turned else 1
    member, chat = context.member, update.effective_chat
    if member is None or chat is None:
        return
    async with context.unit_of_work() as uow:
        rows = await enterprises.assigned_to(uow.session, member.id, context.bot_data.today(), member.region)
    pages = max(1, math.ceil(len(rows) / MINE_PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * MINE_PAGE_SIZE : page * MINE_PAGE_SIZE]
    text = render("common/mine", context.locale(), rows=shown, total=len(rows), page=page, pages=pages,
                  overdue=sum(1 for r in rows if r.overdue), role=member.role, first=(page - 1) * MINE_PAGE_SIZE)
    nav = [
        InlineKeyboardButton(label(name, context.locale()), callback_data=f"mine:page:{target}")
        for name, target in (("previous_page", page - 1), ("next_page", page + 1))
        if 1 <= target <= pages
    ]
    # One button per enterprise opens its card: two a row keeps ten of them on one phone screen.
    cards = [
        InlineKeyboardButton(label("card_button", context.locale(), number=(page - 1) * MINE_PAGE_SIZE + i + 1,
                                   name=row.name, overdue=row.overdue), callback_data=card_button(row.id))
        for i, row in enumerate(shown)
    ]
    keyboard = [cards[i : i + 2] for i in range(0, len(cards), 2)] + ([nav] if nav else [])
    markup = InlineKeyboardMarkup(keyboard) if keyboard else None
    if query is not None:
        await common.turn_page(query, context, text, markup)
        return
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler("mine", mine), CallbackQueryHandler(mine, pattern=MINE_PAGE)]
