"""The form engine: every conversation is a declared form, run by this one engine.

A form is data (the way ODK's XLSForm declares a survey): its steps, each with a kind,
validation, whether it is optional, when it applies, and the template that asks it. The
engine asks, validates, re-asks, skips, jumps back from the confirmation card, and saves.

The engine speaks in plain prompts, options and inputs; `handlers.adapter` turns them into
Telegram messages and keyboards and keeps the draft (form, step, answers) in the database.
So a form can be tested without Telegram, and another messenger would be a second adapter.

Flow of one input:  adapter → `FormEngine.handle(ctx, state, incoming)` → `Outcome`
(the new state, or None when saved/cancelled, and the replies to show).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from output.render import label, render
from output.text import utf16_len
from storage import reviews
from storage.enums import Role
from storage.officers import Member, locale_of

# Engine keys of buttons. Form option keys never start with "~".
SKIP, DONE, SUBMIT, CANCEL, EDIT, TODAY, YESTERDAY, OTHER, SEARCH = (
    "~skip", "~done", "~submit", "~cancel", "~edit:", "~today", "~yesterday", "~other", "~search",
)
PENDING = "_pending"  # scratch answer: selections or media collected so far
# The id of the saved record a correction started from (`Correction`): no step asks it.
RECORD = "_record"
# Kept on an open draft while the user decides whether to continue it or start another form:
# the other form and the values it was started with (a button's enterprise, a record).
NEXT = "_next"
# Which message typed the answer of a free-text step, `{message ref: step name}`: an edit of
# that message corrects the answer (`FormEngine.amend`) instead of answering the next question.
TYPED = "_typed"
SCRATCH = (PENDING, NEXT, TYPED)


# ---------------------------------------------------------------- values the engine works in


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    # A button outside the form (on a receipt: correct it, nominate someone next) carries its
    # own complete callback data instead of a key of the current question.
    callback: str | None = None


def link(callback: str, text: str) -> Option:
    return Option(key="", label=text, callback=callback)


@dataclass(frozen=True)
class Prompt:
    """One message: HTML text and rows of buttons."""

    text: str
    buttons: tuple[tuple[Option, ...], ...] = ()


@dataclass(frozen=True)
class Reply:
    prompt: Prompt
    # Edit the message whose button was pressed instead of sending a new one (multi-select
    # toggles), so ticking three activities does not leave three keyboards behind.
    replace: bool = False


@dataclass(frozen=True)
class Incoming:
    """What the user sent, already freed of Telegram's types."""

    text: str | None = None
    key: str | None = None
    photo: str | None = None
    voice: str | None = None
    location: tuple[float, float] | None = None
    unsupported: bool = False
    # The message it came in (Telegram: its message_id), to recognise a later edit of it.
    ref: str | None = None


@dataclass
class FormState:
    """The draft: mirrors `storage.models.Draft`."""

    form: str
    step: str
    answers: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    editing: bool = False
    seq: int = 0


@dataclass
class FormContext:
    session: AsyncSession
    member: Member
    locale: str
    today: date
    now: datetime
    # While saving a correction: the saved record being corrected, loaded and checked by the
    # engine (in the caller's region, and theirs to correct now). None for a new record.
    correcting: Any = None
    # The bot's locale (`BOT_LOCALE`), for a text made for someone else (`locale_for`).
    bot_locale: str | None = None

    def locale_for(self, own: str | None) -> str:
        """The locale of a message for another person whose own locale is `own`."""
        return locale_of(own, self.bot_locale or self.locale)


@dataclass(frozen=True)
class Notice:
    """A message for someone else (the officer whose report needs fixing, the owner whose
    request was resolved), sent once the saving unit of work has committed."""

    chat_id: int
    prompt: Prompt


@dataclass(frozen=True)
class Outcome:
    state: FormState | None
    replies: tuple[Reply, ...]
    notice: str | None = None  # a short toast for a pressed button
    saved: Any = None
    others: tuple[Notice, ...] = ()


# ---------------------------------------------------------------- what a step answers


@dataclass(frozen=True)
class Accept:
    value: Any


@dataclass(frozen=True)
class Invalid:
    """Bad input: the message `forms/error` renders for `code`, then the same question."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stay:
    """Still on this step: a new mode or scratch value, asked again (or redrawn in place)."""

    mode: str | None = None
    pending: Any = None
    redraw: bool = False
    keep_pending: bool = False


StepResult = Accept | Invalid | Stay


def invalid(code: str, **values: Any) -> Invalid:
    return Invalid(code, values)


def _collected(state: FormState, name: str) -> list[Any]:
    """What a multi-part step has gathered: the scratch list while on it, else its answer
    (so jumping back from the card starts from what was chosen before)."""
    if PENDING in state.answers:
        return list(state.answers[PENDING])
    return list(state.answers.get(name) or [])


class Step(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str:
        """The label macro naming the field on the confirmation card's edit buttons."""

    @property
    def editable(self) -> bool: ...

    @property
    def resets(self) -> tuple[str, ...]:
        """Steps whose answers follow from this one's: asked again when this answer changes."""

    def applies(self, answers: dict[str, Any]) -> bool: ...

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt: ...

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult: ...


@dataclass(frozen=True)
class BaseStep:
    name: str
    question: str  # template name
    title: str = ""
    optional: bool = False
    editable: bool = True
    when: Callable[[dict[str, Any]], bool] | None = None
    # Answers made for this one (a name proposed for a category): forgotten when it changes, so
    # the engine asks them again, from the confirmation card too.
    resets: tuple[str, ...] = ()

    def applies(self, answers: dict[str, Any]) -> bool:
        return self.when is None or self.when(answers)

    def _text(self, ctx: FormContext, state: FormState, **values: Any) -> str:
        return render(self.question, ctx.locale, answers=state.answers, mode=state.mode, today=ctx.today, **values)

    def _skip_row(self, ctx: FormContext) -> tuple[tuple[Option, ...], ...]:
        return ((Option(SKIP, label("skip", ctx.locale)),),) if self.optional else ()


# ---------------------------------------------------------------- the kinds of step


@dataclass(frozen=True)
class ChoiceStep(BaseStep):
    """One of a few options, as buttons; typing an option's label works too.

    `offer` narrows the options by the answers so far (a joint branch is no 党委)."""

    options: tuple[tuple[str, str], ...] = ()  # (key, label macro)
    offer: Callable[[dict[str, Any]], Collection[str]] | None = None

    def _options(self, ctx: FormContext, answers: dict[str, Any] | None = None) -> list[Option]:
        offered = self.offer(answers or {}) if self.offer is not None else None
        return [Option(key, label(name, ctx.locale)) for key, name in self.options
                if offered is None or key in offered]

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        return Prompt(self._text(ctx, state), (tuple(self._options(ctx, state.answers)),) + self._skip_row(ctx))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SKIP and self.optional:
            return Accept(None)
        for option in self._options(ctx, state.answers):
            if incoming.key == option.key or (incoming.text or "").strip() == option.label:
                return Accept(option.key)
        return invalid("use_buttons")


@dataclass(frozen=True)
class MultiStep(BaseStep):
    """Several options ticked one by one, then 'next'. Ticks redraw the same message."""

    options: tuple[tuple[str, str], ...] = ()
    per_row: int = 2

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        chosen = _collected(state, self.name)
        buttons = [
            Option(key, label("ticked" if key in chosen else "unticked", ctx.locale, text=label(name, ctx.locale)))
            for key, name in self.options
        ]
        rows = tuple(tuple(buttons[i : i + self.per_row]) for i in range(0, len(buttons), self.per_row))
        return Prompt(self._text(ctx, state, chosen=chosen), (*rows, (Option(DONE, label("next", ctx.locale)),)))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        chosen = _collected(state, self.name)
        keys = [key for key, _ in self.options]
        if incoming.key in keys:
            key = incoming.key
            chosen = [k for k in chosen if k != key] if key in chosen else [*chosen, key]
            return Stay(mode=state.mode, pending=[k for k in keys if k in chosen], redraw=True)
        if incoming.key == DONE:
            if not chosen and not self.optional:
                return invalid("choose_at_least_one")
            return Accept([k for k in keys if k in chosen])
        return invalid("use_buttons")


DATE_FORMATS = (
    re.compile(r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?$"),
    re.compile(r"^(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?$"),
)
# A yearless date this far ahead is last year's (typed in January about December); nearer
# future dates stay in this year, so the form can say "not after today" about them.
NEW_YEAR_ROLLOVER_DAYS = 180
RELATIVE_DAYS = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2}


def parse_date(text: str, today: date) -> date | None:
    """`2026-11-20`, `11-20`, `11月20日`, `今天`, `昨天` (full-width digits too) → a date, else None.

    A date without a year is in the current year, as people mean it on a form about recent work —
    except across New Year: `12-30` typed on 2 January means the December just gone.
    """
    cleaned = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    if cleaned in RELATIVE_DAYS:
        return today - timedelta(days=RELATIVE_DAYS[cleaned])
    for pattern in DATE_FORMATS:
        match = pattern.match(cleaned)
        if match:
            parts = match.groupdict()
            try:
                value = date(int(parts.get("y") or today.year), int(parts["m"]), int(parts["d"]))
            except ValueError:
                return None
            if not parts.get("y") and (value - today).days > NEW_YEAR_ROLLOVER_DAYS:
                value = value.replace(year=value.year - 1) if (value.month, value.day) != (2, 29) else value
            return value
    return None


@dataclass(frozen=True)
class DateStep(BaseStep):
    """Today / yesterday as buttons, any other date typed. Never in the future.

    `quick=False` asks for a typed date only (a birth date has no 'today' button); `check`
    holds rules across answers (a stage date not before the one before it).
    """

    max_days_back: int = 366
    quick: bool = True
    check: Callable[[dict[str, Any], date], Invalid | None] | None = None

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        if not self.quick:
            return Prompt(self._text(ctx, state), self._skip_row(ctx))
        if state.mode == "typing":
            return Prompt(render("forms/ask_date_typed", ctx.locale, today=ctx.today))
        yesterday = ctx.today - timedelta(days=1)
        row = (
            Option(TODAY, label("today", ctx.locale, day=ctx.today)),
            Option(YESTERDAY, label("yesterday", ctx.locale, day=yesterday)),
            Option(OTHER, label("other_date", ctx.locale)),
        )
        return Prompt(self._text(ctx, state), (row,))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SKIP and self.optional:
            return Accept(None)
        if incoming.key in (TODAY, YESTERDAY) and self.quick:
            value = ctx.today - timedelta(days=0 if incoming.key == TODAY else 1)
        elif incoming.key == OTHER and self.quick:
            return Stay(mode="typing")
        elif incoming.text is None:
            return invalid("use_buttons" if self.quick else "date_format")
        else:
            parsed = parse_date(incoming.text, ctx.today)
            if parsed is None:
                return invalid("date_format")
            value = parsed
        if value > ctx.today:
            return invalid("date_future", today=ctx.today)
        earliest = ctx.today - timedelta(days=self.max_days_back)
        if value < earliest:
            return invalid("date_too_old", earliest=earliest)
        problem = self.check(state.answers, value) if self.check else None
        return problem or Accept(value.isoformat())


def parse_count(text: str) -> int | None:
    """`120`, `１２０`, `120人`, `120 人`, `1,200` → an integer; anything else → None."""
    cleaned = re.sub(r"\s*[人名]$", "", unicodedata.normalize("NFKC", text).strip()).replace(",", "")
    # Up to 18 digits parse, so an absurd count gets "out of range" rather than "not a number".
    return int(cleaned) if re.fullmatch(r"\d{1,18}", cleaned) else None


@dataclass(frozen=True)
class NumberStep(BaseStep):
    minimum: int = 0
    maximum: int = 1_000_000
    # A rule across answers, e.g. party members ≤ employees: returns the problem or None.
    check: Callable[[dict[str, Any], int], Invalid | None] | None = None

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        return Prompt(self._text(ctx, state), self._skip_row(ctx))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SKIP and self.optional:
            return Accept(None)
        value = parse_count(incoming.text or "") if incoming.text is not None else None
        if value is None:
            return invalid("number_format")
        if not self.minimum <= value <= self.maximum:
            return invalid("number_range", minimum=self.minimum, maximum=self.maximum)
        problem = self.check(state.answers, value) if self.check else None
        return problem or Accept(value)


@dataclass(frozen=True)
class TextStep(BaseStep):
    """Free text (escaped wherever it is shown again); a voice note counts where allowed."""

    max_length: int = 1000
    accepts_voice: bool = False

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        return Prompt(self._text(ctx, state), self._skip_row(ctx))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SKIP and self.optional:
            return Accept(None)
        if incoming.voice and self.accepts_voice:
            return Accept({"voice": incoming.voice})
        if incoming.text is None:
            return invalid("text_expected_voice" if self.accepts_voice else "text_expected")
        text = incoming.text.strip()
        if not text:
            return invalid("text_empty")
        # Telegram measures messages in UTF-16 units (an emoji is two), so the limits do too:
        # the answers must still fit the confirmation card.
        length = utf16_len(text)
        if length > self.max_length:
            return invalid("text_too_long", maximum=self.max_length, length=length)
        return Accept({"text": text})


@dataclass(frozen=True)
class MediaStep(BaseStep):
    """Photos, voice notes and a location, as many as wanted, then 'done' (or skip)."""

    max_items: int = 10

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        items = _collected(state, self.name)
        finish = Option(DONE, label("done", ctx.locale)) if items else Option(SKIP, label("skip", ctx.locale))
        counts = {kind: sum(1 for item in items if item["type"] == kind) for kind in ("photo", "voice", "location")}
        return Prompt(self._text(ctx, state, counts=counts, received=bool(items)), ((finish,),))

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        items = _collected(state, self.name)
        if incoming.key in (DONE, SKIP):
            return Accept(items)
        moves_pin = incoming.location is not None and any(item["type"] == "location" for item in items)
        adds = incoming.photo or incoming.voice or (incoming.location and not moves_pin)
        if len(items) >= self.max_items and adds:
            return invalid("media_full", maximum=self.max_items)
        if incoming.photo:
            return Stay(pending=[*items, {"type": "photo", "file_id": incoming.photo}])
        if incoming.voice:
            return Stay(pending=[*items, {"type": "voice", "file_id": incoming.voice}])
        if incoming.location:
            kept = [item for item in items if item["type"] != "location"]  # one place per visit
            lat, lon = incoming.location
            return Stay(pending=[*kept, {"type": "location", "latitude": lat, "longitude": lon}])
        return invalid("media_expected")


class LookupSource(Protocol):
    """Where a lookup step finds its records (enterprises in the user's scope, people, …)."""

    async def suggestions(self, ctx: FormContext) -> list[Option]: ...

    async def search(self, ctx: FormContext, text: str) -> list[Option]: ...

    async def resolve(self, ctx: FormContext, key: str) -> Any | None: ...


@dataclass(frozen=True)
class LookupStep(BaseStep):
    """A record picked from suggestions, or searched by typing; a typed text always searches."""

    source: LookupSource | None = None

    def _source(self) -> LookupSource:
        assert self.source is not None, f"lookup step {self.name} has no source"
        return self.source

    async def ask(self, ctx: FormContext, state: FormState) -> Prompt:
        if state.mode == "search":
            return Prompt(render("forms/ask_search", ctx.locale))
        if state.mode and state.mode.startswith("q:"):
            query = state.mode[2:]
            found = await self._source().search(ctx, query)
            rows = tuple((option,) for option in found)
            return Prompt(render("forms/search_results", ctx.locale, query=query, count=len(found)), rows)
        suggested = await self._source().suggestions(ctx)
        rows = (*((option,) for option in suggested), (Option(SEARCH, label("search_other", ctx.locale)),))
        return Prompt(self._text(ctx, state, suggested=len(suggested)), rows)

    async def accept(self, ctx: FormContext, state: FormState, incoming: Incoming) -> StepResult:
        if incoming.key == SEARCH:
            return Stay(mode="search")
        if incoming.key is not None:
            value = await self._source().resolve(ctx, incoming.key)
            return Accept(value) if value is not None else invalid("not_available")
        if incoming.text is None or not incoming.text.strip():
            return invalid("lookup_expected")
        query = incoming.text.strip()[:40]
        if not await self._source().search(ctx, query):
            return invalid("no_match", query=query)
        return Stay(mode=f"q:{query}")


@dataclass(frozen=True)
class ConfirmStep:
    """The summary card: submit, jump back to any editable step, or cancel."""

    card: str  # template name
    name: str = "confirm"
    title: str = ""
    editable: bool = False

    def applies(self, answers: dict[str, Any]) -> bool:
        return True


def _remember_typed(answers: dict[str, Any], step: Step, incoming: Incoming) -> dict[str, Any]:
    """Notes which message typed a free-text step's answer, forgetting the one that typed its
    earlier answer (a step answered again from the card, by voice or by skipping)."""
    typed = {ref: name for ref, name in (answers.get(TYPED) or {}).items() if name != step.name}
    if isinstance(step, TextStep) and incoming.text is not None and incoming.ref is not None:
        typed[incoming.ref] = step.name
    rest = {k: v for k, v in answers.items() if k != TYPED}
    return {**rest, TYPED: typed} if typed else rest


def _title(step: Step | None, locale: str) -> str | None:
    return label(step.title, locale) if step is not None and step.title else None


# ---------------------------------------------------------------- forms and the engine


@dataclass(frozen=True)
class Saved:
    """What a form's save returns: the receipt, the saved record, and messages for others."""

    receipt: Prompt
    record: Any = None
    others: tuple[Notice, ...] = ()


def _never(record: Any) -> bool:
    return False


@dataclass(frozen=True)
class Correction:
    """A form whose saved records their author may reopen on its card and correct: within 24
    hours of saving, or at any time while a supervisor has sent the record back
    (`storage.reviews.may_correct`). The engine loads and checks the record when the card is
    reopened and again when it is saved, and hands it to the form's save as `ctx.correcting`;
    the save stores the correction, which its storage function audits and sends back to review.

    The record has `id`, `officer_id` (its author) and `created_at`."""

    entity: str  # the record's name in reviews and the audit log
    # The record if it is in the caller's region (session, id, region), else None.
    get: Callable[[AsyncSession, int, str], Awaitable[Any]]
    # The form's answers for the saved record: the card shows them, ready to edit.
    answers: Callable[[FormContext, Any], Awaitable[dict[str, Any]]]
    # Records the form cannot put back as they are (a withdrawn person: no such stage to choose).
    closed: Callable[[Any], bool] = _never
    # Who may correct (their own records): officers, who file them.
    roles: tuple[Role, ...] = (Role.OFFICER,)

    async def allows(self, session: AsyncSession, member: Member, record: Any, now: datetime) -> bool:
        """Whether `member` may correct the record now (its card shows 修改 then)."""
        if member.role not in self.roles or self.closed(record):
            return False
        return await reviews.may_correct(session, entity=self.entity, entity_id=record.id,
                                         author_id=record.officer_id, created_at=record.created_at,
                                         member_id=member.id, now=now)


@dataclass(frozen=True)
class Form:
    name: str
    steps: tuple[Step, ...]
    # None for short forms (a status note, a rating) that save as soon as they are answered.
    confirm: ConfirmStep | None
    # Values for the card template (names looked up from ids, and so on).
    describe: Callable[[FormContext, dict[str, Any]], Awaitable[dict[str, Any]]]
    save: Callable[[FormContext, dict[str, Any]], Awaitable[Saved]]
    correction: Correction | None = None

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"form {self.name} has no step {name}")

    def applicable(self, answers: dict[str, Any]) -> list[Step]:
        return [step for step in self.steps if step.applies(answers)]

    def answered(self, answers: dict[str, Any]) -> dict[str, Any]:
        """The answers of steps that apply now, plus the values the form was started with
        that no step asks (the person a stage change is for, the record being corrected).
        An answer to a step that a later edit made irrelevant is not saved."""
        steps = {step.name for step in self.steps}
        carried = {k: v for k, v in answers.items() if k not in steps and k not in SCRATCH}
        return carried | {s.name: answers[s.name] for s in self.applicable(answers) if s.name in answers}


class FormEngine:
    def __init__(self, forms: Sequence[Form]) -> None:
        self.forms = {form.name: form for form in forms}

    def form(self, name: str) -> Form:
        return self.forms[name]

    async def correctable(self, ctx: FormContext, form_name: str, record_id: int) -> Any | None:
        """The saved record of the form if `ctx.member` may correct it now, else None."""
        correction = self.forms[form_name].correction
        if correction is None:
            return None
        record = await correction.get(ctx.session, record_id, ctx.member.region)
        if record is None or not await correction.allows(ctx.session, ctx.member, record, ctx.now):
            return None
        return record

    async def reopen(self, ctx: FormContext, form_name: str, record_id: int) -> dict[str, Any] | None:
        """The answers that open the form on a saved record's card for its correction; None
        when the caller may not correct it (not theirs, out of region, or closed)."""
        record = await self.correctable(ctx, form_name, record_id)
        correction = self.forms[form_name].correction
        if record is None or correction is None:
            return None
        return {RECORD: record.id, **await correction.answers(ctx, record)}

    async def _save(self, ctx: FormContext, form: Form, answers: dict[str, Any]) -> Saved:
        """Saves the answers; a correction only while its record may still be corrected (it
        may have left the region, or its 24 hours passed, since the card was reopened)."""
        if RECORD in answers:
            record = await self.correctable(ctx, form.name, answers[RECORD])
            if record is None:
                raise PermissionError(f"{form.name} {answers[RECORD]} may no longer be corrected")
            ctx = replace(ctx, correcting=record)
        return await form.save(ctx, answers)

    async def start(self, ctx: FormContext, form_name: str, answers: dict[str, Any] | None = None) -> Outcome:
        """A new draft at the first step that has no answer yet (prefilled answers skip steps)."""
        form = self.forms[form_name]
        state = FormState(form=form_name, step="", answers=dict(answers or {}))
        return await self._advance(ctx, form, state, [])

    async def prompt(self, ctx: FormContext, state: FormState) -> Outcome:
        """Asks the current question again (a resumed draft)."""
        form = self.forms[state.form]
        state = replace(state, seq=state.seq + 1)
        return Outcome(state, (Reply(await self._ask(ctx, form, state)),))

    async def handle(self, ctx: FormContext, state: FormState, incoming: Incoming) -> Outcome:
        form = self.forms[state.form]
        if form.confirm is not None and state.step == form.confirm.name:
            return await self._on_confirm(ctx, form, state, incoming)
        step = form.step(state.step)
        result = await step.accept(ctx, state, incoming)
        if isinstance(result, Invalid):
            return await self._reask(ctx, form, state, result)
        if isinstance(result, Stay):
            answers = dict(state.answers)
            if result.pending is not None:
                answers[PENDING] = result.pending
            # Same question (a tick, another photo): its buttons stay valid, so quick taps on
            # one keyboard all count. A new mode is a new question: older buttons go stale.
            seq = state.seq if result.mode == state.mode else state.seq + 1
            new = replace(state, mode=result.mode, answers=answers, seq=seq)
            return Outcome(new, (Reply(await self._ask(ctx, form, new), replace=result.redraw),))
        answers = {k: v for k, v in state.answers.items() if k != PENDING}
        if step.name in answers and answers[step.name] != result.value:
            answers = {k: v for k, v in answers.items() if k not in step.resets}
        answers[step.name] = result.value
        answers = _remember_typed(answers, step, incoming)
        # An answer can make other steps irrelevant ('no change' to head counts): forget theirs,
        # so choosing 'update' again later asks afresh instead of reusing stale numbers.
        hidden = {s.name for s in form.steps if not s.applies(answers)}
        answers = {k: v for k, v in answers.items() if k not in hidden}
        return await self._advance(ctx, form, replace(state, answers=answers, mode=None), [])

    async def amend(self, ctx: FormContext, state: FormState, incoming: Incoming) -> Outcome:
        """An edited message: corrects the free-text answer it typed, if that answer still
        counts; otherwise says how an answer is changed. Either way the draft stays on its
        question, which is asked again: an edit never answers it."""
        form = self.forms[state.form]
        name = (state.answers.get(TYPED) or {}).get(incoming.ref or "")
        step = next((s for s in form.applicable(state.answers) if s.name == name), None)
        result: StepResult | None = None
        if isinstance(step, TextStep) and step.name in state.answers:
            result = await step.accept(ctx, state, incoming)
        if isinstance(result, Invalid):  # too long, say: the answer typed first stays
            problem = render("forms/error", ctx.locale, code=result.code, **{"today": ctx.today, **result.values})
            note = render("forms/edit_not_applied", ctx.locale, field=_title(step, ctx.locale))
            return await self._noted(ctx, form, state, problem + "\n" + note)
        answers = {**state.answers, str(name): result.value} if isinstance(result, Accept) else None
        # A text that decided which questions are asked would need them asked: the card's edit
        # button does that.
        if answers is None or form.applicable(answers) != form.applicable(state.answers):
            return await self._noted(ctx, form, state, render("forms/edit_not_taken", ctx.locale, draft=True))
        note = render("forms/edit_applied", ctx.locale, field=_title(step, ctx.locale))
        return await self._noted(ctx, form, replace(state, answers=answers), note)

    async def _noted(self, ctx: FormContext, form: Form, state: FormState, note: str) -> Outcome:
        # The question is asked again with the same seq, so the buttons of its earlier copy
        # still work (as after an invalid answer).
        question = await self._ask(ctx, form, state)
        return Outcome(state, (Reply(Prompt(note + "\n" + question.text, question.buttons)),))

    async def _advance(self, ctx: FormContext, form: Form, state: FormState, before: list[Reply]) -> Outcome:
        # The next step is the first applicable one without an answer. After a jump back from
        # the card, that is usually none (back to the card), unless the edit opened a new step.
        pending = next((s for s in form.applicable(state.answers) if s.name not in state.answers), None)
        if pending is not None:
            name = pending.name
        elif form.confirm is not None:
            name = form.confirm.name
        else:
            saved = await self._save(ctx, form, form.answered(state.answers))
            return Outcome(None, (*before, Reply(saved.receipt)), saved=saved.record, others=saved.others)
        new = replace(state, step=name, mode=None, seq=state.seq + 1, editing=state.editing and pending is not None)
        return Outcome(new, (*before, Reply(await self._ask(ctx, form, new))))

    async def _reask(self, ctx: FormContext, form: Form, state: FormState, problem: Invalid) -> Outcome:
        error = render("forms/error", ctx.locale, code=problem.code, **{"today": ctx.today, **problem.values})
        # The question is asked again unchanged, so the buttons of its earlier copy still work.
        question = await self._ask(ctx, form, state)
        return Outcome(state, (Reply(Prompt(error + "\n" + question.text, question.buttons)),))

    async def _ask(self, ctx: FormContext, form: Form, state: FormState) -> Prompt:
        if form.confirm is not None and state.step == form.confirm.name:
            return await self._card(ctx, form, state, form.confirm)
        return await form.step(state.step).ask(ctx, state)

    async def _card(self, ctx: FormContext, form: Form, state: FormState, confirm: ConfirmStep) -> Prompt:
        answers = form.answered(state.answers)
        # Every card says whether it shows a new record or the correction of a saved one.
        values = {"correcting": RECORD in answers, **await form.describe(ctx, answers)}
        text = render(confirm.card, ctx.locale, **values)
        edits = [
            Option(EDIT + step.name, label("edit", ctx.locale, field=label(step.title, ctx.locale)))
            for step in form.applicable(state.answers)
            if step.editable
        ]
        rows = (
            (Option(SUBMIT, label("submit", ctx.locale)),),
            *(tuple(edits[i : i + 2]) for i in range(0, len(edits), 2)),
            (Option(CANCEL, label("cancel", ctx.locale)),),
        )
        return Prompt(text, rows)

    async def _on_confirm(self, ctx: FormContext, form: Form, state: FormState, incoming: Incoming) -> Outcome:
        if incoming.key == SUBMIT:
            saved = await self._save(ctx, form, form.answered(state.answers))
            return Outcome(None, (Reply(saved.receipt),), saved=saved.record, others=saved.others)
        if incoming.key == CANCEL:
            return Outcome(None, (Reply(Prompt(render("forms/cancelled", ctx.locale))),))
        if incoming.key and incoming.key.startswith(EDIT):
            name = incoming.key[len(EDIT) :]
            editable = [s.name for s in form.applicable(state.answers) if s.editable]
            if name not in editable:
                return await self._reask(ctx, form, state, invalid("use_buttons"))
            new = replace(state, step=name, mode=None, editing=True, seq=state.seq + 1)
            return Outcome(new, (Reply(await self._ask(ctx, form, new)),))
        return await self._reask(ctx, form, state, invalid("use_buttons"))
