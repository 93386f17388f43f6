"""`/people`: the officer's people in development, what is due for each, and the person card
with its actions — advance a stage, add a half-yearly review note 考察记录, record the talk
with an applicant, withdraw, correct.

Every press re-reads the person in the caller's region: a forged id is refused, and a button
from an older card (the stage has moved on since) is answered as stale instead of applied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common, nomination
from handlers.context import BotContext
from handlers.forms import ConfirmStep, DateStep, Form, FormContext, Invalid, Prompt, Saved, TextStep, invalid, link
from output.render import label, render
from storage import development, people
from storage.development import ORDER, STAGE_DATE, Pipeline
from storage.enums import Role, Stage
from storage.models import Enterprise, Person

PAGE = re.compile(r"^people:page:(\d{1,4})(?::e(\d{1,9}))?\Z")
# From an enterprise card: a new list of that enterprise's people (page buttons then turn it).
ENTERPRISE = re.compile(r"^people:ent:(\d{1,9})\Z")
SHOW = re.compile(r"^people:show:(\d{1,9})\Z")
ADVANCE = re.compile(r"^people:advance:(\d{1,9}):([a-z]{1,16})\Z")
REVIEW = re.compile(r"^people:review:(\d{1,9})\Z")
WITHDRAW = re.compile(r"^people:withdraw:(\d{1,9})\Z")
TALK = re.compile(r"^people:talk:(\d{1,9})\Z")
PAGE_SIZE = 10
NOTE_MAX = 1000
REASON_MAX = 200


def enterprise_people_button(enterprise_id: int) -> str:
    return f"people:ent:{enterprise_id}"


def person_button(person_id: int) -> str:
    """Callback data that opens the person card."""
    return f"people:show:{person_id}"


def advance_button(person_id: int, to: Stage) -> str:
    return f"people:advance:{person_id}:{to.value}"


def next_stage(stage: str) -> Stage | None:
    """The stage after this one; None for full members and the withdrawn."""
    if stage not in {s.value for s in ORDER[:-1]}:
        return None
    return ORDER[ORDER.index(Stage(stage)) + 1]


# ---------------------------------------------------------------- the forms of the card


def _carried(person: Person, **extra: Any) -> dict[str, Any]:
    """What a card's form starts with: the person, the stage it was pressed at, and their dates
    (the date checks run without the database)."""
    dates = {name: getattr(person, name).isoformat() for name in ("birth_date", *people.DATE_FIELDS)
             if getattr(person, name) is not None}
    return {"person": person.id, "from": person.stage, "dates": dates, **extra}


def card_pipeline(answers: dict[str, Any]) -> Pipeline:
    """The person's dates with what the form answered put in: the new stage's date (and the
    notice's start) for an advance, the talk's date for an applicant."""
    to = Stage(answers.get("to") or answers["from"])
    dates = {name: date.fromisoformat(value) for name, value in answers["dates"].items()}
    if answers.get("on"):
        dates[STAGE_DATE[to]] = date.fromisoformat(answers["on"])
    for name in ("notice_started_on", "talked_on"):
        if answers.get(name):
            dates[name] = date.fromisoformat(answers[name])
    return Pipeline(stage=to, **dates)


def _not_before(field: str) -> nomination.DateCheck:
    """A check that a date is not before one of the person's recorded dates."""

    def check(answers: dict[str, Any], value: date) -> Invalid | None:
        earliest = answers["dates"].get(field)
        if earliest is not None and value < date.fromisoformat(earliest):
            return invalid("date_before_previous", previous=field, date=date.fromisoformat(earliest))
        return None

    return check


def _withdraw_check(answers: dict[str, Any], value: date) -> Invalid | None:
    return _not_before(STAGE_DATE[Stage(answers["from"])])(answers, value)


ADVANCE_FORM = Form(
    name="advance",
    steps=(
        DateStep("on", "people/ask_advance_date", title="people.field_date", max_days_back=nomination.STAGE_DAYS_BACK,
                 check=nomination.rule_check(card_pipeline, "on", lambda a: STAGE_DATE[Stage(a["to"])])),
        DateStep("notice_started_on", "people/ask_notice_started_on", title="people.field_notice_started_on",
                 when=lambda answers: answers.get("to") == Stage.CANDIDATE, max_days_back=nomination.STAGE_DAYS_BACK,
                 check=nomination.notice_check(card_pipeline)),
    ),
    confirm=ConfirmStep(card="people/advance_confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save_advance(ctx, answers),
)
REVIEW_FORM = Form(
    name="review_note",
    steps=(
        DateStep("written_on", "people/ask_review_date", title="people.field_date",
                 max_days_back=nomination.STAGE_DAYS_BACK, check=_not_before("applied_on")),
        TextStep("content", "people/ask_review_text", title="people.field_review", max_length=NOTE_MAX),
    ),
    confirm=None,
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save_review(ctx, answers),
)
WITHDRAW_FORM = Form(
    name="withdraw",
    steps=(
        DateStep("withdrawn_on", "people/ask_withdraw_date", title="people.field_date",
                 max_days_back=nomination.STAGE_DAYS_BACK, check=_withdraw_check),
        TextStep("reason", "people/ask_withdraw_reason", title="people.field_reason", max_length=REASON_MAX),
    ),
    confirm=ConfirmStep(card="people/withdraw_confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save_withdraw(ctx, answers),
)
# The talk with an applicant (within a month of applying) is a reminder; this records it.
TALK_FORM = Form(
    name="talk",
    steps=(DateStep("talked_on", "people/ask_talk_date", title="people.field_talked_on",
                    max_days_back=nomination.STAGE_DAYS_BACK, check=nomination.rule_check(card_pipeline, "talked_on")),),
    confirm=None,
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save_talk(ctx, answers),
)
FORMS = (ADVANCE_FORM, REVIEW_FORM, WITHDRAW_FORM, TALK_FORM)


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    person = await people.get_in_scope(ctx.session, answers["person"], ctx.member.region)
    return {
        "name": person.name if person else None,
        "to": answers.get("to"),
        "on": date.fromisoformat(answers["on"]) if answers.get("on") else None,
        "notice_started_on": date.fromisoformat(answers["notice_started_on"]) if answers.get("notice_started_on")
        else None,
        "withdrawn_on": date.fromisoformat(answers["withdrawn_on"]) if answers.get("withdrawn_on") else None,
        "reason": (answers.get("reason") or {}).get("text"),
    }


async def _person_for(ctx: FormContext, answers: dict[str, Any]) -> Person:
    person = await people.get_in_scope(ctx.session, answers["person"], ctx.member.region)
    if person is None:
        raise PermissionError("person left the officer's scope")
    return person


def _card_link(ctx: FormContext, person: Person) -> tuple[tuple[Any, ...], ...]:
    return ((link(person_button(person.id), label("people.open_card", ctx.locale)),),)


def _stale(ctx: FormContext, person: Person) -> Saved:
    """The stage moved on while the form was open (another officer, another chat): nothing saved."""
    text = render("people/changed", ctx.locale, name=person.name, stage=person.stage)
    return Saved(Prompt(text, _card_link(ctx, person)))


async def save_advance(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Moves the person to the next stage, if nobody moved them meanwhile."""
    person = await _person_for(ctx, answers)
    if person.stage != answers["from"]:
        return _stale(ctx, person)
    to, on = Stage(answers["to"]), date.fromisoformat(answers["on"])
    notice = date.fromisoformat(answers["notice_started_on"]) if answers.get("notice_started_on") else None
    # The form checked these dates against the ones carried from the card; check the stored ones.
    problem = development.check_dates(card_pipeline({**answers, **_carried(person, to=to.value)}))
    if problem is not None:
        raise ValueError(f"advance breaks rule {problem.code}")
    await people.advance(ctx.session, person, to, on, notice_started_on=notice, actor_id=ctx.member.id,
                         actor_label=ctx.member.name, now=ctx.now)
    text = render("people/advanced", ctx.locale, name=person.name, stage=to.value, on=on)
    return Saved(Prompt(text, _card_link(ctx, person)), person)


async def save_review(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the review note; the next half-yearly review is counted from it."""
    person = await _person_for(ctx, answers)
    if person.stage == Stage.WITHDRAWN:
        return _stale(ctx, person)
    written_on = date.fromisoformat(answers["written_on"])
    await people.add_review_note(ctx.session, person, written_on, answers["content"]["text"], author_id=ctx.member.id,
                                 actor_label=ctx.member.name, now=ctx.now)
    notes = await people.review_notes(ctx.session, person.id)
    due = development.milestones(people.pipeline(person, notes[0].written_on), ctx.today)
    review = next((m for m in due if m.code == "review"), None)
    text = render("people/review_saved", ctx.locale, name=person.name, written_on=written_on,
                  next_review=review.due if review else None)
    return Saved(Prompt(text, _card_link(ctx, person)), person)


async def save_talk(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Records the talk with an applicant, unless it was recorded or they moved on meanwhile."""
    person = await _person_for(ctx, answers)
    if person.stage != Stage.APPLICANT or person.talked_on is not None:
        return _stale(ctx, person)
    on = date.fromisoformat(answers["talked_on"])
    await people.record_talk(ctx.session, person, on, actor_id=ctx.member.id, actor_label=ctx.member.name, now=ctx.now)
    text = render("people/talked", ctx.locale, name=person.name, on=on)
    return Saved(Prompt(text, _card_link(ctx, person)), person)


async def save_withdraw(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Ends the person's development, if it has not ended or moved on meanwhile."""
    person = await _person_for(ctx, answers)
    if person.stage != answers["from"]:
        return _stale(ctx, person)
    on = date.fromisoformat(answers["withdrawn_on"])
    await people.withdraw(ctx.session, person, on, answers["reason"]["text"], actor_id=ctx.member.id,
                          actor_label=ctx.member.name, now=ctx.now)
    text = render("people/withdrawn", ctx.locale, name=person.name, on=on)
    return Saved(Prompt(text, _card_link(ctx, person)), person)


# ---------------------------------------------------------------- the list and the card


async def show_people(update: Update, context: BotContext) -> None:
    """Lists the officer's people, overdue milestones first, a page at a time."""
    query = update.callback_query
    turned = PAGE.fullmatch(query.data or "") if query is not None else None
    opened = ENTERPRISE.fullmatch(query.data or "") if query is not None else None
    if query is None and not await common.allowed(update, context, Role.OFFICER):
        return
    member, chat = context.member, update.effective_chat
    if member is None or chat is None:
        return
    if member.role != Role.OFFICER and query is not None:
        await query.answer(label("unknown_button", context.locale()))
        return
    today, locale = context.bot_data.today(), context.locale()
    # From an enterprise card: that enterprise's people only (the region check stays in the query).
    enterprise_id = int(turned[2]) if turned and turned[2] else int(opened[1]) if opened else None
    suffix = f":e{enterprise_id}" if enterprise_id else ""
    async with context.unit_of_work() as uow:
        rows = await people.for_officer(uow.session, member.id, member.region, today, enterprise_id)
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(max(int(turned[1]) if turned else 1, 1), pages)
    first = (page - 1) * PAGE_SIZE
    shown = rows[first : first + PAGE_SIZE]
    text = render("people/list", locale, rows=shown, total=len(rows), page=page, pages=pages, first=first,
                  overdue=sum(1 for r in rows if r.next is not None and r.next.overdue), today=today)
    cards = [InlineKeyboardButton(label("people.person_button", locale, number=first + i + 1, name=row.name,
                                        overdue=row.next is not None and row.next.overdue),
                                  callback_data=person_button(row.id)) for i, row in enumerate(shown)]
    nav = [InlineKeyboardButton(label(name, locale), callback_data=f"people:page:{target}{suffix}")
           for name, target in (("previous_page", page - 1), ("next_page", page + 1)) if 1 <= target <= pages]
    keyboard = [cards[i : i + 2] for i in range(0, len(cards), 2)] + ([nav] if nav else [])
    markup = InlineKeyboardMarkup(keyboard) if keyboard else None
    if turned is not None and query is not None and query.message is not None:
        await common.turn_page(query, context, text, markup)
        return
    if query is not None:
        await query.answer()
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


def _actions(person: Person, correctable: bool, locale: str) -> InlineKeyboardMarkup | None:
    to = next_stage(person.stage)
    buttons = []
    if to is not None:
        buttons.append(InlineKeyboardButton(label(f"people.advance_to_{to.value}", locale),
                                            callback_data=advance_button(person.id, to)))
    if person.stage == Stage.APPLICANT and person.talked_on is None:
        buttons.append(InlineKeyboardButton(label("people.record_talk", locale), callback_data=f"people:talk:{person.id}"))
    if person.stage not in (Stage.WITHDRAWN, Stage.FULL):
        buttons.append(InlineKeyboardButton(label("people.add_review", locale), callback_data=f"people:review:{person.id}"))
        buttons.append(InlineKeyboardButton(label("people.withdraw", locale), callback_data=f"people:withdraw:{person.id}"))
    if correctable:
        buttons.append(InlineKeyboardButton(label("correct", locale), callback_data=nomination.correct_button(person.id)))
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)]) if buttons else None


async def show_person(update: Update, context: BotContext) -> None:
    """Shows the card of a person in the caller's region (refuses any other)."""
    query, member = update.callback_query, context.member
    match = SHOW.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return
    locale = context.locale()
    if member is None or member.role not in (Role.OFFICER, Role.SUPERVISOR):
        await query.answer(label("unknown_button", locale))
        return
    data = context.bot_data
    today = data.today()
    async with context.unit_of_work() as uow:
        person = await people.get_in_scope(uow.session, int(match[1]), member.region)
        if person is None:
            await query.answer(label("people.not_in_scope", locale), show_alert=True)
            return
        enterprise = await uow.session.get_one(Enterprise, person.enterprise_id)
        notes = await people.review_notes(uow.session, person.id)
        correctable = await nomination.CORRECTION.allows(uow.session, member, person, data.now())
    since = people.stage_since(person)
    due = development.milestones(people.pipeline(person, notes[0].written_on if notes else None), today)
    text = render("people/card", locale, person=people.PersonFacts.of(person), enterprise=enterprise.name, since=since,
                  days_in_stage=(today - since).days if since else None, milestones=due, reviews=len(notes),
                  latest=notes[0] if notes else None, age=development.age_on(person.birth_date, today))
    markup = _actions(person, correctable, locale) if member.role == Role.OFFICER else None
    await query.answer()
    await context.bot.send_message(query.from_user.id, text,
                                   parse_mode=ParseMode.HTML, reply_markup=markup)


async def _pressed(update: Update, context: BotContext, pattern: re.Pattern[str]) -> tuple[Person, re.Match[str]] | None:
    """The person a card button names, if the officer may act on them; else answers why not."""
    query, member = update.callback_query, context.member
    match = pattern.fullmatch(query.data or "") if query else None
    if query is None or match is None:
        return None
    if member is None or member.role != Role.OFFICER:
        await query.answer(label("unknown_button", context.locale()))
        return None
    async with context.unit_of_work() as uow:
        person = await people.get_in_scope(uow.session, int(match[1]), member.region)
    if person is None:
        await query.answer(label("people.not_in_scope", context.locale()), show_alert=True)
        return None
    return person, match


async def _start(update: Update, context: BotContext, pattern: re.Pattern[str], form: str,
                 allowed: Callable[[Person, re.Match[str]], bool], **extra: Any) -> None:
    """Starts a person's form from their card, unless the card is older than what it shows
    (the stage has moved on, the talk was recorded): then the press is answered as stale."""
    pressed = await _pressed(update, context, pattern)
    if pressed is None or update.callback_query is None:
        return
    person, match = pressed
    if not allowed(person, match):
        await update.callback_query.answer(label("people.stale", context.locale()), show_alert=True)
        return
    await update.callback_query.answer()
    await context.bot_data.runner.start(update, context, form, _carried(person, **extra))


def _advance_target(person: Person, match: re.Match[str]) -> bool:
    to = next_stage(person.stage)
    return to is not None and to.value == match[2]


def _in_development(person: Person, _match: re.Match[str]) -> bool:
    return person.stage not in (Stage.WITHDRAWN, Stage.FULL)


def _awaiting_talk(person: Person, _match: re.Match[str]) -> bool:
    return person.stage == Stage.APPLICANT and person.talked_on is None


async def start_advance(update: Update, context: BotContext) -> None:
    """Asks the date of the next stage, unless the card was older than the person's stage."""
    match = ADVANCE.fullmatch(update.callback_query.data or "") if update.callback_query else None
    await _start(update, context, ADVANCE, ADVANCE_FORM.name, _advance_target,
                 **({"to": match[2]} if match else {}))


async def start_review(update: Update, context: BotContext) -> None:
    """Asks the date and text of a review note."""
    await _start(update, context, REVIEW, REVIEW_FORM.name, _in_development)


async def start_withdraw(update: Update, context: BotContext) -> None:
    """Asks the date and reason of a withdrawal."""
    await _start(update, context, WITHDRAW, WITHDRAW_FORM.name, _in_development)


async def start_talk(update: Update, context: BotContext) -> None:
    """Asks the date of the talk with an applicant."""
    await _start(update, context, TALK, TALK_FORM.name, _awaiting_talk)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("people", show_people),
        CallbackQueryHandler(show_people, pattern=PAGE),
        CallbackQueryHandler(show_people, pattern=ENTERPRISE),
        CallbackQueryHandler(show_person, pattern=SHOW),
        CallbackQueryHandler(start_advance, pattern=ADVANCE),
        CallbackQueryHandler(start_review, pattern=REVIEW),
        CallbackQueryHandler(start_withdraw, pattern=WITHDRAW),
        CallbackQueryHandler(start_talk, pattern=TALK),
    ]
