"""The owner's side 业主: an enterprise owner who joined through a one-time link sends requests
about their own enterprise, follows them in `/mine`, and rates the liaison service.

Owners see nothing else: every handler here checks the role and the owner's enterprise, and
the officers' commands refuse them (`common.allowed`). An owner's `/feedback` reaches this
form through `handlers.feedback`; their `/mine` through `owner_items`.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers import feedback
from handlers.adapter import carries_button
from handlers.context import BotContext
from handlers.forms import ConfirmStep, Form, FormContext, Notice, Prompt, Saved, link
from output.render import label, render
from storage import feedback as feedbacks
from storage.enums import Role
from storage.models import User

RATE = re.compile(r"^rate:(\d{1,9}):(\d)\Z")
MINE = re.compile(r"^owner:mine\Z")
MINE_BUTTON = "owner:mine"
MAX_LISTED = 10

FORM = Form(
    name=feedback.OWNER_FORM,
    steps=(
        feedback.category_step("owner/ask_category"),
        feedback.content_step("owner/ask_content"),
        feedback.urgency_step("owner/ask_urgency"),
    ),
    confirm=ConfirmStep(card="owner/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
)
FORMS = (FORM,)


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    enterprise = await feedbacks.owner_enterprise(ctx.session, ctx.member.id)
    content = answers.get("content") or {}
    return {
        "enterprise": enterprise.name if enterprise else None,
        "visit_date": None,  # forms/offer_resume names a draft by enterprise and date
        "category": label(f"feedback.category_{answers['category']}", ctx.locale) if answers.get("category") else None,
        "content": content.get("text"),
        "content_voice": "voice" in content,
        "urgency": label(f"feedback.urgency_{answers['urgency']}", ctx.locale) if answers.get("urgency") else None,
    }


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the owner's request for their own enterprise and tells its officers."""
    if ctx.member.role != Role.OWNER:
        raise PermissionError("only owners send requests through this form")
    enterprise = await feedbacks.owner_enterprise(ctx.session, ctx.member.id)
    if enterprise is None:
        raise PermissionError("owner without an enterprise")
    content = answers["content"]
    item = await feedbacks.create(ctx.session, feedbacks.NewFeedback(
        enterprise_id=enterprise.id, raised_by=ctx.member.name, channel="owner", category=answers["category"],
        content=content["text"] if "text" in content else feedbacks.voice_content(content["voice"]),
        urgency=answers["urgency"], owner_id=ctx.member.id,
    ), actor_id=ctx.member.id, actor_label=ctx.member.name, now=ctx.now)
    others = []
    for officer in await feedbacks.assigned_officers(ctx.session, enterprise.id):
        if officer.chat_id is None:
            continue
        locale = ctx.locale_for(officer.locale)
        text = render("feedback/from_owner", locale, enterprise=enterprise.name, raised_by=item.raised_by,
                      number=item.id, category=item.category, urgency=item.urgency, content=content.get("text"))
        button = link(feedback.item_button(item.id), label("feedback.show_item", locale))
        others.append(Notice(officer.chat_id, Prompt(text, ((button,),))))
    receipt = Prompt(render("owner/saved", ctx.locale, number=item.id),
                     ((link(MINE_BUTTON, label("owner.my_items", ctx.locale)),),))
    return Saved(receipt, item, tuple(others))


async def owner_items(update: Update, context: BotContext) -> None:
    """The owner's own requests with their status and outcome; each opens its card."""
    member, chat = context.member, update.effective_chat
    query = update.callback_query
    if member is None or chat is None:
        return
    locale, data = context.locale(), context.bot_data
    if member.role != Role.OWNER:
        if query is not None:
            await query.answer(label("unknown_button", locale), show_alert=True)
        return
    async with context.unit_of_work() as uow:
        rows = await feedbacks.for_owner(uow.session, member.id, data.now(), limit=MAX_LISTED)
        enterprise = await feedbacks.owner_enterprise(uow.session, member.id)
    text = render("owner/items", locale, rows=rows, enterprise=enterprise.name if enterprise else None, tz=data.tz)
    buttons = [[InlineKeyboardButton(
        label("owner.item_button", locale, number=row.id, category=label(f"feedback.category_{row.category}", locale),
              status=label(f"feedback.status_{row.status}", locale)),
        callback_data=feedback.item_button(row.id))] for row in rows]
    if query is not None:
        await query.answer()
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML,
                                   reply_markup=InlineKeyboardMarkup(buttons) if buttons else None)


REFUSALS = {"not_owner": "owner.not_yours", "not_final": "owner.not_final", "already_rated": "owner.already_rated",
            "rating_range": "owner.bad_rating"}


async def rate(update: Update, context: BotContext) -> None:
    """Stores the owner's 1–5 rating of a resolved or closed request of their own enterprise."""
    query, member = update.callback_query, context.member
    match = RATE.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    locale, data = context.locale(), context.bot_data
    if member is None or member.role != Role.OWNER:
        await query.answer(label("owner.owners_only", locale), show_alert=True)
        return
    stars = int(match[2])
    async with context.unit_of_work() as uow:
        item = await feedbacks.get_for_owner(uow.session, int(match[1]), member.id)
        if item is None:
            await query.answer(label("owner.not_yours", locale), show_alert=True)
            return
        owner = await uow.session.get_one(User, member.id)
        try:
            await feedbacks.rate(uow.session, item, stars, owner=owner, now=data.now())
        except feedbacks.FeedbackRefused as refused:
            await query.answer(label(REFUSALS.get(refused.reason, "owner.not_yours"), locale), show_alert=True)
            return
        await uow.commit()
    await query.answer(label("owner.rated", locale, stars=stars))
    if query.message is not None and carries_button(query.message, query.data):
        # The stars have done their job: take them off so the message reads as answered.
        await context.bot.edit_message_reply_markup(query.message.chat.id, query.message.message_id,
                                                    reply_markup=None)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CallbackQueryHandler(rate, pattern=RATE),
        CallbackQueryHandler(owner_items, pattern=MINE),
    ]
