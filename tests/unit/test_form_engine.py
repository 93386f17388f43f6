"""The form engine on a small fake form, with neither Telegram nor a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from handlers.forms import (
    CANCEL,
    DONE,
    EDIT,
    OTHER,
    PENDING,
    RECORD,
    SEARCH,
    SKIP,
    SUBMIT,
    TODAY,
    YESTERDAY,
    ChoiceStep,
    ConfirmStep,
    Correction,
    DateStep,
    Form,
    FormContext,
    FormEngine,
    FormState,
    Incoming,
    Invalid,
    LookupStep,
    MediaStep,
    MultiStep,
    NumberStep,
    Option,
    Outcome,
    Prompt,
    Saved,
    TextStep,
    invalid,
)
from output.render import label, render
from storage.enums import Role
from storage.officers import Member

DAY = date(2026, 11, 20)
LOCALE = "zh_CN"
ENTERPRISES = {1: "枝江市楚韵纺织有限公司", 2: "枝江市白洋港机械制造有限公司", 3: "宜都市红花套柑橘合作社"}


class FakeEnterprises:
    """A lookup source over a dict: suggests enterprise 1, searches names, resolves `e<id>`."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def _option(self, id: int) -> Option:
        return Option(f"e{id}", ENTERPRISES[id])

    async def suggestions(self, ctx: FormContext) -> list[Option]:
        return [self._option(1)]

    async def search(self, ctx: FormContext, text: str) -> list[Option]:
        self.searched.append(text)
        return [self._option(id) for id, name in ENTERPRISES.items() if text in name]

    async def resolve(self, ctx: FormContext, key: str) -> int | None:
        if key.startswith("e") and key[1:].isdigit() and int(key[1:]) in ENTERPRISES:
            return int(key[1:])
        return None


@dataclass
class Recorder:
    described: list[dict[str, Any]] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)

    async def describe(self, ctx: FormContext, answers: dict[str, Any]) -> dict[str, Any]:
        self.described.append(dict(answers))
        media = answers.get("media") or []
        return {
            "enterprise": ENTERPRISES.get(answers.get("enterprise") or 0),
            "visit_date": date.fromisoformat(answers["visit_date"]) if answers.get("visit_date") else None,
            "activities": [label(f"activity_{code}", ctx.locale) for code in answers.get("activities") or []],
            "employees": answers.get("employees"),
            "party_members": answers.get("party_members"),
            "summary": None,
            "summary_voice": False,
            "follow_up": (answers.get("follow_up") or {}).get("text"),
            "photos": sum(1 for item in media if item["type"] == "photo"),
            "voices": sum(1 for item in media if item["type"] == "voice"),
            "located": any(item["type"] == "location" for item in media),
            "correcting": "_record" in answers,
        }

    async def save(self, ctx: FormContext, answers: dict[str, Any]) -> Saved:
        self.saved.append(dict(answers))
        receipt = render("visit/saved", ctx.locale, number=7, enterprise=ENTERPRISES[answers["enterprise"]], corrected=False)
        return Saved(Prompt(receipt), record=("visit", 7))


def _updating(answers: dict[str, Any]) -> bool:
    return answers.get("headcount") == "update"


def _within_employees(answers: dict[str, Any], members: int) -> Invalid | None:
    employees = answers["employees"]
    return invalid("members_exceed_employees", employees=employees) if members > employees else None


STEP_ORDER = ["enterprise", "visit_date", "activities", "headcount", "employees", "party_members", "follow_up", "media"]


def _form(recorder: Recorder, source: FakeEnterprises) -> Form:
    return Form(
        name="fake_visit",
        steps=(
            LookupStep("enterprise", "visit/ask_enterprise", title="field_enterprise", source=source),
            DateStep("visit_date", "visit/ask_date", title="field_date", max_days_back=30),
            MultiStep("activities", "visit/ask_activities", title="field_activities",
                      options=(("policy", "activity_policy"), ("help", "activity_help"), ("other", "activity_other"))),
            ChoiceStep("headcount", "visit/ask_headcount", title="field_headcount",
                       options=(("same", "headcount_same"), ("update", "headcount_update"))),
            NumberStep("employees", "visit/ask_employees", title="field_employees", when=_updating, maximum=5000),
            NumberStep("party_members", "visit/ask_party_members", title="field_party_members", when=_updating,
                       maximum=5000, check=_within_employees),
            TextStep("follow_up", "visit/ask_follow_up", title="field_follow_up", optional=True, max_length=20),
            MediaStep("media", "visit/ask_media", title="field_media", optional=True, max_items=4),
        ),
        confirm=ConfirmStep(card="visit/confirm"),
        describe=recorder.describe,
        save=recorder.save,
    )


@dataclass
class Harness:
    """Drives the engine like the adapter does, keeping the draft between inputs."""

    engine: FormEngine
    ctx: FormContext
    recorder: Recorder
    source: FakeEnterprises
    state: FormState | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def _keep(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        self.state = outcome.state
        return outcome

    async def start(self, answers: dict[str, Any] | None = None) -> Outcome:
        return self._keep(await self.engine.start(self.ctx, "fake_visit", answers))

    async def send(self, **incoming: Any) -> Outcome:
        assert self.state is not None, "the form is closed"
        return self._keep(await self.engine.handle(self.ctx, self.state, Incoming(**incoming)))

    async def tap(self, key: str) -> Outcome:
        return await self.send(key=key)

    async def say(self, text: str) -> Outcome:
        return await self.send(text=text)

    async def prompt(self) -> Outcome:
        assert self.state is not None
        return self._keep(await self.engine.prompt(self.ctx, self.state))

    @property
    def draft(self) -> FormState:
        assert self.state is not None, "the form is closed"
        return self.state

    @property
    def step(self) -> str | None:
        return self.state.step if self.state else None

    async def ask_text(self, name: str, state: FormState | None = None) -> str:
        """The question `name` as the step itself renders it for the current draft."""
        form = self.engine.form("fake_visit")
        current = state or self.state
        assert current is not None
        return (await form.step(name).ask(self.ctx, current)).text

    async def to_card(self, headcount: str = "update") -> Outcome:
        await self.start()
        await self.tap("e1")
        await self.tap(TODAY)
        await self.tap("policy")
        await self.tap(DONE)
        outcome = await self.tap(headcount)
        if headcount == "update":
            await self.say("120")
            outcome = await self.say("30")
        await self.say("下周送政策汇编")
        outcome = await self.tap(SKIP)
        assert self.step == "confirm"
        return outcome


@pytest.fixture
def harness() -> Harness:
    recorder, source = Recorder(), FakeEnterprises()
    member = Member(id=5, name="张三", role=Role.OFFICER, region="宜昌市/枝江市", locale=None)
    ctx = FormContext(session=object(), member=member, locale=LOCALE, today=DAY,  # type: ignore[arg-type]
                      now=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    return Harness(FormEngine([_form(recorder, source)]), ctx, recorder, source)


def _text(outcome: Outcome) -> str:
    [reply] = outcome.replies
    return reply.prompt.text


def _keys(outcome: Outcome) -> list[str]:
    return [option.key for row in outcome.replies[-1].prompt.buttons for option in row]


def _labels(outcome: Outcome) -> list[str]:
    return [option.label for row in outcome.replies[-1].prompt.buttons for option in row]


def _error(code: str, **values: Any) -> str:
    return render("forms/error", LOCALE, code=code, **{"today": DAY, **values})


# ---------------------------------------------------------------- order and skipping


async def test_steps_are_asked_in_order_and_end_at_the_card(harness: Harness) -> None:
    await harness.start()
    seen = [harness.step]
    inputs = [Incoming(key="e1"), Incoming(key=TODAY), Incoming(key="help"), Incoming(key=DONE),
              Incoming(key="update"), Incoming(text="120"), Incoming(text="30"), Incoming(text="整改"),
              Incoming(key=SKIP)]
    for incoming in inputs:
        outcome = await harness.send(**{k: v for k, v in vars(incoming).items() if v is not None and v is not False})
        assert len(outcome.replies) == 1
        if harness.step != seen[-1]:
            seen.append(harness.step)
    assert seen == [*STEP_ORDER, "confirm"]
    assert "请确认" in _text(harness.outcomes[-1])


async def test_first_question_is_the_step_template(harness: Harness) -> None:
    outcome = await harness.start()
    assert _text(outcome) == render("visit/ask_enterprise", LOCALE, answers={}, mode=None, today=DAY, suggested=1)
    assert _keys(outcome) == ["e1", SEARCH]


async def test_prefilled_answers_skip_their_steps(harness: Harness) -> None:
    outcome = await harness.start({"enterprise": 2})
    assert harness.step == "visit_date"
    assert _keys(outcome) == [TODAY, YESTERDAY, OTHER]
    assert _labels(outcome) == [label("today", LOCALE, day=DAY), label("yesterday", LOCALE, day=date(2026, 11, 19)),
                                label("other_date", LOCALE)]


async def test_when_skips_the_head_counts_if_nothing_changed(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"]})
    await harness.tap("same")
    assert harness.step == "follow_up"


async def test_when_asks_the_head_counts_on_update(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"]})
    outcome = await harness.tap("update")
    assert harness.step == "employees"
    assert _text(outcome) == await harness.ask_text("employees")


# ---------------------------------------------------------------- invalid input


async def test_invalid_input_asks_the_same_step_again_with_the_error_first(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "update"})
    before = harness.draft
    outcome = await harness.say("很多")
    assert harness.step == "employees"
    assert harness.draft.answers == before.answers
    assert _text(outcome) == _error("number_format") + "\n" + await harness.ask_text("employees")
    assert outcome.replies[0].replace is False


@pytest.mark.parametrize(
    ("text", "code", "values"),
    [("-3", "number_format", {}), ("5001", "number_range", {"minimum": 0, "maximum": 5000})],
)
async def test_numbers_outside_the_rules_are_refused(harness: Harness, text: str, code: str,
                                                     values: dict[str, Any]) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "update"})
    outcome = await harness.say(text)
    assert harness.step == "employees"
    assert _text(outcome).startswith(_error(code, **values) + "\n")


async def test_the_check_across_answers_refuses_more_members_than_employees(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "update",
                         "employees": 20})
    outcome = await harness.say("21")
    assert harness.step == "party_members"
    assert _text(outcome).startswith(_error("members_exceed_employees", employees=20) + "\n")
    await harness.say("20")
    assert harness.draft.answers["party_members"] == 20


async def test_a_choice_can_be_typed_as_its_label(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"]})
    await harness.say(label("headcount_same", LOCALE))
    assert harness.step == "follow_up"
    assert harness.draft.answers["headcount"] == "same"


async def test_a_choice_refuses_other_text_and_unknown_keys(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"]})
    for incoming in (Incoming(text="也许"), Incoming(key="maybe"), Incoming(key=SKIP), Incoming(photo="p1")):
        outcome = await harness.send(**{k: v for k, v in vars(incoming).items() if v})
        assert harness.step == "headcount"
        assert _text(outcome).startswith(_error("use_buttons") + "\n")


async def test_text_step_refuses_empty_too_long_and_non_text(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "same"})
    assert _text(await harness.say("   ")).startswith(_error("text_empty"))
    assert _text(await harness.say("字" * 21)).startswith(_error("text_too_long", maximum=20, length=21))
    assert _text(await harness.send(voice="v1")).startswith(_error("text_expected"))
    assert harness.step == "follow_up"
    await harness.say("  字  ")
    assert harness.draft.answers["follow_up"] == {"text": "字"}


# ---------------------------------------------------------------- dates


async def test_another_date_is_typed(harness: Harness) -> None:
    await harness.start({"enterprise": 1})
    outcome = await harness.tap(OTHER)
    assert harness.draft.mode == "typing"
    assert _text(outcome) == render("forms/ask_date_typed", LOCALE, today=DAY)
    await harness.say("11月18日")
    assert harness.step == "activities"
    assert harness.draft.answers["visit_date"] == "2026-11-18"
    assert harness.draft.mode is None


async def test_yesterday_button_gives_yesterday(harness: Harness) -> None:
    await harness.start({"enterprise": 1})
    await harness.tap(YESTERDAY)
    assert harness.draft.answers["visit_date"] == "2026-11-19"


@pytest.mark.parametrize(
    ("text", "code", "values"),
    [("下周", "date_format", {}), ("11-21", "date_future", {}), ("2026-10-20", "date_too_old", {"earliest": date(2026, 10, 21)})],
)
async def test_bad_dates_are_refused(harness: Harness, text: str, code: str, values: dict[str, Any]) -> None:
    await harness.start({"enterprise": 1})
    outcome = await harness.say(text)
    assert harness.step == "visit_date"
    assert _text(outcome).startswith(_error(code, **values) + "\n")


# ---------------------------------------------------------------- multi-select


async def test_ticking_redraws_the_same_message(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20"})
    outcome = await harness.tap("other")
    [reply] = outcome.replies
    assert reply.replace is True
    assert harness.step == "activities"
    assert harness.draft.answers[PENDING] == ["other"]
    assert label("ticked", LOCALE, text=label("activity_other", LOCALE)) in _labels(outcome)
    assert label("unticked", LOCALE, text=label("activity_policy", LOCALE)) in _labels(outcome)
    outcome = await harness.tap("policy")
    assert outcome.replies[0].replace is True
    assert harness.draft.answers[PENDING] == ["policy", "other"]  # kept in the options' order
    outcome = await harness.tap("other")
    assert harness.draft.answers[PENDING] == ["policy"]
    assert label("unticked", LOCALE, text=label("activity_other", LOCALE)) in _labels(outcome)


async def test_next_with_nothing_chosen_is_refused(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20"})
    outcome = await harness.tap(DONE)
    assert harness.step == "activities"
    assert _text(outcome).startswith(_error("choose_at_least_one") + "\n")
    await harness.tap("help")
    await harness.tap("help")  # ticked and unticked again: still nothing
    outcome = await harness.tap(DONE)
    assert harness.step == "activities"
    assert _text(outcome).startswith(_error("choose_at_least_one"))


async def test_next_keeps_the_ticked_options_and_drops_the_scratch(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20"})
    await harness.tap("other")
    await harness.tap("help")
    outcome = await harness.tap(DONE)
    assert harness.step == "headcount"
    assert outcome.replies[0].replace is False
    assert harness.draft.answers["activities"] == ["help", "other"]
    assert PENDING not in harness.draft.answers


async def test_typing_on_a_multi_select_is_refused(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20"})
    outcome = await harness.say("宣传政策")
    assert _text(outcome).startswith(_error("use_buttons"))


# ---------------------------------------------------------------- optional steps and media


async def test_optional_step_offers_skip_and_skipping_answers_none(harness: Harness) -> None:
    outcome = await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                                   "headcount": "same"})
    assert _keys(outcome) == [SKIP]
    await harness.tap(SKIP)
    assert harness.step == "media"
    assert harness.draft.answers["follow_up"] is None


async def test_required_step_has_no_skip_and_refuses_it(harness: Harness) -> None:
    outcome = await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                                   "headcount": "update"})
    assert _keys(outcome) == []
    outcome = await harness.tap(SKIP)
    assert harness.step == "employees"
    assert _text(outcome).startswith(_error("number_format"))


async def test_media_collects_photos_voice_and_one_location_then_done(harness: Harness) -> None:
    outcome = await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                                   "headcount": "same", "follow_up": None})
    assert harness.step == "media"
    assert _keys(outcome) == [SKIP]
    outcome = await harness.send(photo="p1")
    assert _keys(outcome) == [DONE]
    await harness.send(voice="v1")
    await harness.send(location=(30.4, 111.7))
    outcome = await harness.send(location=(30.5, 111.8))  # a second place replaces the first
    assert harness.step == "media"
    assert _text(outcome) == await harness.ask_text("media")
    assert harness.draft.answers[PENDING] == [
        {"type": "photo", "file_id": "p1"},
        {"type": "voice", "file_id": "v1"},
        {"type": "location", "latitude": 30.5, "longitude": 111.8},
    ]
    await harness.tap(DONE)
    assert harness.step == "confirm"
    assert [item["type"] for item in harness.draft.answers["media"]] == ["photo", "voice", "location"]
    assert PENDING not in harness.draft.answers


async def test_media_refuses_text_and_more_than_the_maximum(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                         "headcount": "same", "follow_up": None})
    assert _text(await harness.say("照片稍后发")).startswith(_error("media_expected"))
    for photo in ("p1", "p2", "p3", "p4"):
        await harness.send(photo=photo)
    outcome = await harness.send(photo="p5")
    assert _text(outcome).startswith(_error("media_full", maximum=4))
    assert len(harness.draft.answers[PENDING]) == 4


async def test_a_new_location_replaces_the_old_one_even_when_media_is_full(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                         "headcount": "same", "follow_up": None})
    for photo in ("p1", "p2", "p3"):
        await harness.send(photo=photo)
    await harness.send(location=(30.4, 111.7))
    await harness.send(location=(30.5, 111.8))
    assert harness.draft.answers[PENDING][-1] == {"type": "location", "latitude": 30.5, "longitude": 111.8}


async def test_skipping_media_answers_an_empty_list(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"],
                         "headcount": "same", "follow_up": None})
    await harness.tap(SKIP)
    assert harness.draft.answers["media"] == []


# ---------------------------------------------------------------- lookups


async def test_typed_text_searches_and_a_result_is_picked(harness: Harness) -> None:
    await harness.start()
    outcome = await harness.say("  枝江市  ")
    assert harness.source.searched[-1] == "枝江市"
    assert harness.step == "enterprise"
    assert harness.draft.mode == "q:枝江市"
    assert _text(outcome) == render("forms/search_results", LOCALE, query="枝江市", count=2)
    assert _keys(outcome) == ["e1", "e2"]
    await harness.tap("e2")
    assert harness.step == "visit_date"
    assert harness.draft.answers["enterprise"] == 2


async def test_search_button_asks_for_a_name(harness: Harness) -> None:
    await harness.start()
    outcome = await harness.tap(SEARCH)
    assert harness.draft.mode == "search"
    assert _text(outcome) == render("forms/ask_search", LOCALE)
    await harness.say("柑橘")
    assert _keys(harness.outcomes[-1]) == ["e3"]


async def test_a_search_without_match_asks_again(harness: Harness) -> None:
    await harness.start()
    outcome = await harness.say("火星")
    assert harness.step == "enterprise"
    assert harness.draft.mode is None
    assert _text(outcome) == _error("no_match", query="火星") + "\n" + await harness.ask_text("enterprise")


async def test_a_long_search_is_cut_to_forty_characters(harness: Harness) -> None:
    await harness.start()
    await harness.say("枝" * 60)
    assert harness.source.searched[-1] == "枝" * 40


async def test_a_key_the_source_does_not_resolve_is_refused(harness: Harness) -> None:
    await harness.start()
    for key in ("e99", "x1", "e"):
        outcome = await harness.tap(key)
        assert harness.step == "enterprise"
        assert _text(outcome).startswith(_error("not_available") + "\n")
    assert "enterprise" not in harness.draft.answers


async def test_a_lookup_refuses_a_photo(harness: Harness) -> None:
    await harness.start()
    outcome = await harness.send(photo="p1")
    assert _text(outcome).startswith(_error("lookup_expected"))


# ---------------------------------------------------------------- the card


async def test_the_card_offers_submit_edits_of_applicable_steps_and_cancel(harness: Harness) -> None:
    outcome = await harness.to_card(headcount="same")
    keys = _keys(outcome)
    assert keys[0] == SUBMIT and keys[-1] == CANCEL
    assert keys[1:-1] == [EDIT + name for name in STEP_ORDER if name not in ("employees", "party_members")]
    assert label("edit", LOCALE, field=label("field_date", LOCALE)) in _labels(outcome)
    assert _text(outcome) == render("visit/confirm", LOCALE, **await harness.recorder.describe(
        harness.ctx, harness.draft.answers))


async def test_jumping_back_from_the_card_and_returning(harness: Harness) -> None:
    await harness.to_card()
    outcome = await harness.tap(EDIT + "visit_date")
    assert harness.step == "visit_date"
    assert harness.draft.editing is True
    assert _keys(outcome) == [TODAY, YESTERDAY, OTHER]
    outcome = await harness.tap(YESTERDAY)
    assert harness.step == "confirm"
    assert harness.draft.editing is False
    assert harness.draft.answers["visit_date"] == "2026-11-19"
    assert "2026-11-19" in _text(outcome)


async def test_editing_a_multi_select_starts_from_the_earlier_choice(harness: Harness) -> None:
    await harness.to_card()
    outcome = await harness.tap(EDIT + "activities")
    assert label("ticked", LOCALE, text=label("activity_policy", LOCALE)) in _labels(outcome)
    await harness.tap("help")
    assert harness.draft.answers[PENDING] == ["policy", "help"]
    await harness.tap(DONE)
    assert harness.step == "confirm"
    assert harness.draft.answers["activities"] == ["policy", "help"]


async def test_an_answer_that_hides_steps_drops_their_answers(harness: Harness) -> None:
    await harness.to_card(headcount="update")
    assert harness.draft.answers["employees"] == 120
    await harness.tap(EDIT + "headcount")
    outcome = await harness.tap("same")
    assert harness.step == "confirm"
    assert "employees" not in harness.draft.answers and "party_members" not in harness.draft.answers
    assert "120" not in _text(outcome)
    assert EDIT + "employees" not in _keys(outcome)
    # Choosing 'update' again asks the numbers afresh rather than reusing the old ones.
    await harness.tap(EDIT + "headcount")
    outcome = await harness.tap("update")
    assert harness.step == "employees"
    assert harness.draft.editing is True
    assert _text(outcome) == await harness.ask_text("employees")
    await harness.say("80")
    assert harness.step == "party_members"
    await harness.say("9")
    assert harness.step == "confirm"
    assert harness.draft.editing is False
    await harness.tap(SUBMIT)
    assert harness.recorder.saved[-1]["employees"] == 80
    assert harness.recorder.saved[-1]["party_members"] == 9


async def test_hidden_numbers_are_not_saved(harness: Harness) -> None:
    await harness.to_card(headcount="update")
    await harness.tap(EDIT + "headcount")
    await harness.tap("same")
    await harness.tap(SUBMIT)
    [saved] = harness.recorder.saved
    assert "employees" not in saved and "party_members" not in saved
    assert saved["headcount"] == "same"


@pytest.mark.parametrize("key", [EDIT + "employees", EDIT + "nonexistent", EDIT + "confirm", EDIT, "~done", "e1"])
async def test_editing_a_step_not_on_the_card_is_refused(harness: Harness, key: str) -> None:
    card = await harness.to_card(headcount="same")
    outcome = await harness.tap(key)
    assert harness.step == "confirm"
    assert harness.draft.editing is False
    assert _text(outcome) == _error("use_buttons") + "\n" + _text(card)
    assert _keys(outcome) == _keys(card)


async def test_text_on_the_card_is_refused(harness: Harness) -> None:
    await harness.to_card()
    outcome = await harness.say("提交")
    assert harness.step == "confirm"
    assert _text(outcome).startswith(_error("use_buttons"))


async def test_submit_saves_only_applicable_answers_and_closes_the_form(harness: Harness) -> None:
    await harness.to_card(headcount="update")
    outcome = await harness.tap(SUBMIT)
    assert outcome.state is None
    assert outcome.saved == ("visit", 7)
    assert _text(outcome) == render("visit/saved", LOCALE, number=7, enterprise=ENTERPRISES[1], corrected=False)
    assert harness.recorder.saved == [{
        "enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "update",
        "employees": 120, "party_members": 30, "follow_up": {"text": "下周送政策汇编"}, "media": [],
    }]


async def test_describe_gets_only_applicable_answers(harness: Harness) -> None:
    await harness.start({"enterprise": 1, "visit_date": "2026-11-20", "activities": ["policy"], "headcount": "same",
                         "employees": 5, "follow_up": None, "media": []})
    assert harness.step == "confirm"
    assert "employees" not in harness.recorder.described[-1]


async def test_cancel_closes_the_form_and_saves_nothing(harness: Harness) -> None:
    await harness.to_card()
    outcome = await harness.tap(CANCEL)
    assert outcome.state is None
    assert harness.recorder.saved == []
    assert _text(outcome) == render("forms/cancelled", LOCALE)


# ---------------------------------------------------------------- seq and resuming


async def test_seq_increases_with_every_new_question(harness: Harness) -> None:
    """A new question (next step, new mode, the card, a resumed draft) makes older buttons stale;
    the same question again (a refusal, a tick, another photo) keeps them working."""
    await harness.start()
    seq = harness.draft.seq
    assert seq == 1
    steps: list[tuple[Any, bool]] = [
        (lambda: harness.say("火星"), False),  # refused: asked again unchanged
        (lambda: harness.say("枝江"), True),  # search results: a new mode
        (lambda: harness.say("枝江"), False),  # the same search again
        (lambda: harness.say("柑橘"), True),  # another search
        (lambda: harness.tap("e1"), True),
        (lambda: harness.tap(OTHER), True),
        (lambda: harness.say("11-19"), True),
        (lambda: harness.tap("policy"), False),  # a tick redraws the same question
        (lambda: harness.tap("help"), False),
        (lambda: harness.tap(DONE), True),
        (lambda: harness.prompt(), True),  # resumed draft asks again
        (lambda: harness.tap("same"), True),
        (lambda: harness.tap(SKIP), True),
        (lambda: harness.send(photo="p1"), False),  # another photo: same question
        (lambda: harness.send(voice="v1"), False),
        (lambda: harness.tap(DONE), True),  # the card
        (lambda: harness.tap(EDIT + "employees"), False),  # refused
        (lambda: harness.tap(EDIT + "follow_up"), True),
        (lambda: harness.tap(SKIP), True),
    ]
    for action, new_question in steps:
        outcome = await action()
        expected = seq + 1 if new_question else seq
        assert outcome.state is not None and outcome.state.seq == expected
        seq = expected
    assert harness.step == "confirm"


async def test_prompt_asks_the_current_question_again(harness: Harness) -> None:
    first = await harness.start()
    outcome = await harness.prompt()
    assert harness.step == "enterprise"
    assert _text(outcome) == _text(first)
    assert _keys(outcome) == _keys(first)


async def test_prompt_on_the_card_shows_the_card(harness: Harness) -> None:
    card = await harness.to_card()
    outcome = await harness.prompt()
    assert _text(outcome) == _text(card)
    assert _keys(outcome) == _keys(card)


async def test_the_engine_speaks_the_contexts_locale(harness: Harness) -> None:
    harness.ctx.locale = "en"
    outcome = await harness.start()
    assert _text(outcome) == render("visit/ask_enterprise", "en", answers={}, mode=None, today=DAY, suggested=1)
    assert _labels(outcome)[-1] == label("search_other", "en")


# ---------------------------------------------------------------- correcting a saved record


@dataclass
class SavedVisit:
    id: int
    officer_id: int
    created_at: datetime
    enterprise: int = 2


class NoReviews:
    """A session that knows no review: a record older than 24 hours was never sent back."""

    async def scalar(self, statement: Any) -> None:
        return None


def _correctable_harness(records: dict[int, SavedVisit], closed: set[int] | None = None) -> tuple[Harness, list[Any]]:
    recorder, source = Recorder(), FakeEnterprises()
    corrected: list[Any] = []

    async def get(session: Any, record_id: int, region: str) -> SavedVisit | None:
        return records.get(record_id) if region == "宜昌市/枝江市" else None

    async def answers(ctx: FormContext, record: SavedVisit) -> dict[str, Any]:
        return {"enterprise": record.enterprise, "visit_date": "2026-11-19", "activities": ["help"],
                "headcount": "same", "follow_up": None, "media": []}

    async def save(ctx: FormContext, answers: dict[str, Any]) -> Saved:
        corrected.append(ctx.correcting)
        return await recorder.save(ctx, answers)

    form = _form(recorder, source)
    form = Form(form.name, form.steps, form.confirm, form.describe, save,
                correction=Correction(entity="visit", get=get, answers=answers,
                                      closed=lambda record: record.id in (closed or set())))
    member = Member(id=5, name="张三", role=Role.OFFICER, region="宜昌市/枝江市", locale=None)
    ctx = FormContext(session=NoReviews(), member=member, locale=LOCALE, today=DAY,  # type: ignore[arg-type]
                      now=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    return Harness(FormEngine([form]), ctx, recorder, source), corrected


async def test_a_saved_record_reopens_on_its_card_and_saves_as_its_correction() -> None:
    harness, corrected = _correctable_harness({9: SavedVisit(9, 5, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))})
    answers = await harness.engine.reopen(harness.ctx, "fake_visit", 9)
    assert answers is not None and answers[RECORD] == 9 and answers["enterprise"] == 2
    outcome = await harness.start(answers)
    assert harness.step == "confirm"  # every step is answered: straight to the card
    assert harness.recorder.described[-1][RECORD] == 9
    assert _text(outcome).startswith("<b>请确认更正：</b>")  # the engine tells every card it is a correction
    await harness.tap(EDIT + "follow_up")
    await harness.say("补充材料")
    await harness.tap(SUBMIT)
    assert [record.id for record in corrected] == [9]
    assert harness.recorder.saved[-1][RECORD] == 9 and harness.recorder.saved[-1]["follow_up"] == {"text": "补充材料"}


async def test_a_new_record_saves_without_a_record_under_correction() -> None:
    harness, corrected = _correctable_harness({})
    await harness.to_card()
    await harness.tap(SUBMIT)
    assert corrected == [None]


@pytest.mark.parametrize(("records", "closed", "why"), [
    ({9: SavedVisit(9, 6, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))}, set(), "another officer's record"),
    ({9: SavedVisit(9, 5, datetime(2026, 11, 19, 9, 0, tzinfo=UTC))}, set(), "older than 24 hours, never sent back"),
    ({}, set(), "no such record in the region"),
    ({9: SavedVisit(9, 5, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))}, {9}, "closed by the form's rule"),
])
async def test_a_record_the_caller_may_not_correct_does_not_reopen(records: dict[int, SavedVisit], closed: set[int],
                                                                   why: str) -> None:
    harness, _ = _correctable_harness(records, closed)
    assert await harness.engine.reopen(harness.ctx, "fake_visit", 9) is None, why


async def test_a_correction_whose_window_closed_on_the_card_is_not_saved() -> None:
    record = SavedVisit(9, 5, datetime(2026, 11, 19, 10, 0, tzinfo=UTC))
    harness, corrected = _correctable_harness({9: record})
    answers = await harness.engine.reopen(harness.ctx, "fake_visit", 9)
    assert answers is not None
    await harness.start(answers)
    harness.ctx.now = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)  # the 24 hours ran out on the card
    with pytest.raises(PermissionError):
        await harness.tap(SUBMIT)
    assert corrected == [] and harness.recorder.saved == []


async def test_a_supervisor_corrects_nothing_even_an_own_record() -> None:
    harness, _ = _correctable_harness({9: SavedVisit(9, 5, datetime(2026, 11, 20, 8, 0, tzinfo=UTC))})
    harness.ctx.member = Member(id=5, name="张三", role=Role.SUPERVISOR, region="宜昌市/枝江市", locale=None)
    assert await harness.engine.reopen(harness.ctx, "fake_visit", 9) is None

async def _amend(h: Harness, ref: str, text: str) -> Outcome:
    return h._keep(await h.engine.amend(h.ctx, h.draft, Incoming(text=text, ref=ref)))


async def test_an_edit_corrects_the_free_text_it_typed_and_the_question_stays(harness: Harness) -> None:
    h = harness
    await h.to_card()
    await h.tap(EDIT + "follow_up")
    await h.send(text="下周送政策汇编", ref="11")
    await h.tap(EDIT + "media")
    seq = h.draft.seq

    outcome = await _amend(h, "11", "月底送政策汇编")

    assert _text(outcome).startswith("已按修改后的消息更新“后续”。")
    assert (h.step, h.draft.seq, h.draft.answers["follow_up"]) == ("media", seq, {"text": "月底送政策汇编"})
    await h.tap(SKIP)
    await h.tap(SUBMIT)
    assert h.recorder.saved[-1]["follow_up"] == {"text": "月底送政策汇编"}
    assert "_typed" not in h.recorder.saved[-1]


async def test_an_edit_of_a_number_or_of_an_answer_given_again_is_not_taken(harness: Harness) -> None:
    h = harness
    await h.start()
    await h.tap("e1")
    await h.tap(TODAY)
    await h.tap("policy")
    await h.tap(DONE)
    await h.tap("update")
    await h.send(text="120", ref="5")
    await h.send(text="30", ref="6")
    await h.send(text="下周送政策汇编", ref="7")
    await h.tap(SKIP)
    await h.tap(EDIT + "follow_up")
    await h.send(text="月底回访", ref="9")

    for ref in ("5", "7", "8"):  # a head count, the follow-up typed before, a message that answered nothing
        outcome = await _amend(h, ref, "100")
        assert _text(outcome).startswith("修改过的消息不会被当作回答"), ref
    assert (h.step, h.draft.answers["employees"], h.draft.answers["follow_up"]) == ("confirm", 120, {"text": "月底回访"})
    outcome = await _amend(h, "9", "长" * 21)
    assert "修改没有生效，“后续”保持不变。" in _text(outcome) and h.draft.answers["follow_up"] == {"text": "月底回访"}
    await _amend(h, "9", "月底再访")
    assert h.draft.answers["follow_up"] == {"text": "月底再访"}


# ---------------------------------------------------------------- options that depend on answers


def _kind_form(recorder: Recorder) -> Form:
    """A way of forming, a category that a joint one narrows, and a name made for the category."""
    return Form(
        name="fake_found",
        steps=(
            ChoiceStep("formation", "founding/ask_formation", title="founding.field_formation",
                       options=(("single", "formation_single"), ("joint", "formation_joint")), resets=("category",)),
            ChoiceStep("category", "founding/ask_category", title="founding.field_category",
                       options=(("committee", "category_committee"), ("branch", "category_branch")),
                       offer=lambda answers: ("branch",) if answers.get("formation") == "joint" else
                       ("committee", "branch"), resets=("name",)),
            TextStep("name", "founding/ask_parent", title="founding.field_name", max_length=128),
        ),
        confirm=ConfirmStep(card="visit/confirm"),
        describe=recorder.describe,
        save=recorder.save,
    )


@pytest.fixture
def kinds(harness: Harness) -> Harness:
    return Harness(FormEngine([_kind_form(harness.recorder)]), harness.ctx, harness.recorder, harness.source)


async def _start_kinds(kinds: Harness) -> Outcome:
    kinds.state = None
    return kinds._keep(await kinds.engine.start(kinds.ctx, "fake_found"))


async def test_a_choice_offers_only_the_options_the_answers_allow(kinds: Harness) -> None:
    await _start_kinds(kinds)
    outcome = await kinds.tap("joint")
    assert kinds.step == "category" and _keys(outcome) == ["branch"]
    outcome = await kinds.tap("committee")  # offered to none but a single organisation
    assert kinds.step == "category" and _text(outcome).startswith(_error("use_buttons"))
    outcome = await kinds.say(label("category_committee", LOCALE))
    assert kinds.step == "category"


async def test_changing_an_answer_asks_again_what_was_made_for_it(kinds: Harness) -> None:
    await _start_kinds(kinds)
    await kinds.tap("single")
    await kinds.tap("committee")
    await kinds.say("中共某公司委员会")
    assert kinds.step == "confirm"
    # The same answer again changes nothing: back to the card, the name kept.
    await kinds.tap(EDIT + "category")
    await kinds.tap("committee")
    assert kinds.step == "confirm" and kinds.draft.answers["name"] == {"text": "中共某公司委员会"}
    # Another category: its name is asked again, then the card.
    await kinds.tap(EDIT + "category")
    await kinds.tap("branch")
    assert kinds.step == "name" and "name" not in kinds.draft.answers and kinds.draft.editing is True
    await kinds.say("中共某公司支部委员会")
    assert kinds.step == "confirm"
    # Another way of forming: the category is asked again (a joint one is no committee); the
    # same category as before keeps the name made for it.
    await kinds.tap(EDIT + "formation")
    outcome = await kinds.tap("joint")
    assert kinds.step == "category" and _keys(outcome) == ["branch"]
    await kinds.tap("branch")
    assert kinds.step == "confirm" and kinds.draft.answers["name"] == {"text": "中共某公司支部委员会"}
