"""`/found`: recording a party organisation founded at an enterprise (新建党组织)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import (
    ChoiceStep,
    ConfirmStep,
    Correction,
    DateStep,
    Form,
    FormContext,
    LookupStep,
    NumberStep,
    Prompt,
    Saved,
    TextStep,
    link,
)
from handlers.pickers import EnterpriseSource
from output.render import label, render
from storage import enterprises, foundings
from storage.enums import Formation, OrgCategory, Role
from storage.models import Founding

START = re.compile(r"^found:start:(\d{1,9})\Z")
CORRECT = re.compile(r"^found:correct:(\d{1,9})\Z")
# 党章第三十条: three formal members may form a party organisation.
MIN_MEMBERS = 3

FORM = Form(
    name="found",
    steps=(
        LookupStep("enterprise", "founding/ask_enterprise", title="field_enterprise", source=EnterpriseSource()),
        DateStep("founded_on", "founding/ask_date", title="founding.field_date", max_days_back=3 * 366),
        ChoiceStep("category", "founding/ask_type", title="founding.field_type",
                   options=tuple((c.value, f"category_{c.value}") for c in OrgCategory)),
        ChoiceStep("formation", "founding/ask_method", title="founding.field_method",
                   options=tuple((f.value, f"formation_{f.value}") for f in Formation)),
        TextStep("secretary", "founding/ask_secretary", title="founding.field_secretary", max_length=32),
        NumberStep("members", "founding/ask_members", title="founding.field_members", minimum=MIN_MEMBERS,
                   maximum=100_000),
    ),
    confirm=ConfirmStep(card="founding/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
    correction=Correction(entity=foundings.ENTITY, get=foundings.get_in_scope,
                          answers=lambda ctx, founding: answers_of(founding)),
)
FORMS = (FORM,)


def start_button(enterprise_id: int) -> str:
    return f"found:start:{enterprise_id}"


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    enterprise = None
    if answers.get("enterprise") is not None:
        enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    return {
        "enterprise": enterprise.name if enterprise else None,
        "founded_on": date.fromisoformat(answers["founded_on"]) if answers.get("founded_on") else None,
        "org_type": label(f"category_{answers['category']}", ctx.locale) if answers.get("category") else None,
        "method": label(f"formation_{answers['formation']}", ctx.locale) if answers.get("formation") else None,
        "secretary": (answers.get("secretary") or {}).get("text"),
        "members": answers.get("members"),
    }


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the founding (or the correction of one) and sets the enterprise's organisation."""
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    new = foundings.NewFounding(
        enterprise_id=enterprise.id, founded_on=date.fromisoformat(answers["founded_on"]),
        category=answers["category"], formation=answers["formation"], secretary=answers["secretary"]["text"],
        members=answers["members"], officer_id=ctx.member.id,
    )
    founding: Founding = ctx.correcting
    if founding is not None:
        await foundings.correct(ctx.session, founding, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                                now=ctx.now)
    else:
        founding = await foundings.create(ctx.session, new, actor_label=ctx.member.name, now=ctx.now)
    text = render("founding/saved", ctx.locale, number=founding.id, enterprise=enterprise.name,
                  corrected=ctx.correcting is not None)
    return Saved(Prompt(text, ((link(f"found:correct:{founding.id}", label("correct", ctx.locale)),),)), founding)


async def answers_of(founding: Founding) -> dict[str, Any]:
    """The form's answers for a saved founding: a correction starts from them, on the card."""
    return {
        "enterprise": founding.enterprise_id, "founded_on": founding.founded_on.isoformat(),
        "category": founding.category, "formation": founding.formation, "secretary": {"text": founding.secretary},
        "members": founding.members,
    }


async def start_found(update: Update, context: BotContext) -> None:
    """Opens the founding form, with the enterprise chosen when it came from its card."""
    if await common.allowed(update, context, Role.OFFICER):
        await context.bot_data.runner.start_from_button(update, context, FORM.name, START)


async def correct_founding(update: Update, context: BotContext) -> None:
    """Reopens a saved founding on its confirmation card, if it may still be corrected."""
    await context.bot_data.runner.reopen(update, context, FORM.name, CORRECT)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("found", start_found),
        CallbackQueryHandler(start_found, pattern=START),
        CallbackQueryHandler(correct_founding, pattern=CORRECT),
    ]
