"""`/review`: supervisors approve records or send them back with a comment (as ODK Central
and SurveyCTO review submissions); the officer is told at once and can correct them."""

from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common, feedback, people
from handlers.adapter import carries_button
from handlers.context import BotContext
from handlers.forms import Form, FormContext, Notice, Prompt, Saved, TextStep, link
from output.render import label, render
from storage import reviews
from storage.enums import ReviewStatus, Role

# One letter per kind of record keeps the callback data short.
ENTITY_CODES = {"v": "visit", "p": "person", "f": "feedback", "o": "founding"}
CODE_OF = {entity: code for code, entity in ENTITY_CODES.items()}
VERDICT = re.compile(r"^review:(ok|fix):([vpfo]):(\d{1,9})\Z")
QUEUE_LENGTH = 5


def verdict_button(action: str, entity: str, entity_id: int) -> str:
    return f"review:{action}:{CODE_OF[entity]}:{entity_id}"


def correction_button(entity: str, entity_id: int) -> str:
    """Where the officer corrects a record of this kind."""
    if entity == "visit":
        return f"visit:correct:{entity_id}"
    if entity == "founding":
        return f"found:correct:{entity_id}"
    if entity == "person":
        return people.person_button(entity_id)
    return feedback.item_button(entity_id)


FORM = Form(
    name="review_comment",
    steps=(TextStep("comment", "review/ask_comment", title="review.field_comment", max_length=500),),
    confirm=None,
    describe=lambda ctx, answers: _nothing(),
    save=lambda ctx, answers: save(ctx, answers),
)
FORMS = (FORM,)


async def _nothing() -> dict[str, Any]:
    return {}


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Marks the record as needing fixing and tells its author what to fix."""
    entity, entity_id = answers["entity"], answers["entity_id"]
    found = await reviews.author_and_scope_check(ctx.session, entity, entity_id, ctx.member.region)
    if found is None:
        raise PermissionError("record left the supervisor's scope")
    _, author_chat, enterprise = found
    comment = answers["comment"]["text"]
    await reviews.set_verdict(ctx.session, entity=entity, entity_id=entity_id, verdict=ReviewStatus.NEEDS_FIXING,
                              comment=comment, reviewer_id=ctx.member.id, reviewer_label=ctx.member.name, now=ctx.now)
    receipt = Prompt(render("review/sent_back", ctx.locale, entity=entity, number=entity_id, enterprise=enterprise))
    others: tuple[Notice, ...] = ()
    if author_chat is not None:
        text = render("review/needs_fixing", ctx.locale, entity=entity, number=entity_id, enterprise=enterprise,
                      comment=comment, reviewer=ctx.member.name)
        button = link(correction_button(entity, entity_id), label("correct", ctx.locale))
        others = (Notice(author_chat, Prompt(text, ((button,),))),)
    return Saved(receipt, None, others)


async def show_queue(update: Update, context: BotContext) -> None:
    """Sends the newest records waiting for review, one card each, with the two verdicts."""
    if not await common.allowed(update, context, Role.SUPERVISOR) or context.member is None:
        return
    chat = update.effective_chat
    async with context.unit_of_work() as uow:
        items = await reviews.queue(uow.session, context.member.region, QUEUE_LENGTH)
    locale = context.locale()
    if chat is None:
        return
    if not items:
        await context.bot.send_message(chat.id, render("review/empty", locale), parse_mode=ParseMode.HTML)
        return
    await context.bot.send_message(chat.id, render("review/heading", locale, count=len(items)),
                                   parse_mode=ParseMode.HTML)
    for item in items:
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton(label("review.approve", locale),
                                 callback_data=verdict_button("ok", item.entity, item.entity_id)),
            InlineKeyboardButton(label("review.needs_fixing", locale),
                                 callback_data=verdict_button("fix", item.entity, item.entity_id)),
        ]])
        text = render("review/item", locale, item=item, tz=context.bot_data.tz)
        await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def on_verdict(update: Update, context: BotContext) -> None:
    """Approve at once; 'needs fixing' first asks what to fix."""
    query, member = update.callback_query, context.member
    match = VERDICT.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    if member is None or member.role != Role.SUPERVISOR:
        await query.answer(label("unknown_button", context.locale()), show_alert=True)
        return
    action, entity, entity_id = match[1], ENTITY_CODES[match[2]], int(match[3])
    locale = context.locale()
    async with context.unit_of_work() as uow:
        found = await reviews.author_and_scope_check(uow.session, entity, entity_id, member.region)
        if found is None:
            await query.answer(label("review.not_in_scope", locale), show_alert=True)
            return
        # Approved already (the second of two quick taps): nothing to record or take off again.
        current = await reviews.status(uow.session, entity, entity_id) if action == "ok" else None
        again = current is not None and current.status == ReviewStatus.APPROVED
        if action == "ok" and not again:
            await reviews.set_verdict(uow.session, entity=entity, entity_id=entity_id, verdict=ReviewStatus.APPROVED,
                                      comment=None, reviewer_id=member.id, reviewer_label=member.name,
                                      now=context.bot_data.now())
            await uow.commit()
    await query.answer(label("review.approved", locale) if action == "ok" else None)
    if action == "ok":
        if not again and query.message is not None and carries_button(query.message, query.data):
            await context.bot.edit_message_reply_markup(query.message.chat.id, query.message.message_id,
                                                        reply_markup=None)
        return
    await context.bot_data.runner.start(update, context, FORM.name, {"entity": entity, "entity_id": entity_id})


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler("review", show_queue), CallbackQueryHandler(on_verdict, pattern=VERDICT)]
