"""`/nominate`: recording a person for member development 党员发展 at one of the officer's
enterprises — who they are, the stage they have reached with its dates, their two cultivation
contacts. Every date is checked against the rules of `storage.development` as it is typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers import common
from handlers.context import BotContext
from handlers.forms import (
    RECORD,
    SKIP,
    Accept,
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
    Option,
    Prompt,
    Saved,
    StepResult,
    TextStep,
    invalid,
    link,
)
from handlers.pickers import EnterpriseSource
from output.render import label, render
from storage import development, enterprises, people
from storage.development import ORDER, Pipeline, Problem
from storage.enums import Gender, Role, Stage
from storage.models import Person

START = re.compile(r"^nominate:start:(\d{1,9})\Z")
CORRECT = re.compile(r"^nominate:correct:(\d{1,9})\Z")
NAME_MAX = 32
CONTACTS_MAX = 2
CONTACT_SEPARATORS = re.compile(r"[、,，;；/\s]+")
BIRTH_DAYS_BACK = 100 * 366
# A person may have applied long before the officer records them (a probationary member
# nominated today applied years ago).
STAGE_DAYS_BACK = 20 * 366
STAGES = ORDER  # the five stages one can be nominated at; withdrawn is reached from the card


# ---------------------------------------------------------------- the rules, as form checks


def stage_index(answers: dict[str, Any]) -> int:
    stage = answers.get("stage")
    return ORDER.index(Stage(stage)) if stage in {s.value for s in ORDER} else -1


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def nomination_pipeline(answers: dict[str, Any]) -> Pipeline | None:
    """The dates answered so far, as the rules read them; None before birth and application."""
    birth, applied = _day(answers.get("birth_date")), _day(answers.get("applied_on"))
    if birth is None or applied is None:
        return None
    return Pipeline(
        stage=Stage(answers.get("stage") or Stage.APPLICANT), birth_date=birth, applied_on=applied,
        **{name: _day(answers.get(name)) for name in people.DATE_FIELDS if name != "applied_on"},
    )


def earliest_after_notice(started: date, days: int) -> date:
    """The first day on which a notice started on `started` has run `days` working days."""
    day = started
    while development.working_days(started, day) < days:
        day += timedelta(days=1)
    return day


def problem_message(problem: Problem, p: Pipeline) -> Invalid:
    """The rule a date breaks, as the message that names it (see `forms/error`)."""
    v = problem.values
    if problem.code == "under_age":
        return invalid("under_age", age=v["age"], article=v["article"], applied_on=p.applied_on)
    if problem.code == "candidate_too_early":
        return invalid("candidate_too_early", earliest=v["earliest"], article=v["article"])
    if problem.code == "notice_outside":
        return invalid("notice_outside", activist_on=v["activist_on"], date=v["date"])
    if problem.code == "notice_too_short":
        assert p.notice_started_on is not None
        earliest = earliest_after_notice(p.notice_started_on, int(str(v["days"])))
        return invalid("notice_too_short", days=v["days"], article=v["article"], earliest=earliest)
    if problem.code == "probation_not_over":
        return invalid("probation_not_over", earliest=v["earliest"], article=v["article"])
    return invalid("date_before_previous", previous=v["previous"], date=v["date"])


DateCheck = Callable[[dict[str, Any], date], Invalid | None]


def rule_check(build: Callable[[dict[str, Any]], Pipeline | None], step: str,
               field: Callable[[dict[str, Any]], str] | None = None) -> DateCheck:
    """A `DateStep.check` refusing a date that breaks a development rule.

    `build` turns answers into the person's pipeline; `field` names the pipeline date this
    step sets (the step's own name by default). A problem with another date is this answer's
    fault too when it was not there before (editing the application date from the card can put
    it after the activist date), so it is refused with that rule's message; a problem that was
    already there (an old record) is not blamed on this answer.
    """

    def check(answers: dict[str, Any], value: date) -> Invalid | None:
        after = build({**answers, step: value.isoformat()})
        problem = development.check_dates(after) if after is not None else None
        if after is None or problem is None:
            return None
        if problem.answer != (field(answers) if field else step):
            before = build({k: v for k, v in answers.items() if k != step})
            if before is not None and development.check_dates(before) is not None:
                return None
        return problem_message(problem, after)

    return check


def notice_check(build: Callable[[dict[str, Any]], Pipeline | None]) -> DateCheck:
    """The public notice 公示 starts after the activist date and before the listing. The rules
    module judges the notice once the listing date is known; this also says so at the
    notice's own step, when it is asked first."""
    rules = rule_check(build, "notice_started_on")

    def check(answers: dict[str, Any], value: date) -> Invalid | None:
        p = build({**answers, "notice_started_on": value.isoformat()})
        if p is not None and p.activist_on is not None and value < p.activist_on:
            return invalid("notice_outside", activist_on=p.activist_on, date=p.candidate_on)
        return rules(answers, value)

    return check


# ---------------------------------------------------------------- steps with a little more


def clean_name(text: str) -> str:
    """Full-width letters folded, runs of spaces made one (`李　明` and `李 明` are one name)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def is_name(text: str) -> bool:
    """A name has at least one letter (Han or Latin): `12345` or `——` are not names."""
    return any(ch.isalpha() for ch in text)


async def _duplicate_problem(ctx: FormContext, enterprise_id: Any, name: Any, record: Any) -> Invalid | None:
    if enterprise_id is None or name is None:
        return None
    found = await people.duplicate(ctx.session, int(enterprise_id), str(name), exclude_id=record)
    return invalid("person_duplicate", name=name, number=found.id) if found is not None else None


@dataclass(frozen=True)
class EnterpriseStep(LookupStep):
    """The enterprise; refused when the person is already nominated there (after an edit)."""

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        result = await super().accept(ctx, state, incoming)
        if isinstance(result, Accept):
            answers = state.answers
            return await _duplicate_problem(ctx, result.value, answers.get("name"), answers.get(RECORD)) or result
        return result


@dataclass(frozen=True)
class NameStep(TextStep):
    """A person's name: letters required; the same name twice at one enterprise is refused."""

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        result = await super().accept(ctx, state, incoming)
        if not isinstance(result, Accept):
            return result
        name = clean_name(result.value["text"])
        if not is_name(name):
            return invalid("name_invalid")
        answers = state.answers
        return await _duplicate_problem(ctx, answers.get("enterprise"), name, answers.get(RECORD)) or Accept(name)


@dataclass(frozen=True)
class BirthDateStep(DateStep):
    """A birth date: typed; whoever is not 18 today cannot have applied (《细则》第五条)."""

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        result = await super().accept(ctx, state, incoming)
        if isinstance(result, Accept):
            rule = development.CURRENT.min_age
            if development.age_on(date.fromisoformat(result.value), ctx.today) < rule.years:
                return invalid("under_age", age=rule.years, article=rule.article, applied_on=ctx.today)
        return result


@dataclass(frozen=True)
class OptionalDateStep(DateStep):
    """A quick date that may be skipped: the skip button under today / yesterday / other."""

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        prompt = await super().ask(ctx, state)
        return Prompt(prompt.text, (*prompt.buttons, *self._skip_row(ctx)))


@dataclass(frozen=True)
class RowsChoiceStep(ChoiceStep):
    """A choice of more options than fit one row of a phone screen."""

    per_row: int = 2

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        options = self._options(ctx)
        rows = tuple(tuple(options[i : i + self.per_row]) for i in range(0, len(options), self.per_row))
        return Prompt(self._text(ctx, state), rows + self._skip_row(ctx))


def split_contacts(text: str) -> list[str]:
    """`张三、李四`, `张三 李四`, `张三,李四` → the names."""
    return [name for name in CONTACT_SEPARATORS.split(unicodedata.normalize("NFKC", text).strip()) if name]


@dataclass(frozen=True)
class ContactsStep(TextStep):
    """Two cultivation contacts 培养联系人; an applicant may not have them yet (skip)."""

    def _may_skip(self, state: FormState) -> bool:
        return stage_index(state.answers) <= 0

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        skip = ((Option(SKIP, label("skip", ctx.locale)),),) if self._may_skip(state) else ()
        return Prompt(self._text(ctx, state, optional=self._may_skip(state)), skip)

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SKIP and self._may_skip(state):
            return Accept([])
        result = await super().accept(ctx, state, incoming)
        if not isinstance(result, Accept):
            return result
        names = split_contacts(result.value["text"])
        if not 1 <= len(names) <= CONTACTS_MAX or not all(is_name(n) and len(n) <= NAME_MAX for n in names):
            return invalid("contacts_count", maximum=CONTACTS_MAX)
        return Accept(names)


# ---------------------------------------------------------------- the form


def _at_least(stage: Stage) -> Callable[[dict[str, Any]], bool]:
    index = ORDER.index(stage)
    return lambda answers: stage_index(answers) >= index


def _stage_date(name: str, question: str, title: str, when: Callable[[dict[str, Any]], bool]) -> DateStep:
    # Typed: these dates are mostly months or years back, seldom today.
    return DateStep(name, question, title=title, when=when, max_days_back=STAGE_DAYS_BACK, quick=False,
                    check=rule_check(nomination_pipeline, name))


FORM = Form(
    name="nominate",
    steps=(
        EnterpriseStep("enterprise", "nomination/ask_enterprise", title="field_enterprise", source=EnterpriseSource()),
        NameStep("name", "nomination/ask_name", title="people.field_name", max_length=NAME_MAX),
        ChoiceStep("gender", "nomination/ask_gender", title="people.field_gender",
                   options=tuple((g.value, f"people.gender_{g.value}") for g in Gender)),
        BirthDateStep("birth_date", "nomination/ask_birth_date", title="people.field_birth_date", quick=False,
                      max_days_back=BIRTH_DAYS_BACK, check=rule_check(nomination_pipeline, "birth_date")),
        TextStep("position", "nomination/ask_position", title="people.field_position", optional=True,
                 max_length=NAME_MAX),
        ChoiceStep("is_owner", "nomination/ask_is_owner", title="people.field_is_owner",
                   options=(("staff", "people.is_owner_staff"), ("owner", "people.is_owner_owner"))),
        DateStep("applied_on", "nomination/ask_applied_on", title="people.field_applied_on",
                 max_days_back=STAGE_DAYS_BACK, check=rule_check(nomination_pipeline, "applied_on")),
        RowsChoiceStep("stage", "nomination/ask_stage", title="people.field_stage",
                       options=tuple((s.value, f"people.stage_{s.value}") for s in STAGES)),
        OptionalDateStep("talked_on", "nomination/ask_talked_on", title="people.field_talked_on", optional=True,
                         when=lambda answers: stage_index(answers) == 0, max_days_back=STAGE_DAYS_BACK,
                         check=rule_check(nomination_pipeline, "talked_on")),
        _stage_date("activist_on", "nomination/ask_activist_on", "people.field_activist_on", _at_least(Stage.ACTIVIST)),
        DateStep("notice_started_on", "nomination/ask_notice_started_on", title="people.field_notice_started_on",
                 when=_at_least(Stage.CANDIDATE), max_days_back=STAGE_DAYS_BACK, quick=False,
                 check=notice_check(nomination_pipeline)),
        _stage_date("candidate_on", "nomination/ask_candidate_on", "people.field_candidate_on",
                    _at_least(Stage.CANDIDATE)),
        _stage_date("probation_on", "nomination/ask_probation_on", "people.field_probation_on",
                    _at_least(Stage.PROBATIONARY)),
        _stage_date("full_on", "nomination/ask_full_on", "people.field_full_on", _at_least(Stage.FULL)),
        ContactsStep("contacts", "nomination/ask_contacts", title="people.field_contacts", max_length=80),
        TextStep("notes", "nomination/ask_notes", title="people.field_notes", optional=True, max_length=500),
    ),
    confirm=ConfirmStep(card="nomination/confirm"),
    describe=lambda ctx, answers: describe(ctx, answers),
    save=lambda ctx, answers: save(ctx, answers),
    # The nominating officer; a withdrawn person's record is closed (the form has no
    # 'withdrawn' stage to put back).
    correction=(CORRECTION := Correction(entity=people.ENTITY, get=people.get_in_scope,
                                         answers=lambda ctx, person: answers_of(person),
                                         closed=lambda person: person.stage == Stage.WITHDRAWN)),
)
FORMS = (FORM,)


def start_button(enterprise_id: int) -> str:
    """Opens the nomination form with this enterprise chosen (visit receipt, enterprise card)."""
    return f"nominate:start:{enterprise_id}"


def correct_button(person_id: int) -> str:
    return f"nominate:correct:{person_id}"


async def describe(ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
    """The card's values: names for ids, labels for codes; missing answers stay None."""
    enterprise = None
    if answers.get("enterprise") is not None:
        enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    birth, applied = _day(answers.get("birth_date")), _day(answers.get("applied_on"))
    return {
        "enterprise": enterprise.name if enterprise else None,
        "name": answers.get("name"),
        "gender": answers.get("gender"),
        "birth_date": birth,
        "age": development.age_on(birth, applied) if birth and applied else None,
        "position": (answers.get("position") or {}).get("text"),
        "is_owner": answers.get("is_owner") == "owner",
        "stage": answers.get("stage"),
        "dates": {name: _day(answers.get(name)) for name in people.DATE_FIELDS},
        "contacts": list(answers.get("contacts") or []),
        "notes": (answers.get("notes") or {}).get("text"),
    }


def _new_person(ctx: FormContext, answers: dict[str, Any], enterprise_id: int, kept_talk: date | None) -> people.NewPerson:
    dates = {name: _day(answers.get(name)) for name in people.DATE_FIELDS if name != "applied_on"}
    if stage_index(answers) > 0:
        dates["talked_on"] = kept_talk  # not asked past the application stage: keep what was recorded
    return people.NewPerson(
        enterprise_id=enterprise_id, officer_id=ctx.member.id, name=answers["name"], gender=answers["gender"],
        birth_date=date.fromisoformat(answers["birth_date"]), stage=answers["stage"],
        applied_on=date.fromisoformat(answers["applied_on"]), position=(answers.get("position") or {}).get("text"),
        is_owner=answers["is_owner"] == "owner", contacts=list(answers.get("contacts") or []),
        notes=(answers.get("notes") or {}).get("text"), **dates,
    )


async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
    """Stores the person (or the correction of their record) and returns the receipt."""
    # Checked again at saving: the enterprise may have left the officer's region meanwhile, and
    # someone else may have nominated the same person since the name was typed.
    enterprise = await enterprises.get_in_scope(ctx.session, answers["enterprise"], ctx.member.region)
    if enterprise is None:
        raise PermissionError("enterprise left the officer's scope")
    if await people.duplicate(ctx.session, enterprise.id, answers["name"], exclude_id=answers.get(RECORD)):
        raise PermissionError("person nominated at this enterprise meanwhile")
    person: Person = ctx.correcting
    if person is not None:
        new = _new_person(ctx, answers, enterprise.id, person.talked_on)
        await people.correct(ctx.session, person, new, actor_id=ctx.member.id, actor_label=ctx.member.name,
                             now=ctx.now)
    else:
        new = _new_person(ctx, answers, enterprise.id, None)
        person = await people.create(ctx.session, new, actor_label=ctx.member.name, now=ctx.now)
    receipt = render("nomination/saved", ctx.locale, number=person.id, name=person.name, enterprise=enterprise.name,
                     stage=person.stage, corrected=ctx.correcting is not None)
    buttons = (link(correct_button(person.id), label("correct", ctx.locale)),
               link(start_button(enterprise.id), label("people.nominate_another", ctx.locale)))
    return Saved(Prompt(receipt, (buttons,)), person)


async def answers_of(person: Person) -> dict[str, Any]:
    """The form's answers for a saved person: a correction starts from them, on the card."""
    answers: dict[str, Any] = {
        "enterprise": person.enterprise_id,
        "name": person.name,
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat(),
        "position": {"text": person.position} if person.position else None,
        "is_owner": "owner" if person.is_owner else "staff",
        "stage": person.stage,
        "contacts": list(person.contacts or []),
        "notes": {"text": person.notes} if person.notes else None,
    }
    stage = ORDER.index(Stage(person.stage))
    for name in people.DATE_FIELDS:
        value = getattr(person, name)
        if name == "talked_on" and stage > 0:
            continue  # asked of applicants only
        if value is not None or name == "talked_on":
            answers[name] = value.isoformat() if value else None
    return answers


async def start_nominate(update: Update, context: BotContext) -> None:
    """Opens the nomination form (or offers the unfinished draft back); from a visit receipt or
    an enterprise card with that enterprise already chosen, if it is in the officer's region."""
    if await common.allowed(update, context, Role.OFFICER):
        await context.bot_data.runner.start_from_button(update, context, FORM.name, START)


async def correct_person(update: Update, context: BotContext) -> None:
    """Reopens a nomination on its confirmation card, while it may still be corrected."""
    await context.bot_data.runner.reopen(update, context, FORM.name, CORRECT)


def handlers() -> list[BaseHandler[Update, BotContext, Any]]:
    return [
        CommandHandler("nominate", start_nominate),
        CallbackQueryHandler(start_nominate, pattern=START),
        CallbackQueryHandler(correct_person, pattern=CORRECT),
    ]
