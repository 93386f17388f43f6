"""调整党组织 from an enterprise card: a change of the organisation that covers it — its category
(a 党支部 becoming a 党总支 or 党委, renamed to match), a new secretary, or a joint branch split
(enterprises leave it, each to form its own 党支部 or to none) — on a date, with history.

The organisation is named by the card's enterprise, in the officer's region, and changed only
when every enterprise it covers is in that region too (`organisations.get_in_scope`). The
officer's record of the change is reviewed and correctable for 24 hours like every record.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import (
    DONE,
    PENDING,
    RECORD,
    Accept,
    BaseStep,
    ChoiceStep,
    ConfirmStep,
    Correction,
    DateStep,
    Form,
    FormContext,
    FormState,
    Incoming,
    Invalid,
    Option,
    Prompt,
    Saved,
    Stay,
    StepResult,
    TextStep,
    invalid,
    link,
)
from handlers.founding import (
    CATEGORY_OPTIONS,
    CHANGE_FORM,
    DAYS_BACK,
    JOINT_CATEGORIES,
    SECRETARY_MAX,
    STANDARD,
    OrgNameStep,
    correct_button,
    enterprise_id_of,
    secretary_source_step,
)
from handlers.pickers import ENTERPRISE_KEY_PREFIX
from output.render import label, render
from storage import enterprises, foundings, organisations, rules
from storage.enums import ChangeKind, Formation, OrgCategory, Role
from storage.models import Enterprise, Founding, PartyOrganisation

START = re.compile(r"^org:change:(\d{1,9})\Z")


def start_button(enterprise_id: int) -> str:
    return f"org:change:{enterprise_id}"


# ---------------------------------------------------------------- ticking enterprises of the organisation


Choices = Callable[[FormContext, dict[str, Any]], Awaitable[list[Enterprise]]]


@dataclass(frozen=True)
class PickStep(BaseStep):
    """Some of a list of enterprises read from the records (those a joint branch covers),
    ticked one by one, then 'next'. Ticks redraw the same message."""

    choices: Choices | None = None
    # A rule on what was picked, of how many offered: the problem, or None.
    check: Callable[[list[int], int], Invalid | None] | None = None

    async def _offered(self, ctx: FormContext, state: FormState) -> list[Enterprise]:
        assert self.choices is not None, f"pick step {self.name} offers nothing"
        return await self.choices(ctx, state.answers)

    def _picked(self, state: FormState, offered: list[Enterprise]) -> list[int]:
        collected = state.answers[PENDING] if PENDING in state.answers else state.answers.get(self.name) or []
        return [firm.id for firm in offered if firm.id in collected]

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        offered = await self._offered(ctx, state)
        picked = self._picked(state, offered)
        rows = tuple((Option(f"{ENTERPRISE_KEY_PREFIX}{firm.id}", label(
            "ticked" if firm.id in picked else "unticked", ctx.locale,
            text=label("founding.enterprise", ctx.locale, name=firm.name))),) for firm in offered)
        return Prompt(self._text(ctx, state, picked=len(picked)), (*rows, (Option(DONE, label("next", ctx.locale)),)))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        offered = await self._offered(ctx, state)
        picked = self._picked(state, offered)
        if incoming.key == DONE:
            if not picked and not self.optional:
                return invalid("choose_at_least_one")
            return (self.check(picked, len(offered)) if self.check else None) or Accept(picked)
        chosen = enterprise_id_of(incoming.key or "")
        if chosen is None or chosen not in {firm.id for firm in offered}:
            return invalid("use_buttons")
        picked = [i for i in picked if i != chosen] if chosen in picked else [*picked, chosen]
        return Stay(mode=state.mode, pending=[firm.id for firm in offered if firm.id in picked], redraw=True)


def _leaving_check(picked: list[int], offered: int) -> Invalid | None:
    # A joint branch left with one enterprise is no joint branch: all leave (it is dissolved),
    # or two stay at least.
    return invalid("split_one_left") if offered - len(picked) == 1 else None


# ---------------------------------------------------------------- the form


def _current(answers: dict[str, Any]) -> dict[str, Any]:
    """The organisation as it was when the form was opened (carried, not asked)."""
    return dict(answers.get("current") or {})


def _kinds(answers: dict[str, Any]) -> tuple[str, ...]:
    current = _current(answers)
    split = current.get("formation") == Formation.JOINT and (current.get("covers") or 0) >= 2
    return tuple(kind.value for kind in ChangeKind if kind != ChangeKind.SPLIT or split)


def _categories(answers: dict[str, Any]) -> tuple[str, ...]:
    current = _current(answers)
    offered = JOINT_CATEGORIES if current.get("formation") == Formation.JOINT else tuple(c.value for c in OrgCategory)
    return tuple(c for c in offered if c != current.get("category"))


def _is(kind: ChangeKind) -> Callable[[dict[str, Any]], bool]:
    return lambda answers: answers.get("what") == kind


def _splitting(answers: dict[str, Any]) -> bool:
    """A split picks who leaves; its correction keeps them (`foundings.correct_change`)."""
    return answers.get("what") == ChangeKind.SPLIT and RECORD not in answers


def _not_before_founding(answers: dict[str, Any], value: date) -> Invalid | None:
    founded = _current(answers).get("founded_on")
    if founded and value < date.fromisoformat(founded):
        return invalid("date_before_founding", date=date.fromisoformat(founded))
    return None


def _organisation_id(answers: dict[str, Any]) -> int | None:
    value = answers.get("organisation")
    return value if isinstance(value, int) else None


FORM = Form(
    name=CHANGE_FORM,
    steps=(
        ChoiceStep("what", "founding/change_ask_what", title="founding.field_what", editable=False,
                   options=tuple((kind.value, f"founding.what_{kind.value}") for kind in ChangeKind), offer=_kinds),
        ChoiceStep("category", "founding/change_ask_category", title="founding.field_category",
                   options=CATEGORY_OPTIONS, offer=_categories, when=_is(ChangeKind.CATEGORY), resets=("name",)),
        OrgNameStep("name", "founding/ask_name", title="founding.field_name", when=_is(ChangeKind.CATEGORY),
                    propose=lambda ctx, answers: propose(ctx, answers), keep=_organisation_id),
        TextStep("secretary", "founding/change_ask_secretary", title="founding.field_secretary",
                 max_length=SECRETARY_MAX, when=_is(ChangeKind.SECRETARY)),
        secretary_source_step("founding/ask_secretary_source", when=_is(ChangeKind.SECRETARY)),
        PickStep("leaving", "founding/change_ask_leaving", title="founding.field_leaving", when=_splitting,
                 choices=lambda ctx, answers: covered(ctx, answers), check=_leaving_check, resets=("own",)),
        PickStep("own", "founding/change_ask_own", title="founding.field_own", when=_splitting, optional=True,
                 choices=lambda ctx, answers: leaving(ctx, answers)),
        DateStep("changed_on", "founding/change_ask_date", title="founding.field_changed_on", max_days_back=DAYS_BACK,
                 check=_not_before_founding),
    ),
    confirm=ConfirmStep(card="founding/change_confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
    correction=Correction(entity=foundings.ENTITY, get=foundings.change_in_scope,
                          answers=lambda ctx, founding: answers_of(ctx, founding)),
)
FORMS = (FORM,)


async def _organisation(ctx: FormContext, answers: dict[str, Any]) -> PartyOrganisation | None:
    organisation_id = _organisation_id(answers)
    if organisation_id is None:
        return None
    return await organisations.get_in_scope(ctx.session, organisation_id, ctx.member.region)


async def covered(ctx: FormContext, answers: dict[str, Any]) -> list[Enterprise]:
    """The enterprises the organisation covers now, in the user's region."""
    organisation = await _organisation(ctx, answers)
    if organisation is None:
        return []
    firms = await organisations.covered(ctx.session, organisation.id)
    inside = await enterprises.in_scope_by_id(ctx.session, [firm.id for firm in firms], ctx.member.region)
    return [firm for firm in firms if firm.id in inside]


async def leaving(ctx: FormContext, answers: dict[str, Any]) -> list[Enterprise]:
    """The enterprises picked to leave, in the order of the list they were picked from."""
    ids = answers.get("leaving") or []
    return [firm for firm in await covered(ctx, answers) if firm.id in ids]


async def propose(ctx: FormContext, answers: dict[str, Any]) -> str:
    """The name in the new category: the same name with its ending changed (支部委员会 → 委员会),
    or the standard name where the current one says no category or was made up."""
    organisation = await _organisation(ctx, answers)
    if organisation is None or not answers.get("category"):
        return ""
    category = OrgCategory(answers["category"])
    name = None if organisation.name_inferred else organisations.renamed(organisation.name, category)
    if name is not None:
        return await organisations.free_name(ctx.session, name, keep=organisation.id)
    firms = await covered(ctx, answers)
    if not firms:
        return ""
    return await foundings.proposed_name(ctx.session, firms, category, Formation(organisation.formation),
                                         keep=organisation.id)


async def _name(ctx: FormContext, answers: dict[str, Any]) -> str | None:
    chosen = answers.get("name") or {}
    return chosen.get("text") or (await propose(ctx, answers) if chosen.get(STANDARD) else None)


async def _split_of(ctx: FormContext, answers: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(leaving, own) of a split: as picked, or as the corrected record says."""
    if RECORD in answers:
        record = await foundings.change_in_scope(ctx.session, answers[RECORD], ctx.member.region)
        if record is None:
            return [], []
        return list(record.enterprise_ids or []), list((record.change or {}).get("own") or [])
    return list(answers.get("leaving") or []), list(answers.get("own") or [])


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    """The card: what changes, and for a split who leaves where (and who stays)."""
    current = _current(answers)
    what = answers.get("what")
    values: dict[str, Any] = {
        "org_name": current.get("name"), "current_category": current.get("category"), "what": what,
        "category": answers.get("category"), "new_name": await _name(ctx, answers),
        "secretary": (answers.get("secretary") or {}).get("text"),
        "secretary_source": answers.get("secretary_source"),
        "changed_on": date.fromisoformat(answers["changed_on"]) if answers.get("changed_on") else None,
        "own": [], "none": [], "few": [], "staying": 0, "dissolved": False,
    }
    if what == ChangeKind.SPLIT:
        out, own = await _split_of(ctx, answers)
        named = await enterprises.in_scope_by_id(ctx.session, out, ctx.member.region)
        values["own"] = [named[i].name for i in out if i in own and i in named]
        values["none"] = [named[i].name for i in out if i not in own and i in named]
        # 党章: three formal members to form one; said where the records know fewer.
        values["few"] = [named[i].name for i in own if i in named and _known_members(named[i]) is not None
                         and (_known_members(named[i]) or 0) < rules.READY_TO_FORM_MIN_MEMBERS]
        if RECORD not in answers:
            values["staying"] = len(await covered(ctx, answers)) - len(out)
            values["dissolved"] = values["staying"] == 0
    return values


def _known_members(firm: Enterprise) -> int | None:
    return firm.members_here if firm.members_here is not None else firm.party_members


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Changes the organisation (or corrects the record of a change) and returns the receipt."""
    organisation = await _organisation(ctx, answers)
    if organisation is None:
        raise PermissionError("the organisation left the officer's scope")
    kind = ChangeKind(answers["what"])
    out, own = await _split_of(ctx, answers) if kind == ChangeKind.SPLIT else ([], [])
    category = answers.get("category")
    new = foundings.NewChange(
        organisation_id=organisation.id, enterprise_id=answers["enterprise"], kind=kind,
        on=date.fromisoformat(answers["changed_on"]), officer_id=ctx.member.id, category=category,
        name=await _name(ctx, answers) if category else None, secretary=(answers.get("secretary") or {}).get("text"),
        secretary_source=answers.get("secretary_source"), leaving=out, own=own,
    )
    record: Founding = ctx.correcting
    if record is not None:
        await foundings.correct_change(ctx.session, record, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                                       now=ctx.now)
    else:
        stale = await _changed_meanwhile(ctx, organisation, answers, out)
        if stale:
            return Saved(Prompt(render("founding/change_stale", ctx.locale, name=organisation.name)))
        record = await foundings.record_change(ctx.session, new, actor_label=ctx.member.name, now=ctx.now)
    text = render("founding/change_saved", ctx.locale, number=record.id, what=kind.value, name=organisation.name,
                  category=organisation.category, secretary=organisation.secretary, leaving=len(out),
                  own=len((record.change or {}).get("created") or []), corrected=ctx.correcting is not None)
    return Saved(Prompt(text, ((link(correct_button(record.id), label("correct", ctx.locale)),),)), record)


async def _changed_meanwhile(ctx: FormContext, organisation: PartyOrganisation, answers: dict[str, Any],
                             out: list[int]) -> bool:
    """Whether someone changed the organisation since the form opened, so this change no longer
    fits it (another category now, an enterprise no longer in it, dissolved)."""
    if organisation.dissolved_on is not None or organisation.category != _current(answers).get("category"):
        return True
    covering = {firm.id for firm in await organisations.covered(ctx.session, organisation.id)}
    return not set(out) <= covering


async def answers_of(ctx: FormContext, record: Founding) -> dict[str, Any]:
    """The form's answers for a saved change: a correction starts from them, on the card."""
    organisation = await ctx.session.get_one(PartyOrganisation, record.organisation_id)
    change = record.change or {}
    kind = change.get("kind")
    before = change.get("from") or {}
    answers: dict[str, Any] = {
        "organisation": organisation.id, "enterprise": record.enterprise_id, "what": kind,
        "current": _facts(organisation, category=before.get("category", organisation.category)),
        "changed_on": record.founded_on.isoformat(),
    }
    if kind == ChangeKind.CATEGORY:
        answers |= {"category": organisation.category, "name": {"text": organisation.name}}
    elif kind == ChangeKind.SECRETARY:
        answers["secretary"] = {"text": organisation.secretary or record.secretary}
        if organisation.secretary_source:
            answers["secretary_source"] = organisation.secretary_source
    return answers


def _facts(organisation: PartyOrganisation, covers: int | None = None, category: str | None = None) -> dict[str, Any]:
    return {"name": organisation.name, "category": category or organisation.category,
            "formation": organisation.formation, "covers": covers,
            "founded_on": organisation.founded_on.isoformat() if organisation.founded_on else None}


async def start_change(update: Update, context: BotContext) -> None:
    """Opens the change form for the organisation of the card's enterprise, if the officer may
    change it (the enterprise and everything the organisation covers in their region)."""
    query, member = update.callback_query, context.member
    if query is None or not await common.allowed(update, context, Role.OFFICER) or member is None:
        return
    match = START.fullmatch(query.data or "")
    if match is None:
        await query.answer(label("unknown_button", context.locale()))
        return
    async with context.unit_of_work() as uow:
        enterprise = await enterprises.get_in_scope(uow.session, int(match[1]), member.region)
        current = await organisations.of_enterprise(uow.session, enterprise) if enterprise else None
        organisation = (await organisations.get_in_scope(uow.session, current.id, member.region)
                        if current is not None else None)
        covers = len(await organisations.covered(uow.session, organisation.id)) if organisation else 0
    if enterprise is None:
        await query.answer(label("enterprise.not_in_scope", context.locale()), show_alert=True)
        return
    if organisation is None:
        reason = "founding.no_organisation" if current is None else "founding.organisation_out_of_reach"
        await query.answer(label(reason, context.locale()), show_alert=True)
        return
    await query.answer()
    answers = {"organisation": organisation.id, "enterprise": enterprise.id, "current": _facts(organisation, covers)}
    await context.bot_data.runner.start(update, context, FORM.name, answers)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [CallbackQueryHandler(start_change, pattern=START)]
