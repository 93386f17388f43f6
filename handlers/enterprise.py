"""The enterprise card: status, head counts, flags, recent work, and what to do next."""

from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers import feedback, founding, nomination, org_change, people, visit
from handlers.context import BotContext
from output.render import label, render
from storage import enterprises
from storage.enums import Role

SHOW = re.compile(r"^ent:show:(\d{1,9})\Z")
FORMS = ()


def _actions(enterprise_id: int, locale: str, organised: bool) -> InlineKeyboardMarkup:
    """What an officer does next at this enterprise, two buttons a row for a phone screen: with
    an organisation, changing it (调整党组织); without, founding one (新建党组织)."""
    organisation = (
        InlineKeyboardButton(label("enterprise.change_org", locale), callback_data=org_change.start_button(enterprise_id))
        if organised else
        InlineKeyboardButton(label("enterprise.found", locale), callback_data=founding.start_button(enterprise_id))
    )
    buttons = [
        InlineKeyboardButton(label("enterprise.visit", locale), callback_data=visit.start_button(enterprise_id)),
        InlineKeyboardButton(label("nominate_next", locale), callback_data=nomination.start_button(enterprise_id)),
        InlineKeyboardButton(label("enterprise.feedback", locale),
                             callback_data=feedback.new_feedback_button(enterprise_id)),
        InlineKeyboardButton(label("enterprise.owner_link", locale),
                             callback_data=feedback.owner_link_button(enterprise_id)),
        organisation,
        InlineKeyboardButton(label("enterprise.people", locale),
                             callback_data=people.enterprise_people_button(enterprise_id)),
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def show(update: Update, context: BotContext) -> None:
    """Shows the card of an enterprise in the caller's region (refuses any other)."""
    query, member = update.callback_query, context.member
    match = SHOW.fullmatch(query.data or "") if query else None
    if query is None or member is None or match is None or member.role == Role.OWNER:
        if query is not None:
            await query.answer(label("unknown_button", context.locale()))
        return
    data = context.bot_data
    async with context.unit_of_work() as uow:
        found = await enterprises.card(uow.session, int(match[1]), member.region, data.today(), data.now())
    if found is None:
        await query.answer(label("enterprise.not_in_scope", context.locale()), show_alert=True)
        return
    await query.answer()
    text = render("enterprise/card", context.locale(), card=found, e=found.enterprise, row=found.row)
    organised = found.organisation is not None
    markup = _actions(found.enterprise.id, context.locale(), organised) if member.role == Role.OFFICER else None
    await context.bot.send_message(query.from_user.id, text,
                                   parse_mode=ParseMode.HTML, reply_markup=markup)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CallbackQueryHandler(show, pattern=SHOW)]
