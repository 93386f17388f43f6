"""The reminders' wording: each one composed when the sender sends it.

The sweep (`storage.sweep`) queues what is due as keys, without text. When the sender claims
such a row it asks `RENDERERS` for its text and buttons, which `render_reminders` composes from
the subject's values then (`storage.sweep.reasons`) in the officer's locale: so what the officer
reads is current, and a reminder whose reason has gone meanwhile is not sent at all (None).

Buttons: act now (the form or card the reminder is about), `remind:later:<outbox id>` (明天提醒)
and `remind:skip:<outbox id>` (本期不再提醒), which `handlers.reminders` answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from output.render import label, render
from storage import sweep as sweeps
from storage.models import OutboxMessage, User

LATER = re.compile(r"^remind:later:(\d{1,9})\Z")
SKIP = re.compile(r"^remind:skip:(\d{1,9})\Z")

# The text and buttons of a row queued without them (`text` NULL), or None when its reason has
# gone by the time it is sent (it is then marked `obsolete`, not sent).
Composed = tuple[str, list[list[dict[str, str]]]]
# (session, the claimed rows of the renderer's kinds, now, timezone) → {outbox id: Composed | None}
Renderer = Callable[[AsyncSession, Sequence[OutboxMessage], datetime, ZoneInfo], Awaitable[dict[int, Composed | None]]]


def later_button(outbox_id: int) -> str:
    return f"remind:later:{outbox_id}"


def skip_button(outbox_id: int) -> str:
    return f"remind:skip:{outbox_id}"


DEFAULT_LOCALE = "zh_CN"  # for officers who have not chosen one


def _act(values: dict[str, Any]) -> tuple[str, str]:
    """The act-now button of a reminder: (label macro, callback data)."""
    kind = values["kind"]
    if kind == "overdue_visit":
        return "act_visit", f"visit:start:{values['enterprise_id']}"
    if kind == "feedback":
        return "act_feedback", f"fb:show:{values['feedback_id']}"
    if kind == "draft":
        return "act_draft", f"draft:resume:{values['draft_id']}"
    person = values["person_id"]
    if values["code"] == "review":
        return "act_review", f"people:review:{person}"
    if values["code"] == "talk":
        return "act_talk", f"people:talk:{person}"
    return "act_person", f"people:show:{person}"


# A drain composes thousands of reminders whose labels (buttons, stages, categories) take a
# handful of values: each is rendered once.
_label = lru_cache(maxsize=256)(label)


def compose(values: dict[str, Any], locale: str, outbox_id: int) -> Composed:
    """A reminder's text in the officer's locale and its three buttons, from what
    `storage.sweep.reasons` read about its subject; the snooze buttons name the outbox row."""
    kind = values["kind"]
    if kind == "overdue_visit":
        text = render("reminders/overdue_visit", locale, enterprise=values["enterprise"], days=values["days"],
                      cadence=values["cadence"])
    elif kind == "feedback":
        text = render("reminders/feedback", locale, enterprise=values["enterprise"], number=values["feedback_id"],
                      days=values["days"], category=_label(f"feedback.category_{values['category']}", locale))
    elif kind == "milestone":
        text = render("reminders/milestone", locale, name=values["name"], enterprise=values["enterprise"],
                      stage=_label(f"people.stage_{values['stage']}", locale), code=values["code"],
                      due=values["due"], overdue=values["overdue"])
    else:
        text = render("reminders/draft", locale, form=_label("form_name", locale, code=values["form"]),
                      enterprise=values["enterprise"], day=values["day"])
    act, data = _act(values)
    buttons = [
        [{"text": _label(f"reminders.{act}", locale), "callback_data": data}],
        [{"text": _label("reminders.later", locale), "callback_data": later_button(outbox_id)},
         {"text": _label("reminders.skip", locale), "callback_data": skip_button(outbox_id)}],
    ]
    return text, buttons


async def render_reminders(session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime,
                           tz: ZoneInfo) -> dict[int, Composed | None]:
    """The sender's renderer of reminder rows: each one's text and buttons from its subject's
    values now, in its officer's current locale; None for one whose reason has gone."""
    reasons = await sweeps.reasons(session, rows, now=now, tz=tz)
    user_ids = {row.user_id for row in rows if row.user_id is not None}
    locales = dict((await session.execute(select(User.id, User.locale).where(User.id.in_(user_ids)))).tuples().all())
    return {row.id: None if (values := reasons[row.id]) is None
            else compose(values, locales.get(row.user_id or 0) or DEFAULT_LOCALE, row.id)
            for row in rows}


# Who composes the rows queued without text, by outbox kind: the sender's `renderers`.
RENDERERS: Mapping[str, Renderer] = dict.fromkeys(sweeps.KINDS, render_reminders)
