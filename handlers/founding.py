"""`/found`: recording a party organisation founded 新建党组织 — for one enterprise, for several
(a joint branch 联合党支部), or attached 挂靠 to another organisation.

The steps read like the conversation: the enterprise, how it is formed (and then the other
enterprises, or the organisation it attaches to), the category, the name (the standard one
proposed), the date, the secretary and where they come from, the formal members, 隶属.
Saving founds the organisation in the registry and makes it cover its enterprises
(`storage.foundings`); the officer's record is reviewed and correctable for 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import (
    DONE,
    OTHER,
    PENDING,
    SEARCH,
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
    LookupStep,
    NumberStep,
    Option,
    Prompt,
    Saved,
    Stay,
    StepResult,
    TextStep,
    invalid,
    link,
)
from handlers.nomination import RowsChoiceStep
from handlers.pickers import ENTERPRISE_KEY_PREFIX, EnterpriseSource
from output.render import label, render
from output.text import utf16_len
from storage import enterprises, foundings, organisations
from storage.enums import Formation, FoundingAction, OrgCategory, Role, SecretarySource
from storage.models import Enterprise, Founding, PartyOrganisation

START = re.compile(r"^found:start:(\d{1,9})\Z")
# Corrects a record of either kind: a founding here, a change in `handlers.org_change`.
CORRECT = re.compile(r"^found:correct:(\d{1,9})\Z")
CHANGE_FORM = "org_change"
# 党章第三十条: three formal members may form a party organisation.
MIN_MEMBERS = 3
MAX_MEMBERS = 100_000
# A joint branch 联合党支部 covers two enterprises at least; this many at most in one form.
JOINT_MIN, JOINT_MAX = 2, 30
# Founded up to three years back: a founding is recorded late, but not from before the ledger.
DAYS_BACK = 3 * 366
SECRETARY_MAX = 32
ORG_NAME_MAX = 128  # PartyOrganisation.name
ORGANISATION_KEY_PREFIX = "o"
STANDARD = "standard"  # the option that takes the proposed name

CATEGORY_OPTIONS = tuple((c.value, f"category_{c.value}") for c in OrgCategory)
FORMATION_OPTIONS = tuple((f.value, f"formation_{f.value}") for f in Formation)
SOURCE_OPTIONS = tuple((s.value, f"secretary_source_{s.value}") for s in SecretarySource)
# A joint branch is a 党支部 or a 党总支, never a 党委.
JOINT_CATEGORIES = (OrgCategory.BRANCH.value, OrgCategory.GENERAL_BRANCH.value)


def start_button(enterprise_id: int) -> str:
    return f"found:start:{enterprise_id}"


def correct_button(founding_id: int) -> str:
    return f"found:correct:{founding_id}"


def enterprise_id_of(key: str) -> int | None:
    """`e42` → 42; None for anything else (ids have at most 9 digits, like every callback's)."""
    digits = key.removeprefix(ENTERPRISE_KEY_PREFIX)
    return int(digits) if key.startswith(ENTERPRISE_KEY_PREFIX) and digits.isdigit() and len(digits) <= 9 else None


# ---------------------------------------------------------------- steps of their own


@dataclass(frozen=True)
class EnterprisesStep(BaseStep):
    """The other enterprises of a joint branch, added one by one: the officer's own enterprises
    ticked, any other of the region searched by name; then 完成. The first enterprise (the
    answer `first`) is counted with them but not offered again."""

    source: EnterpriseSource = field(default_factory=EnterpriseSource)
    first: str = "enterprise"
    minimum: int = JOINT_MIN  # enterprises in all, the first included
    maximum: int = JOINT_MAX

    def _chosen(self, state: FormState) -> tuple[int | None, list[int]]:
        first = state.answers.get(self.first)
        collected = state.answers[PENDING] if PENDING in state.answers else state.answers.get(self.name) or []
        return first, [i for i in collected if i != first]

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        first, chosen = self._chosen(state)
        done = Option(DONE, label("founding.joint_done", ctx.locale, count=len(chosen) + 1))
        if state.mode == "search":
            return Prompt(render("forms/ask_search", ctx.locale), ((done,),))
        if state.mode and state.mode.startswith("q:"):
            query = state.mode[2:]
            found = [o for o in await self.source.search(ctx, query) if enterprise_id_of(o.key) != first]
            rows = tuple((_tick(o, chosen, ctx.locale),) for o in found)
            return Prompt(render("forms/search_results", ctx.locale, query=query, count=len(found)), (*rows, (done,)))
        named = await enterprises.in_scope_by_id(ctx.session, [i for i in (first, *chosen) if i is not None],
                                                 ctx.member.region)
        suggested = [o for o in await self.source.suggestions(ctx) if enterprise_id_of(o.key) != first]
        shown = {enterprise_id_of(o.key) for o in suggested}
        # What was found by search stays on the list, so it can be unticked there.
        extra = [Option(f"{ENTERPRISE_KEY_PREFIX}{i}", label("founding.enterprise", ctx.locale, name=named[i].name))
                 for i in chosen if i not in shown and i in named]
        rows = tuple((_tick(o, chosen, ctx.locale),) for o in (*suggested, *extra))
        names = [named[i].name for i in (first, *chosen) if i is not None and i in named]
        text = self._text(ctx, state, names=names)
        return Prompt(text, (*rows, (Option(SEARCH, label("search_other", ctx.locale)), done)))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        first, chosen = self._chosen(state)
        if incoming.key == SEARCH:
            return Stay(mode="search")
        if incoming.key == DONE:
            if len(chosen) + 1 < self.minimum:
                return invalid("joint_too_few", minimum=self.minimum)
            return Accept(chosen)
        if incoming.key is not None:
            picked = await self.source.resolve(ctx, incoming.key)
            if picked is None or picked == first:
                return invalid("not_available")
            if picked in chosen:
                chosen.remove(picked)
            elif len(chosen) + 1 >= self.maximum:
                return invalid("joint_full", maximum=self.maximum)
            else:
                chosen.append(picked)
            # A tick on the list redraws it; a pick among search results goes back to the list.
            return Stay(mode=None, pending=chosen, redraw=state.mode is None)
        if incoming.text is None or not incoming.text.strip():
            return invalid("lookup_expected")
        query = incoming.text.strip()[:40]
        if not await self.source.search(ctx, query):
            return invalid("no_match", query=query)
        return Stay(mode=f"q:{query}", pending=chosen)


def _tick(option: Option, chosen: list[int], locale: str) -> Option:
    ticked = enterprise_id_of(option.key) in chosen
    return Option(option.key, label("ticked" if ticked else "unticked", locale, text=option.label))


async def organisation_of_key(ctx: FormContext, key: str) -> PartyOrganisation | None:
    """The organisation a button `o<id>` names, if it is counted within the user's region."""
    digits = key.removeprefix(ORGANISATION_KEY_PREFIX)
    if not key.startswith(ORGANISATION_KEY_PREFIX) or not digits.isdigit() or len(digits) > 9:
        return None
    return await organisations.get_in_scope(ctx.session, int(digits), ctx.member.region)


@dataclass(frozen=True)
class OrganisationStep(BaseStep):
    """An organisation of the registry in the user's region, found by a few characters of its
    name — or, when the registry does not have it, the name as typed."""

    search_limit: int = 8
    max_length: int = ORG_NAME_MAX

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        if not (state.mode and state.mode.startswith("q:")):
            return Prompt(self._text(ctx, state))
        typed = state.mode[2:]
        found = await organisations.search(ctx.session, ctx.member.region, typed, self.search_limit)
        rows = [(Option(f"{ORGANISATION_KEY_PREFIX}{o.id}", label("founding.organisation", ctx.locale, name=o.name)),)
                for o in found]
        rows.append((Option(OTHER, label("founding.use_typed", ctx.locale, name=typed)),))
        return Prompt(render("founding/host_results", ctx.locale, query=typed, count=len(found)), tuple(rows))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == OTHER and state.mode and state.mode.startswith("q:"):
            return Accept({"text": state.mode[2:]})
        if incoming.key is not None:
            found = await organisation_of_key(ctx, incoming.key)
            return Accept({"id": found.id}) if found is not None else invalid("org_not_available")
        if incoming.text is None:
            return invalid("text_expected")
        typed = organisations.normalise_name(incoming.text)
        if not typed:
            return invalid("text_empty")
        if utf16_len(typed) > self.max_length:
            return invalid("text_too_long", maximum=self.max_length, length=utf16_len(typed))
        return Stay(mode=f"q:{typed}")


def _never_kept(answers: dict[str, Any]) -> int | None:
    return None


@dataclass(frozen=True)
class OrgNameStep(BaseStep):
    """The organisation's full name: the standard one proposed (用这个名称), or typed. A typed
    name must say the category chosen and belong to no other organisation."""

    propose: Callable[[FormContext, dict[str, Any]], Awaitable[str]] | None = None
    category: str = "category"  # the answer holding the category
    keep: Callable[[dict[str, Any]], int | None] = _never_kept  # the organisation that may have the name
    max_length: int = ORG_NAME_MAX

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        assert self.propose is not None, f"name step {self.name} proposes nothing"
        proposed = await self.propose(ctx, state.answers)
        return Prompt(self._text(ctx, state, proposed=proposed),
                      ((Option(STANDARD, label("founding.use_name", ctx.locale)),),))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == STANDARD:
            return Accept({STANDARD: True})
        if incoming.key is not None:
            return invalid("use_buttons")
        if incoming.text is None:
            return invalid("text_expected")
        name = organisations.normalise_name(incoming.text)
        if not name:
            return invalid("text_empty")
        if utf16_len(name) > self.max_length:
            return invalid("text_too_long", maximum=self.max_length, length=utf16_len(name))
        category = state.answers.get(self.category)
        said = organisations.classify_name(name)
        if said is None or said[0] != category:
            return invalid("org_name_category", category=category)
        other = await organisations.by_name(ctx.session, name)
        if other is not None and other.id != self.keep(state.answers):
            return invalid("org_name_taken", name=name)
        return Accept({"text": name})


def members_check(answers: dict[str, Any], members: int) -> Invalid | None:
    return invalid("too_few_members", minimum=MIN_MEMBERS) if members < MIN_MEMBERS else None


def secretary_source_step(question: str, **extra: Any) -> RowsChoiceStep:
    return RowsChoiceStep("secretary_source", question, title="founding.field_secretary_source",
                          options=SOURCE_OPTIONS, **extra)


# ---------------------------------------------------------------- the form


def _joint(answers: dict[str, Any]) -> bool:
    return answers.get("formation") == Formation.JOINT


def _attached(answers: dict[str, Any]) -> bool:
    return answers.get("formation") == Formation.ATTACHED


def _categories(answers: dict[str, Any]) -> tuple[str, ...]:
    return JOINT_CATEGORIES if _joint(answers) else tuple(c.value for c in OrgCategory)


def _organisation_kept(answers: dict[str, Any]) -> int | None:
    """The organisation a corrected founding founded: it may keep its own name."""
    value = answers.get("organisation")
    return value if isinstance(value, int) else None


FORM = Form(
    name="found",
    steps=(
        LookupStep("enterprise", "founding/ask_enterprise", title="field_enterprise", source=EnterpriseSource(),
                   resets=("others", "name")),
        ChoiceStep("formation", "founding/ask_formation", title="founding.field_formation",
                   options=FORMATION_OPTIONS, resets=("category", "name")),
        EnterprisesStep("others", "founding/ask_others", title="founding.field_others", when=_joint),
        OrganisationStep("host", "founding/ask_host", title="founding.field_host", when=_attached),
        ChoiceStep("category", "founding/ask_category", title="founding.field_category", options=CATEGORY_OPTIONS,
                   offer=_categories, resets=("name",)),
        OrgNameStep("name", "founding/ask_name", title="founding.field_name",
                    propose=lambda ctx, answers: propose(ctx, answers), keep=_organisation_kept),
        DateStep("founded_on", "founding/ask_date", title="founding.field_date", max_days_back=DAYS_BACK),
        TextStep("secretary", "founding/ask_secretary", title="founding.field_secretary", max_length=SECRETARY_MAX),
        secretary_source_step("founding/ask_secretary_source"),
        NumberStep("members", "founding/ask_members", title="founding.field_members", maximum=MAX_MEMBERS,
                   check=members_check),
        TextStep("parent", "founding/ask_parent", title="founding.field_parent", optional=True,
                 max_length=ORG_NAME_MAX, when=lambda answers: not _attached(answers)),
    ),
    confirm=ConfirmStep(card="founding/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
    correction=Correction(entity=foundings.ENTITY, get=foundings.found_in_scope,
                          answers=lambda ctx, founding: answers_of(ctx, founding)),
)
FORMS = (FORM,)


async def firms_of(ctx: FormContext, answers: dict[str, Any]) -> list[Enterprise]:
    """The enterprises the organisation will cover, the first first, those in the user's region."""
    ids = [answers["enterprise"]] if answers.get("enterprise") is not None else []
    if _joint(answers):
        ids += [i for i in answers.get("others") or [] if i not in ids]
    found = await enterprises.in_scope_by_id(ctx.session, ids, ctx.member.region)
    return [found[i] for i in ids if i in found]


async def propose(ctx: FormContext, answers: dict[str, Any]) -> str:
    """The standard name for the answers so far (`storage.foundings.proposed_name`)."""
    firms = await firms_of(ctx, answers)
    if not firms or not answers.get("category") or not answers.get("formation"):
        return ""
    return await foundings.proposed_name(ctx.session, firms, OrgCategory(answers["category"]),
                                         Formation(answers["formation"]), keep=_organisation_kept(answers))


async def _name(ctx: FormContext, answers: dict[str, Any]) -> str | None:
    chosen = answers.get("name") or {}
    return chosen.get("text") or (await propose(ctx, answers) if chosen.get(STANDARD) else None)


async def _host(ctx: FormContext, answers: dict[str, Any]) -> tuple[int | None, str | None]:
    """(record, name) of the organisation it attaches to, or of its 隶属 as typed."""
    if _attached(answers):
        host = answers.get("host") or {}
        if host.get("id") is not None:
            found = await organisations.get_in_scope(ctx.session, host["id"], ctx.member.region)
            if found is None:
                raise PermissionError("the organisation attached to left the officer's scope")
            return found.id, found.name
        return None, host.get("text")
    return None, (answers.get("parent") or {}).get("text")


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    """The card's values; an enterprise that has another organisation is said to leave it."""
    firms = await firms_of(ctx, answers)
    kept = _organisation_kept(answers)
    leaving = []
    for firm in firms:
        if firm.party_org_id is not None and firm.party_org_id != kept:
            current = await organisations.of_enterprise(ctx.session, firm)
            leaving.append({"enterprise": firm.name, "organisation": current.name if current else ""})
    host: tuple[int | None, str | None] = (None, None)
    if _attached(answers) or answers.get("parent"):
        try:
            host = await _host(ctx, answers)
        except PermissionError:
            host = (None, None)
    source = answers.get("secretary_source")
    return {
        "enterprise": firms[0].name if firms else None,
        "enterprises": [firm.name for firm in firms],
        "leaving": leaving,
        "formation": answers.get("formation"),
        "category": answers.get("category"),
        "org_name": await _name(ctx, answers),
        "host": host[1] if _attached(answers) else None,
        "parent": host[1] if not _attached(answers) else None,
        "founded_on": date.fromisoformat(answers["founded_on"]) if answers.get("founded_on") else None,
        "secretary": (answers.get("secretary") or {}).get("text"),
        "secretary_source": label(f"secretary_source_{source}", ctx.locale) if source else None,
        "members": answers.get("members"),
    }


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Founds the organisation (or corrects the founding of one) and returns the receipt."""
    firms = await firms_of(ctx, answers)
    wanted = 1 + (len(set(answers.get("others") or []) - {answers["enterprise"]}) if _joint(answers) else 0)
    if len(firms) != wanted:
        raise PermissionError("an enterprise left the officer's scope")
    parent_id, parent_name = await _host(ctx, answers)
    chosen = answers["name"]
    new = foundings.NewFounding(
        enterprise_id=firms[0].id, enterprise_ids=[firm.id for firm in firms],
        founded_on=date.fromisoformat(answers["founded_on"]), category=answers["category"],
        formation=answers["formation"], secretary=answers["secretary"]["text"],
        secretary_source=answers["secretary_source"], members=answers["members"], officer_id=ctx.member.id,
        name=None if chosen.get(STANDARD) else chosen["text"], parent_id=parent_id, parent_name=parent_name,
    )
    founding: Founding = ctx.correcting
    if founding is not None:
        await foundings.correct(ctx.session, founding, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                                now=ctx.now)
    else:
        founding = await foundings.create(ctx.session, new, actor_label=ctx.member.name, now=ctx.now)
    text = render("founding/saved", ctx.locale, number=founding.id, name=founding.name, enterprises=len(firms),
                  corrected=ctx.correcting is not None)
    return Saved(Prompt(text, ((link(correct_button(founding.id), label("correct", ctx.locale)),),)), founding)


async def answers_of(ctx: FormContext, founding: Founding) -> dict[str, Any]:
    """The form's answers for a saved founding: a correction starts from them, on the card."""
    organisation = (await ctx.session.get(PartyOrganisation, founding.organisation_id)
                    if founding.organisation_id is not None else None)
    ids = [i for i in founding.enterprise_ids or [] if i != founding.enterprise_id]
    answers: dict[str, Any] = {
        "organisation": founding.organisation_id, "enterprise": founding.enterprise_id,
        "formation": founding.formation, "category": founding.category,
        "founded_on": founding.founded_on.isoformat(), "secretary": {"text": founding.secretary},
        "members": founding.members,
    }
    if founding.formation == Formation.JOINT:
        answers["others"] = ids
    if founding.secretary_source:
        answers["secretary_source"] = founding.secretary_source
    parent_id = organisation.parent_id if organisation else None
    parent_name = organisation.parent_name if organisation else None
    if founding.formation == Formation.ATTACHED:
        if parent_id is not None or parent_name:
            answers["host"] = {"id": parent_id} if parent_id is not None else {"text": parent_name}
    else:
        answers["parent"] = {"text": parent_name} if parent_name else None
    standard = await propose(ctx, answers)
    answers["name"] = {STANDARD: True} if founding.name in (None, standard) else {"text": founding.name}
    return answers


async def start_found(update: Update, context: BotContext) -> None:
    """Opens the founding form, with the enterprise chosen when it came from its card."""
    if await common.allowed(update, context, Role.OFFICER):
        await context.bot_data.runner.start_from_button(update, context, FORM.name, START)


async def correct_founding(update: Update, context: BotContext) -> None:
    """Reopens a saved founding (or change) on its form's confirmation card, if it may still be
    corrected; each form's correction checks the record's region and author."""
    query = update.callback_query
    match = CORRECT.fullmatch(query.data or "") if query is not None else None
    form = FORM.name
    if match is not None:
        async with context.unit_of_work() as uow:
            if await foundings.action_of(uow.session, int(match[1])) == FoundingAction.CHANGE:
                form = CHANGE_FORM
    await context.bot_data.runner.reopen(update, context, form, CORRECT)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("found", start_found),
        CallbackQueryHandler(start_found, pattern=START),
        CallbackQueryHandler(correct_founding, pattern=CORRECT),
    ]

