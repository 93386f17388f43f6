"""`/feedback`: owners' requests 业主诉求 — recording one, the item card and its lifecycle
(open → in progress → resolved | closed), corrections, and one-time links for owners.

The owner's own side (their form, `/mine`, ratings) is in `handlers.owner`; an owner's
`/feedback` is routed there by form name.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common
from handlers.adapter import keyboard
from handlers.context import BotContext
from handlers.forms import (
    ChoiceStep,
    ConfirmStep,
    Correction,
    Form,
    FormContext,
    FormState,
    LookupStep,
    Notice,
    Option,
    Prompt,
    Saved,
    TextStep,
    link,
)
from handlers.pickers import EnterpriseSource
from output.render import label, render
from storage import enterprises, outbox
from storage import feedback as feedbacks
from storage.enums import FeedbackCategory, FeedbackStatus, Role, Urgency
from storage.models import Enterprise, Feedback
from storage.officers import INVITE_LIFETIME, Member, locale_of

logger = logging.getLogger(__name__)

NEW = re.compile(r"^fb:new(?::(\d{1,9}))?\Z")
SHOW = re.compile(r"^fb:show:(\d{1,9})\Z")
MOVE = re.compile(r"^fb:(start|resolve|close):(\d{1,9})\Z")
CORRECT = re.compile(r"^fb:correct:(\d{1,9})\Z")
PAGE = re.compile(r"^fb:page:(\d{1,4})\Z")
LINK = re.compile(r"^fb:link(?::(\d{1,9}))?\Z")
PAGE_SIZE = 10
NOTICE_DRAIN = 10  # the notice just queued, and a few others due anyway
MAX_RAISER = 40
MAX_NOTE = 500
OWNER_FORM = "owner_feedback"  # declared in handlers.owner
ACTIONS = {"start": FeedbackStatus.IN_PROGRESS, "resolve": FeedbackStatus.RESOLVED, "close": FeedbackStatus.CLOSED}
ACTION_OF = {status: action for action, status in ACTIONS.items()}
ACTION_LABELS = {"start": "feedback.start_work", "resolve": "feedback.resolve", "close": "feedback.close"}
STAFF = (Role.OFFICER, Role.SUPERVISOR)


# ---------------------------------------------------------------- callback data


def item_button(feedback_id: int) -> str:
    """Opens the item card."""
    return f"fb:show:{feedback_id}"


def new_feedback_button(enterprise_id: int) -> str:
    """Starts the feedback form with the enterprise chosen (the enterprise card)."""
    return f"fb:new:{enterprise_id}"


def owner_link_button(enterprise_id: int) -> str:
    """Makes a one-time owner link for the enterprise (the enterprise card)."""
    return f"fb:link:{enterprise_id}"


def rate_button(feedback_id: int, stars: int) -> str:
    """The owner's rating; handled in handlers.owner."""
    return f"rate:{feedback_id}:{stars}"


# ---------------------------------------------------------------- the forms


@dataclass(frozen=True)
class GridChoiceStep(ChoiceStep):
    """A choice among many options, a few per row, so seven categories fit a phone screen."""

    per_row: int = 2

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        options = self._options(ctx)
        rows = tuple(tuple(options[i : i + self.per_row]) for i in range(0, len(options), self.per_row))
        return Prompt(self._text(ctx, state), rows + self._skip_row(ctx))


CATEGORY_OPTIONS = tuple((c.value, f"feedback.category_{c.value}") for c in FeedbackCategory)
URGENCY_OPTIONS = tuple((u.value, f"feedback.urgency_{u.value}") for u in Urgency)


def _raised_by_other(answers: dict[str, Any]) -> bool:
    return answers.get("raised_by") == "other"


def category_step(question: str) -> GridChoiceStep:
    return GridChoiceStep("category", question, title="feedback.field_category", options=CATEGORY_OPTIONS)


def content_step(question: str) -> TextStep:
    return TextStep("content", question, title="feedback.field_content", max_length=feedbacks.MAX_CONTENT,
                    accepts_voice=True)


def urgency_step(question: str) -> ChoiceStep:
    return ChoiceStep("urgency", question, title="feedback.field_urgency", options=URGENCY_OPTIONS)


FORM = Form(
    name="feedback",
    steps=(
        LookupStep("enterprise", "feedback/ask_enterprise", title="field_enterprise", source=EnterpriseSource()),
        ChoiceStep("raised_by", "feedback/ask_raised_by", title="feedback.field_raised_by",
                   options=(("owner", "feedback.raised_owner"), ("other", "feedback.raised_other"))),
        TextStep("raiser", "feedback/ask_raiser", title="feedback.field_raiser", max_length=MAX_RAISER,
                 when=_raised_by_other),
        category_step("feedback/ask_category"),
        content_step("feedback/ask_content"),
        urgency_step("feedback/ask_urgency"),
    ),
    confirm=ConfirmStep(card="feedback/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
    correction=(CORRECTION := Correction(entity=feedbacks.ENTITY, get=feedbacks.get_in_scope,
                                         answers=lambda ctx, item: answers_of(ctx, item))),
)

# Resolving or closing asks for one note, then saves: started with {"item": id, "to": status}.
NOTE_FORM = Form(
    name="feedback_note",
    steps=(TextStep("note", "feedback/ask_note", max_length=MAX_NOTE),),
    confirm=None,
    describe=lambda ctx, answers: describe_note(ctx, answers),
    save=lambda ctx, answers: save_note(ctx, answers),
)

# Started with {"_bot": username} (and {"enterprise": id} from the enterprise card).
LINK_FORM = Form(
    name="owner_link",
    steps=(LookupStep("enterprise", "feedback/ask_link_enterprise", title="field_enterprise",
                      source=EnterpriseSource()),),
    confirm=None,
    describe=lambda ctx, answers: describe_link(ctx, answers),
    save=lambda ctx, answers: save_link(ctx, answers),
)

FORMS = (FORM, NOTE_FORM, LINK_FORM)


def _raised_by(answers: dict[str, Any], enterprise: Enterprise | None, locale: str) -> str | None:
    if answers.get("raised_by") == "owner":
        return (enterprise.owner_name if enterprise and enterprise.owner_name
                else label("feedback.raised_owner", locale))
    if answers.get("raised_by") == "other":
        return (answers.get("raiser") or {}).get("text")
    return None


def _content(answers: dict[str, Any]) -> str:
    content = answers["content"]
    return content["text"] if "text" in content else feedbacks.voice_content(content["voice"])


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    """The card's values: names for ids, labels for codes; missing answers stay None."""
    enterprise = None
    if answers.get("enterprise") is not None:
        enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    content = answers.get("content") or {}
    return {
        "enterprise": enterprise.name if enterprise else None,
        "visit_date": None,  # forms/offer_resume names a draft by enterprise and date
        "raised_by": _raised_by(answers, enterprise, ctx.locale),
        "category": label(f"feedback.category_{answers['category']}", ctx.locale) if answers.get("category") else None,
        "content": content.get("text"),
        "content_voice": "voice" in content,
        "urgency": label(f"feedback.urgency_{answers['urgency']}", ctx.locale) if answers.get("urgency") else None,
    }


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the item (or the author's correction of it) and returns the receipt."""
    # Checked again at saving: the enterprise may have left the officer's region meanwhile.
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    new = feedbacks.NewFeedback(
        enterprise_id=enterprise.id, raised_by=_raised_by(answers, enterprise, ctx.locale) or "", channel="officer",
        category=answers["category"], content=_content(answers), urgency=answers["urgency"], officer_id=ctx.member.id,
    )
    item: Feedback = ctx.correcting
    if item is not None:
        await feedbacks.correct(ctx.session, item, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                                now=ctx.now)
    else:
        item = await feedbacks.create(ctx.session, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                                      now=ctx.now)
    receipt = render("feedback/saved", ctx.locale, number=item.id, enterprise=enterprise.name,
                     corrected=ctx.correcting is not None)
    return Saved(Prompt(receipt, ((link(item_button(item.id), label("feedback.show_item", ctx.locale)),),)), item)


async def describe_note(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    item = await feedbacks.get_in_scope(ctx.session, answers.get("item", 0), ctx.member.region)
    name = (await feedbacks.row(ctx.session, item, ctx.now)).enterprise if item else None
    return {"enterprise": name, "visit_date": None}


async def save_note(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Resolves or closes the item with the note, and tells the owner who sent it."""
    item = await feedbacks.get_in_scope(ctx.session, answers["item"], ctx.member.region)
    if item is None:
        raise PermissionError("feedback left the caller's scope")
    to = FeedbackStatus(answers["to"])
    back = ((link(item_button(item.id), label("feedback.show_item", ctx.locale)),),)
    # Someone else may have moved it while the note was being written.
    if to not in feedbacks.allowed_next(item.status):
        return Saved(Prompt(render("feedback/not_changed", ctx.locale, number=item.id, status=item.status), back))
    await feedbacks.transition(ctx.session, item, to, note=answers["note"]["text"], actor_id=ctx.member.id,
                               actor_label=ctx.member.name, now=ctx.now)
    notice = await owner_notice(ctx.session, item, ctx.locale_for(None))
    row = await feedbacks.row(ctx.session, item, ctx.now)
    text = render("feedback/transitioned", ctx.locale, number=item.id, enterprise=row.enterprise, status=item.status,
                  told=notice is not None)
    return Saved(Prompt(text, back), item, (notice,) if notice else ())


async def owner_notice(session: Any, item: Feedback, bot_locale: str) -> Notice | None:
    """What the owner who sent the item is told about its new status: rating buttons once
    it is resolved or closed. None when the item did not come through an owner."""
    owner = await feedbacks.owner_of(session, item)
    if owner is None or owner.chat_id is None:
        return None
    locale = locale_of(owner.locale, bot_locale)
    final = feedbacks.is_final(item.status)
    text = render("feedback/owner_notice", locale, number=item.id, category=item.category, status=item.status,
                  resolution=item.resolution, rate=final and item.rating is None)
    buttons: tuple[tuple[Option, ...], ...] = ()
    if final and item.rating is None:
        buttons = (tuple(link(rate_button(item.id, stars), label("feedback.rate_button", locale, stars=stars))
                         for stars in feedbacks.RATINGS),)
    return Notice(owner.chat_id, Prompt(text, buttons))


async def describe_link(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    enterprise = None
    if answers.get("enterprise") is not None:
        enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    return {"enterprise": enterprise.name if enterprise else None, "visit_date": None}


async def save_link(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Prepares the enterprise's owner and their one-time link, and shows the link."""
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    invite = await feedbacks.create_owner_invite(ctx.session, enterprise, ctx.member, ctx.now,
                                                 fallback_name=label("feedback.owner_fallback_name", ctx.locale))
    bot = answers.get("_bot")
    # Without the bot's name (a draft restarted from the resume offer) the code alone still works.
    url = f"https://t.me/{bot}?start={invite.code}" if bot else None
    text = render("feedback/link", ctx.locale, enterprise=enterprise.name, link=url, code=invite.code,
                  days=INVITE_LIFETIME.days)
    return Saved(Prompt(text), invite)


async def answers_of(ctx: FormContext, item: Feedback) -> dict[str, Any]:
    """The form's answers for a saved item: a correction starts from them, on the card."""
    enterprise = await ctx.session.get_one(Enterprise, item.enterprise_id)
    as_owner = item.raised_by in {enterprise.owner_name, label("feedback.raised_owner", ctx.locale)}
    voice = feedbacks.voice_file(item.content)
    answers: dict[str, Any] = {
        "enterprise": item.enterprise_id,
        "raised_by": "owner" if as_owner else "other",
        "category": item.category,
        "content": {"voice": voice} if voice else {"text": item.content},
        "urgency": item.urgency,
    }
    if not as_owner:
        answers["raiser"] = {"text": item.raised_by}
    return answers


# ---------------------------------------------------------------- the list and the card


def _menu_markup(page: feedbacks.OpenPage, number: int, pages: int, role: Role,
                 locale: str) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    if role == Role.OFFICER:
        rows.append([InlineKeyboardButton(label("feedback.new_item", locale), callback_data="fb:new")])
    for row in page.rows:
        text = label("feedback.item_button", locale, number=row.id, enterprise=row.enterprise,
                     category=label(f"feedback.category_{row.category}", locale), days=row.age_days,
                     overdue=row.overdue)
        rows.append([InlineKeyboardButton(text, callback_data=item_button(row.id))])
    nav = [InlineKeyboardButton(label(name, locale), callback_data=f"fb:page:{target}")
           for name, target in (("previous_page", number - 1), ("feedback.more", number + 1)) if 1 <= target <= pages]
    if nav:
        rows.append(nav)
    if role == Role.OFFICER:
        rows.append([InlineKeyboardButton(label("feedback.owner_link", locale), callback_data="fb:link")])
    # A supervisor with nothing open has no buttons at all: send no keyboard rather than an empty one.
    return InlineKeyboardMarkup(rows) if rows else None


async def feedback_command(update: Update, context: BotContext) -> None:
    """Officers and supervisors get the open items and what to do; owners their own form."""
    member = context.member
    if member is not None and member.role == Role.OWNER:
        async with context.unit_of_work() as uow:
            enterprise = await feedbacks.owner_enterprise(uow.session, member.id)
        answers = {"_enterprise": enterprise.name} if enterprise else None
        await context.bot_data.runner.start(update, context, OWNER_FORM, answers)
        return
    if not await common.allowed(update, context, *STAFF):
        return
    await show_menu(update, context)


async def show_menu(update: Update, context: BotContext) -> None:
    """The open items in the caller's region, a page at a time (page buttons edit in place)."""
    query, member, chat = update.callback_query, context.member, update.effective_chat
    if member is None or chat is None:
        return
    if member.role not in STAFF:
        if query is not None:
            await query.answer(label("feedback.for_officers", context.locale()), show_alert=True)
        return
    turned = PAGE.fullmatch(query.data or "") if query is not None else None
    number = int(turned[1]) if turned else 1
    locale, data = context.locale(), context.bot_data
    async with context.unit_of_work() as uow:
        page = await feedbacks.open_for_officer(uow.session, member.id, member.region, data.now(),
                                                limit=PAGE_SIZE, offset=(max(number, 1) - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    text = render("feedback/menu", locale, total=page.total, overdue=page.overdue, page=number, pages=pages,
                  role=member.role)
    markup = _menu_markup(page, number, pages, member.role, locale)
    if query is not None and isinstance(query.message, Message):
        await query.answer()
        await _edit(query.message, text, markup)
        return
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


def _card_markup(row: feedbacks.FeedbackRow, role: Role, correctable: bool, locale: str) -> InlineKeyboardMarkup | None:
    buttons: list[list[InlineKeyboardButton]] = []
    if role in STAFF:
        moves = [ACTION_OF[status] for status in ACTIONS.values() if status in feedbacks.allowed_next(row.status)]
        if moves:
            buttons.append([InlineKeyboardButton(label(ACTION_LABELS[action], locale),
                                                 callback_data=f"fb:{action}:{row.id}") for action in moves])
        if correctable:
            buttons.append([InlineKeyboardButton(label("correct", locale), callback_data=f"fb:correct:{row.id}")])
    elif role == Role.OWNER and feedbacks.is_final(row.status) and row.rating is None:
        buttons.append([InlineKeyboardButton(label("feedback.rate_button", locale, stars=stars),
                                             callback_data=rate_button(row.id, stars)) for stars in feedbacks.RATINGS])
    return InlineKeyboardMarkup(buttons) if buttons else None


async def _card(session: Any, item: Feedback, member: Member, locale: str,
                now: Any) -> tuple[str, InlineKeyboardMarkup | None, feedbacks.FeedbackRow]:
    row = await feedbacks.row(session, item, now)
    correctable = await CORRECTION.allows(session, member, item, now)
    return render("feedback/card", locale, item=row), _card_markup(row, member.role, correctable, locale), row


async def show_item(update: Update, context: BotContext) -> None:
    """The item card with what the caller may do next; any item outside their reach is refused."""
    query, member = update.callback_query, context.member
    match = SHOW.fullmatch(query.data or "") if query else None
    if query is None or member is None or match is None or query.message is None:
        return
    locale, data = context.locale(), context.bot_data
    async with context.unit_of_work() as uow:
        item = await feedbacks.get_visible(uow.session, int(match[1]), member)
        if item is None:
            await query.answer(label("feedback.not_in_scope", locale), show_alert=True)
            return
        text, markup, _ = await _card(uow.session, item, member, locale, data.now())
    await query.answer()
    await context.bot.send_message(query.message.chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def move(update: Update, context: BotContext) -> None:
    """开始办理 moves the item at once; 已办结 and 关闭 first ask for the note. A press on a
    card whose item has moved on is answered, not applied."""
    query, member = update.callback_query, context.member
    match = MOVE.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    locale, data = context.locale(), context.bot_data
    if member is None or member.role not in STAFF:
        await query.answer(label("feedback.for_officers", locale), show_alert=True)
        return
    to, item_id = ACTIONS[match[1]], int(match[2])
    async with context.unit_of_work() as uow:
        item = await feedbacks.get_in_scope(uow.session, item_id, member.region)
        if item is None:
            await query.answer(label("feedback.not_in_scope", locale), show_alert=True)
            return
        if to not in feedbacks.allowed_next(item.status):
            status = label(f"feedback.status_{item.status}", locale)
            await query.answer(label("feedback.no_longer", locale, status=status), show_alert=True)
            return
        if to == FeedbackStatus.IN_PROGRESS:
            await feedbacks.transition(uow.session, item, to, note=None, actor_id=member.id, actor_label=member.name,
                                       now=data.now())
            queued = await _queue_owner_notice(uow.session, item, data.locale, data.now())
            text, markup, _ = await _card(uow.session, item, member, locale, data.now())
            await uow.commit()
    if to != FeedbackStatus.IN_PROGRESS:
        await query.answer()
        await data.runner.start(update, context, NOTE_FORM.name, {"item": item_id, "to": to.value})
        return
    await query.answer(label("feedback.started", locale))
    if isinstance(query.message, Message):
        await _edit(query.message, text, markup)
    if queued:
        # Told at once (quiet hours permitting) rather than at the sender job's next run; a
        # blocked owner only drops their row, the officer's turn is already answered.
        await data.outbox.drain(context.bot, data.session_factory, limit=NOTICE_DRAIN)


async def correct(update: Update, context: BotContext) -> None:
    """Reopens the item on its confirmation card while its author may still correct it."""
    await context.bot_data.runner.reopen(update, context, FORM.name, CORRECT)


async def new_feedback(update: Update, context: BotContext) -> None:
    """Starts the form; from an enterprise card with that enterprise chosen if in the region."""
    query, member = update.callback_query, context.member
    if query is None:
        return
    if member is None or member.role != Role.OFFICER:
        await query.answer(label("feedback.for_officers", context.locale()), show_alert=True)
        return
    await context.bot_data.runner.start_from_button(update, context, FORM.name, NEW)


async def owner_link(update: Update, context: BotContext) -> None:
    """Asks which enterprise (or takes it from the card) and shows its owner's one-time link."""
    query, member = update.callback_query, context.member
    match = LINK.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    if member is None or member.role != Role.OFFICER:
        await query.answer(label("feedback.for_officers", context.locale()), show_alert=True)
        return
    answers: dict[str, Any] = {"_bot": context.bot.username}
    if match[1] is not None:
        async with context.unit_of_work() as uow:
            if await enterprises.get_in_scope(uow.session, int(match[1]), member.region) is None:
                await query.answer(label("enterprise.not_in_scope", context.locale()), show_alert=True)
                return
        answers["enterprise"] = int(match[1])
    await query.answer()
    await context.bot_data.runner.start(update, context, LINK_FORM.name, answers)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as error:
        # Two quick taps can produce the same page twice; Telegram refuses the no-op edit.
        if "not modified" not in error.message:
            raise


async def _queue_owner_notice(session: Any, item: Feedback, bot_locale: str, now: datetime) -> bool:
    """Queues the owner's notice of the item's new status in the outbox, in the caller's unit of
    work (committed with the change, never lost). One per item and status: a repeated press
    queues nothing twice. True if a row was queued."""
    notice = await owner_notice(session, item, bot_locale)
    if notice is None:
        return False
    owner = await feedbacks.owner_of(session, item)
    markup = keyboard(notice.prompt, None, 0)
    buttons = [[{"text": button.text, "callback_data": str(button.callback_data)} for button in row]
               for row in markup.inline_keyboard] if markup is not None else []
    return await outbox.enqueue(
        session, dedupe_key=f"notice:feedback:{item.id}:{item.status}", chat_id=notice.chat_id,
        user_id=owner.id if owner is not None else None, kind="notice", text=notice.prompt.text,
        buttons=buttons, not_before=now,
    )


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("feedback", feedback_command),
        CallbackQueryHandler(new_feedback, pattern=NEW),
        CallbackQueryHandler(show_menu, pattern=PAGE),
        CallbackQueryHandler(show_item, pattern=SHOW),
        CallbackQueryHandler(move, pattern=MOVE),
        CallbackQueryHandler(correct, pattern=CORRECT),
        CallbackQueryHandler(owner_link, pattern=LINK),
    ]
