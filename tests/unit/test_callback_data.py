"""Callback data of form and draft buttons: round trips, Telegram's 64-byte limit, garbage."""

from __future__ import annotations

import pytest

from handlers import forms
from handlers.adapter import (
    DRAFT_BUTTON,
    MAX_CALLBACK_BYTES,
    draft_button,
    form_button,
    parse_form_button,
)
from handlers.pickers import ENTERPRISE_KEY_PREFIX
from handlers.visit import FORM

MAX_DRAFT_ID = 10**12 - 1  # 12 digits
MAX_SEQ = 10**9 - 1  # 9 digits
ENGINE_KEYS = (forms.SKIP, forms.DONE, forms.SUBMIT, forms.CANCEL, forms.TODAY, forms.YESTERDAY, forms.OTHER,
               forms.SEARCH)


def _visit_form_keys() -> list[str]:
    """Every option key a button of the visit form can carry."""
    keys = list(ENGINE_KEYS)
    for step in FORM.steps:
        keys += [key for key, _label in getattr(step, "options", ())]
        keys.append(forms.EDIT + step.name)
    keys += [f"{ENTERPRISE_KEY_PREFIX}1", f"{ENTERPRISE_KEY_PREFIX}{10**12 - 1}"]
    return keys


def test_the_visit_form_has_the_keys_this_test_expects() -> None:
    keys = _visit_form_keys()
    assert "~edit:party_members" in keys and "member_events" in keys and "update" in keys
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("key", _visit_form_keys())
@pytest.mark.parametrize(("draft_id", "seq"), [(1, 1), (42, 7), (MAX_DRAFT_ID, MAX_SEQ)])
def test_every_visit_form_button_fits_and_round_trips(draft_id: int, seq: int, key: str) -> None:
    data = form_button(draft_id, seq, key)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES == 64
    assert parse_form_button(data) == (draft_id, seq, key)


@pytest.mark.parametrize(
    ("draft_id", "seq", "key"),
    [(0, 0, "~done"), (1, 2, "e3"), (123, 45, "a.b-c_D~9:x"), (MAX_DRAFT_ID, MAX_SEQ, "k" * 36)],
)
def test_form_button_round_trips(draft_id: int, seq: int, key: str) -> None:
    assert parse_form_button(form_button(draft_id, seq, key)) == (draft_id, seq, key)


def test_form_button_reads_like_area_action_id() -> None:
    assert form_button(42, 7, "~submit") == "f:42:7:~submit"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "k" * 37,
        "has space",
        "斜杠",
        "a/b",
        "a|b",
        "a\tb",
        "quote'",
        "emoji😀",
        "新" * 12,  # 36 bytes of UTF-8 but not allowed characters anyway
    ],
)
def test_form_button_refuses_keys_that_do_not_fit_or_have_bad_characters(key: str) -> None:
    with pytest.raises(ValueError):
        form_button(1, 1, key)


@pytest.mark.parametrize(("draft_id", "seq"), [(10**12, 1), (1, 10**9), (-1, 1), (1, -1)])
def test_form_button_refuses_ids_beyond_the_pattern(draft_id: int, seq: int) -> None:
    with pytest.raises(ValueError):
        form_button(draft_id, seq, "~done")


def test_form_button_refuses_a_key_ending_in_a_newline() -> None:
    with pytest.raises(ValueError):
        form_button(1, 1, "next\n")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "f",
        "f:",
        "f:1",
        "f:1:2",
        "f:1:2:",
        "f::2:k",
        "f:1::k",
        "f:a:2:k",
        "f:1:b:k",
        "F:1:2:k",
        "g:1:2:k",
        " f:1:2:k",
        "f:1:2:k k",
        "f:1:2:" + "k" * 37,
        "f:1234567890123:2:k",
        "f:1:1234567890:k",
        "f:-1:2:k",
        "f:1:2:键",
        "draft:resume:1",
        "mine:page:2",
        "visit:confirm",
    ],
)
def test_garbage_parses_to_none(data: str) -> None:
    assert parse_form_button(data) is None


def test_data_with_a_trailing_newline_parses_to_none() -> None:
    assert parse_form_button("f:1:2:k\n") is None


@pytest.mark.parametrize(
    ("action", "draft_id", "form"),
    [("resume", 1, None), ("restart", 42, "visit"), ("resume", MAX_DRAFT_ID, None),
     ("restart", MAX_DRAFT_ID, "visit")],
)
def test_draft_button_round_trips_and_fits(action: str, draft_id: int, form: str | None) -> None:
    data = draft_button(action, draft_id, form)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    match = DRAFT_BUTTON.match(data)
    assert match is not None
    assert (match[1], int(match[2]), match[3]) == (action, draft_id, form)


@pytest.mark.parametrize("form", ["visit", "nomination", "feedback"])
def test_draft_button_for_every_form_name_fits(form: str) -> None:
    data = draft_button("restart", MAX_DRAFT_ID, form)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert DRAFT_BUTTON.match(data)


@pytest.mark.parametrize(
    "data", ["", "draft:", "draft:resume", "draft:resume:", "draft:delete:1", "draft:resume:x",
             "draft:restart:1:Visit", "draft:restart:1:", "f:1:2:k"],
)
def test_garbage_draft_data_does_not_match(data: str) -> None:
    assert DRAFT_BUTTON.match(data) is None
