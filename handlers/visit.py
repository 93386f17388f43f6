"""`/visit`: the visit report form — its steps read like the conversation's diagram."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common, nomination
from handlers.context import BotContext
from handlers.forms import (
    ChoiceStep,
    ConfirmStep,
    Correction,
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
    link,
)
from handlers.pickers import EnterpriseSource
from output.render import label, render
from storage import enterprises, visits
from storage.enums import Activity, Role
from storage.models import Visit

MAX_EMPLOYEES = 1_000_000
CORRECT = re.compile(r"^visit:correct:(\d{1,9})\Z")
START = re.compile(r"^visit:start:(\d{1,9})\Z")


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
    correction=Correction(entity=visits.ENTITY, get=visits.get_in_scope, answers=lambda ctx, visit: answers_of(visit)),
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
    """Stores the visit (or its correction, with any new head counts) and returns the receipt."""
    # Checked again at saving: the enterprise may have left the officer's region meanwhile.
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    summary = answers["summary"]
    media = answers.get("media") or []
    location = next((item for item in media if item["type"] == "location"), None)
    new = visits.NewVisit(
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
    )
    visit: Visit = ctx.correcting
    if visit is not None:
        await visits.correct(ctx.session, visit, new, actor_id=ctx.member.id, actor_label=ctx.member.name, now=ctx.now)
    else:
        visit = await visits.create(ctx.session, new, actor_label=ctx.member.name, now=ctx.now)
    receipt = render("visit/saved", ctx.locale, number=visit.id, enterprise=enterprise.name,
                     corrected=ctx.correcting is not None)
    buttons = [link(f"visit:correct:{visit.id}", label("correct", ctx.locale))]
    # Cultivating activists was part of the visit: registering the applicant is the natural next step.
    if Activity.ACTIVISTS.value in new.activities:
        buttons.append(link(nomination.start_button(enterprise.id), label("nominate_next", ctx.locale)))
    return Saved(Prompt(receipt, (tuple(buttons),)), visit)


async def answers_of(visit: Visit) -> dict[str, Any]:
    """The form's answers for a saved visit: a correction starts from them, on the card."""
    media: list[dict[str, Any]] = list(visit.media or [])
    if visit.latitude is not None and visit.longitude is not None:
        media.append({"type": "location", "latitude": visit.latitude, "longitude": visit.longitude})
    counted = visit.employees is not None or visit.party_members is not None
    answers: dict[str, Any] = {
        "enterprise": visit.enterprise_id,
        "visit_date": visit.visit_date.isoformat(),
        "activities": list(visit.activities),
        "headcount": "update" if counted else "same",
        "summary": {"voice": visit.summary_voice_file_id} if visit.summary is None else {"text": visit.summary},
        "follow_up": {"text": visit.follow_up} if visit.follow_up else None,
        "media": media,
    }
    if counted:
        answers |= {"employees": visit.employees, "party_members": visit.party_members}
    return answers


async def correct_visit(update: Update, context: BotContext) -> None:
    """Reopens a saved visit on its confirmation card, while it may still be corrected."""
    await context.bot_data.runner.reopen(update, context, FORM.name, CORRECT)


def start_button(enterprise_id: int) -> str:
    return f"visit:start:{enterprise_id}"


async def start_visit(update: Update, context: BotContext) -> None:
    """Opens the visit form (or offers the unfinished draft back); from an enterprise card or a
    reminder, with that enterprise already chosen if it is in the officer's region."""
    if await common.allowed(update, context, Role.OFFICER):
        await context.bot_data.runner.start_from_button(update, context, FORM.name, START)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("visit", start_visit),
        CallbackQueryHandler(start_visit, pattern=START),
        CallbackQueryHandler(correct_visit, pattern=CORRECT),
    ]
