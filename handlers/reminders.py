"""Reminders: what the sweep's messages say and what their buttons do, and `/away`, `/back`.

`run_sweep(session, now=..., tz=...)` is the scheduler's job body: `storage.sweep.sweep` queues
what is due, as keys; this module composes each reminder when the sender sends it (text from
`templates/<locale>/reminders/` with the subject's values then, buttons from the handlers that
act on them), or drops it if its reason has gone. Buttons: act now (立即填报 — the form or card the
reminder is about), `remind:later:<outbox id>` (明天提醒: tomorrow 09:00 local) and
`remind:skip:<outbox id>` (本期不再提醒). A press re-reads the outbox row and acts only on the
caller's own reminder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.render import label, render
from bot.sender import Composed, register_renderer
from handlers import common, feedback, people, visit
from handlers.adapter import draft_button
from handlers.context import BotContext
from handlers.forms import (
    Accept,
    BaseStep,
    Form,
    FormContext,
    FormState,
    Incoming,
    Prompt,
    Saved,
    StepResult,
    invalid,
    parse_date,
)
from storage import sweep as sweeps
from storage.enums import Role
from storage.models import OutboxMessage, User
from storage.sweep import SweepReport
from storage.uow import unit_of_work

LATER = re.compile(r"^remind:later:(\d{1,9})\Z")
SKIP = re.compile(r"^remind:skip:(\d{1,9})\Z")


def later_button(outbox_id: int) -> str:
    return f"remind:later:{outbox_id}"


def skip_button(outbox_id: int) -> str:
    return f"remind:skip:{outbox_id}"


# ---------------------------------------------------------------- composing a reminder

DEFAULT_LOCALE = "zh_CN"  # for officers who have not chosen one


def _act(values: dict[str, Any]) -> tuple[str, str]:
    """The act-now button of a reminder: (label macro, callback data)."""
    kind = values["kind"]
    if kind == "overdue_visit":
        return "act_visit", visit.start_button(values["enterprise_id"])
    if kind == "feedback":
        return "act_feedback", feedback.item_button(values["feedback_id"])
    if kind == "draft":
        return "act_draft", draft_button("resume", values["draft_id"])
    person = values["person_id"]
    if values["code"] == "review":
        return "act_review", f"people:review:{person}"
    if values["code"] == "talk":
        return "act_talk", f"people:talk:{person}"
    return "act_person", people.person_button(person)


# A drain composes thousands of reminders whose labels (buttons, stages, categories) take a
# handful of values: each is rendered once.
_label = lru_cache(maxsize=256)(label)


def compose(values: dict[str, Any], locale: str, outbox_id: int) -> Composed:
    """A reminder's text in the officer's locale and its three buttons, from what
    `storage.sweep.reasons` read about its subject; the snooze buttons name the outbox row."""
    kind = values["kind"]
    if kind == "overdue_visit":
        text = render("reminders/overdue_visit", locale, enterprise=values["enterprise"], days=values["days"],
                      cadence=values["cadence"])
    elif kind == "feedback":
        text = render("reminders/feedback", locale, enterprise=values["enterprise"], number=values["feedback_id"],
                      days=values["days"], category=_label(f"feedback.category_{values['category']}", locale))
    elif kind == "milestone":
        text = render("reminders/milestone", locale, name=values["name"], enterprise=values["enterprise"],
                      stage=_label(f"people.stage_{values['stage']}", locale), code=values["code"],
                      due=values["due"], overdue=values["overdue"])
    else:
        text = render("reminders/draft", locale, form=_label("form_name", locale, code=values["form"]),
                      enterprise=values["enterprise"], day=values["day"])
    act, data = _act(values)
    buttons = [
        [{"text": _label(f"reminders.{act}", locale), "callback_data": data}],
        [{"text": _label("reminders.later", locale), "callback_data": later_button(outbox_id)},
         {"text": _label("reminders.skip", locale), "callback_data": skip_button(outbox_id)}],
    ]
    return text, buttons


async def render_reminders(session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime,
                           tz: ZoneInfo) -> dict[int, Composed | None]:
    """The sender's renderer of reminder rows: each one's text and buttons from its subject's
    values now, in its officer's current locale; None for one whose reason has gone."""
    reasons = await sweeps.reasons(session, rows, now=now, tz=tz)
    user_ids = {row.user_id for row in rows if row.user_id is not None}
    locales = dict((await session.execute(select(User.id, User.locale).where(User.id.in_(user_ids)))).tuples().all())
    return {row.id: None if (values := reasons[row.id]) is None
            else compose(values, locales.get(row.user_id or 0) or DEFAULT_LOCALE, row.id)
            for row in rows}


# The sender composes reminder rows when it sends them (the sweep queues their keys only).
register_renderer(sweeps.KINDS, render_reminders)


async def run_sweep(session: AsyncSession, *, now: datetime, tz: ZoneInfo,
                    limit: int = sweeps.ROWS_PER_SWEEP) -> SweepReport:
    """The scheduler's sweep: queues every due reminder once, at most `limit` rows a sweep. The
    caller commits."""
    return await sweeps.sweep(session, now=now, tz=tz, limit=limit)


# ---------------------------------------------------------------- the snooze buttons


async def snooze(update: Update, context: BotContext) -> None:
    """明天提醒 or 本期不再提醒 on the caller's own reminder; a toast says which."""
    query, member = update.callback_query, context.member
    data = query.data or "" if query is not None else ""
    later, skip = LATER.fullmatch(data), SKIP.fullmatch(data)
    match = later or skip
    if query is None or match is None:
        return
    if member is None:
        await query.answer(label("unknown_button", context.locale()))
        return
    now = context.bot_data.now()
    async with unit_of_work(context.bot_data.session_factory) as uow:
        row = await sweeps.reminder_row(uow.session, int(match[1]), member.id)
        if row is None:
            await query.answer(label("reminders.not_yours", context.locale()), show_alert=True)
            return
        until = sweeps.later_until(now, context.bot_data.tz) if later else None
        await sweeps.snooze(uow.session, row, user_id=member.id, actor_label=member.name, now=now, until=until,
                            skip=skip is not None)
        await uow.commit()
    await query.answer(label("reminders.snoozed_later" if later else "reminders.snoozed_skip", context.locale()))


# ---------------------------------------------------------------- /away and /back


class AwayStep(BaseStep):
    """A typed end date of the leave: today or later, within `MAX_AWAY_DAYS`."""

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        return Prompt(self._text(ctx, state))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        value = parse_date(incoming.text, ctx.today) if incoming.text is not None else None
        if value is None:
            return invalid("date_format")
        # `01-05` typed in late December means the coming January here (a leave lies ahead,
        # unlike the past work a report is about), when that is within the allowed leave.
        if value < ctx.today and (value.month, value.day) != (2, 29):
            ahead = value.replace(year=value.year + 1)
            value = ahead if sweeps.away_problem(ahead, ctx.today) is None else value
        problem = sweeps.away_problem(value, ctx.today)
        if problem == "away_past":
            return invalid("away_past")
        if problem == "away_too_far":
            return invalid("away_too_far", latest=sweeps.away_latest(ctx.today))
        return Accept(value.isoformat())


async def _describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    return {"until": answers.get("until")}


async def _save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the end of the leave; no reminders until the day after it."""
    until = date.fromisoformat(answers["until"])
    await sweeps.set_away(ctx.session, ctx.member.id, until, actor_label=ctx.member.name, now=ctx.now)
    return Saved(Prompt(render("reminders/away_saved", ctx.locale, until=until)))


AWAY_FORM = Form(
    name="away",
    steps=(AwayStep("until", "reminders/ask_away", title="command_away", editable=False),),
    confirm=None,
    describe=_describe,
    save=_save,
)
FORMS = (AWAY_FORM,)


async def away(update: Update, context: BotContext) -> None:
    """Asks until which day the officer is away."""
    if not await common.allowed(update, context, Role.OFFICER):
        return
    await context.bot_data.runner.start(update, context, AWAY_FORM.name)


async def back(update: Update, context: BotContext) -> None:
    """Ends the leave: reminders resume with the next sweep."""
    if not await common.allowed(update, context, Role.OFFICER) or context.member is None:
        return
    message = update.effective_message
    async with unit_of_work(context.bot_data.session_factory) as uow:
        was_away = await sweeps.set_away(uow.session, context.member.id, None, actor_label=context.member.name,
                                         now=context.bot_data.now())
        await uow.commit()
    if message is not None:
        await message.reply_text(render("reminders/back", context.locale(), was_away=was_away),
                                 parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("away", away),
        CommandHandler("back", back),
        CallbackQueryHandler(snooze, pattern=LATER),
        CallbackQueryHandler(snooze, pattern=SKIP),
    ]
