"""Each kind of reminder is one declaration: its key goes there and back, and its act-now
button is answered by the handler of the form or card it opens."""

from __future__ import annotations

import re
from typing import Any

import pytest
from telegram.ext import CallbackQueryHandler

from bot.app import FORMS, MODULES
from handlers import common, feedback, people, visit
from handlers.adapter import FormRunner, draft_button
from handlers.forms import FormEngine
from storage.sweep import KINDS, REMINDER_KINDS, parse_key, parse_subject

FIELDS: dict[str, dict[str, Any]] = {
    "overdue_visit": {"enterprise_id": 42, "officer_id": 7},
    "feedback": {"feedback_id": 9, "officer_id": 7},
    "milestone": {"person_id": 12, "code": "review"},
    "draft": {"draft_id": 5},
}
# The handler's own builder of the callback data the act button must carry.
OPENS = {
    "overdue_visit": visit.start_button(42),
    "feedback": feedback.item_button(9),
    "milestone": "people:review:12",
    "draft": draft_button("resume", 5),
}


def _patterns() -> list[re.Pattern[str]]:
    """The callback patterns the bot registers, but the catch-all of stale buttons."""
    runner = FormRunner(FormEngine(FORMS))
    registered = [*common.handlers(runner), *(h for module in MODULES for h in module.handlers()),
                  *common.fallback_handlers(runner)]
    return [handler.pattern for handler in registered
            if isinstance(handler, CallbackQueryHandler) and isinstance(handler.pattern, re.Pattern)]


def test_every_kind_is_declared_once_in_queue_order() -> None:
    assert KINDS == ("milestone", "feedback", "overdue_visit", "draft")
    assert set(FIELDS) == set(KINDS)


@pytest.mark.parametrize("kind", REMINDER_KINDS, ids=lambda kind: kind.name)
def test_a_key_names_its_kind_subject_period_and_fields(kind: Any) -> None:
    period = "2026-W47" if kind.period == "week" else "2026-11-24"
    subject = kind.key_of(**FIELDS[kind.name])
    assert subject.startswith(f"{kind.name}:")
    assert parse_key(f"{subject}:{period}") == (subject, period)
    assert parse_key(f"{subject}:{period}:2026-11-26") == (subject, period)  # re-reminded after a snooze
    assert parse_subject(f"{subject}:{period}") == {"kind": kind.name, "subject": subject, "period": period,
                                                    **FIELDS[kind.name]}


@pytest.mark.parametrize("kind", REMINDER_KINDS, ids=lambda kind: kind.name)
def test_the_act_button_opens_what_the_handler_builds_and_a_handler_answers_it(kind: Any) -> None:
    _label, data = kind.act({"kind": kind.name, **FIELDS[kind.name]})
    assert data == OPENS[kind.name]
    assert any(pattern.match(data) for pattern in _patterns()), data  # as PTB routes a press


def test_a_milestone_opens_the_form_its_code_needs() -> None:
    [milestone] = [kind for kind in REMINDER_KINDS if kind.name == "milestone"]
    acts = {code: milestone.act({"person_id": 12, "code": code}) for code in ("talk", "review", "candidate")}
    assert acts == {"talk": ("act_talk", "people:talk:12"), "review": ("act_review", "people:review:12"),
                    "candidate": ("act_person", people.person_button(12))}


@pytest.mark.parametrize("key", ["digest:supervisor:7:2026-W47:0", "notice:501:ab12", "overdue_visit:enterprise:x:2026-W47",
                                 "milestone:person:12:Review:2026-11-24", "draft:5"])
def test_other_outbox_keys_are_no_reminders(key: str) -> None:
    assert parse_key(key) is None and parse_subject(key) is None
