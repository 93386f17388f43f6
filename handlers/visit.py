"""`/visit`: the visit report form — its steps read like the conversation's diagram."""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.render import label, render
from handlers import common
from handlers.context import BotContext
from handlers.forms import (
    ChoiceStep,
    ConfirmStep,
    DateStep,
    Form,
    FormContext,
    Invalid,
    LookupStep,
    MediaStep,
    MultiStep,
    NumberStep,
    Prompt,
    Saved,
    TextStep,
    invalid,
)
from handlers.pickers import EnterpriseSource
from storage import enterprises, visits
from storage.enums import Activity, Role

MAX_EMPLOYEES = 1_000_000


def _updating(answers: dict[str, Any]) -> bool:
    return answers.get("headcount") == "update"


def _members_within_employees(answers: dict[str, Any], members: int) -> Invalid | None:
    employees = answers.get("employees")
    if employees is not None and members > employees:
        return invalid("members_exceed_employees", employees=employees)
    return None


FORM = Form(
    name="visit",
    steps=(
        LookupStep("enterprise", "visit/ask_enterprise", title="field_enterprise", source=EnterpriseSource()),
        DateStep("visit_date", "visit/ask_date", title="field_date"),
        MultiStep("activities", "visit/ask_activities", title="field_activities",
                  options=tuple((a.value, f"activity_{a.value}") for a in Activity)),
        ChoiceStep("headcount", "visit/ask_headcount", title="field_headcount",
                   options=(("same", "headcount_same"), ("update", "headcount_update"))),
        NumberStep("employees", "visit/ask_employees", title="field_employees", when=_updating,
                   maximum=MAX_EMPLOYEES),
        NumberStep("party_members", "visit/ask_party_members", title="field_party_members", when=_updating,
                   maximum=MAX_EMPLOYEES, check=_members_within_employees),
        TextStep("summary", "visit/ask_summary", title="field_summary", accepts_voice=True, max_length=1500),
        TextStep("follow_up", "visit/ask_follow_up", title="field_follow_up", optional=True, max_length=500),
        MediaStep("media", "visit/ask_media", title="field_media", optional=True),
    ),
    confirm=ConfirmStep(card="visit/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
)


FORMS = (FORM,)


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    """The card's values: names for ids, labels for codes; missing answers stay None."""
    enterprise = None
    if answers.get("enterprise") is not None:
        enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    summary = answers.get("summary") or {}
    follow_up = answers.get("follow_up") or {}
    media = answers.get("media") or []
    return {
        "enterprise": enterprise.name if enterprise else None,
        "visit_date": date.fromisoformat(answers["visit_date"]) if answers.get("visit_date") else None,
        "activities": [label(f"activity_{code}", ctx.locale) for code in answers.get("activities") or []],
        "employees": answers.get("employees"),
        "party_members": answers.get("party_members"),
        "summary": summary.get("text"),
        "summary_voice": "voice" in summary,
        "follow_up": follow_up.get("text"),
        "photos": sum(1 for item in media if item["type"] == "photo"),
        "voices": sum(1 for item in media if item["type"] == "voice"),
        "located": any(item["type"] == "location" for item in media),
    }


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the visit (and any new head counts) and returns the receipt."""
    # Checked again at saving: the enterprise may have left the officer's region meanwhile.
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    summary = answers["summary"]
    media = answers.get("media") or []
    location = next((item for item in media if item["type"] == "location"), None)
    visit = await visits.create(
        ctx.session,
        visits.NewVisit(
            enterprise_id=enterprise.id,
            officer_id=ctx.member.id,
            visit_date=date.fromisoformat(answers["visit_date"]),
            activities=answers["activities"],
            summary=summary.get("text"),
            summary_voice_file_id=summary.get("voice"),
            follow_up=(answers.get("follow_up") or {}).get("text"),
            employees=answers.get("employees"),
            party_members=answers.get("party_members"),
            media=[item for item in media if item["type"] != "location"],
            latitude=location["latitude"] if location else None,
            longitude=location["longitude"] if location else None,
        ),
        actor_label=ctx.member.name,
        now=ctx.now,
    )
    receipt = render("visit/saved", ctx.locale, number=visit.id, enterprise=enterprise.name)
    return Saved(Prompt(receipt), visit)


async def start_visit(update: Update, context: BotContext) -> None:
    """Opens the visit form (or offers the unfinished draft back)."""
    if not await common.allowed(update, context, Role.OFFICER):
        return
    await context.bot_data.runner.start(update, context, FORM.name)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CommandHandler("visit", start_visit)]
