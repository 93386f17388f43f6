"""What the reminders' snooze buttons do, and `/away`, `/back`.

The sweep (`storage.sweep`) queues what is due; `output.reminders` words each reminder when it
is sent. Its buttons: act now (the form or card the reminder is about, answered by that form's
module), `remind:later:<outbox id>` (明天提醒: tomorrow 09:00 local) and `remind:skip:<outbox id>`
(本期不再提醒), answered here. A press re-reads the outbox row and acts only on the caller's own
reminder.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common
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
from output.reminders import LATER, SKIP
from output.render import label, render
from storage import sweep as sweeps
from storage.enums import Role

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
    async with context.unit_of_work() as uow:
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
    async with context.unit_of_work() as uow:
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
