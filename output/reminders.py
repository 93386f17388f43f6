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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from output.render import cached_label, render
from storage import sweep as sweeps
from storage.models import OutboxMessage, User
from storage.officers import locale_of

LATER = re.compile(r"^remind:later:(\d{1,9})\Z")
SKIP = re.compile(r"^remind:skip:(\d{1,9})\Z")

# The text and buttons of a row queued without them (`text` NULL), or None when its reason has
# gone by the time it is sent (it is then marked `obsolete`, not sent).
Composed = tuple[str, list[list[dict[str, str]]]]
# (session, the claimed rows of the renderer's kinds, now, timezone, the bot's locale)
#   → {outbox id: Composed | None}
Renderer = Callable[[AsyncSession, Sequence[OutboxMessage], datetime, ZoneInfo, str],
                    Awaitable[dict[int, Composed | None]]]


def later_button(outbox_id: int) -> str:
    return f"remind:later:{outbox_id}"


def skip_button(outbox_id: int) -> str:
    return f"remind:skip:{outbox_id}"


def compose(kind: sweeps.ReminderKind, values: dict[str, Any], locale: str, outbox_id: int) -> Composed:
    """A reminder's text in the officer's locale and its three buttons, from what the kind's
    `reasons` read about its subject; the snooze buttons name the outbox row."""
    text = render(f"reminders/{kind.name}", locale, **values)
    act, data = kind.act(values)
    buttons = [
        [{"text": cached_label(f"reminders.{act}", locale), "callback_data": data}],
        [{"text": cached_label("reminders.later", locale), "callback_data": later_button(outbox_id)},
         {"text": cached_label("reminders.skip", locale), "callback_data": skip_button(outbox_id)}],
    ]
    return text, buttons


async def render_reminders(session: AsyncSession, rows: Sequence[OutboxMessage], now: datetime, tz: ZoneInfo,
                           locale: str = "zh_CN") -> dict[int, Composed | None]:
    """The sender's renderer of reminder rows: each one's text and buttons from its subject's
    values now, in its officer's locale (theirs, else the bot's `locale`); None for one whose
    reason has gone."""
    reasons = await sweeps.reasons(session, rows, now=now, tz=tz)
    user_ids = {row.user_id for row in rows if row.user_id is not None}
    locales = dict((await session.execute(select(User.id, User.locale).where(User.id.in_(user_ids)))).tuples().all())
    return {row.id: None if (values := reasons[row.id]) is None
            else compose(KINDS[values["kind"]], values, locale_of(locales.get(row.user_id or 0), locale), row.id)
            for row in rows}


KINDS = {kind.name: kind for kind in sweeps.REMINDER_KINDS}
# Who composes the rows queued without text, by outbox kind: the sender's `renderers`.
RENDERERS: Mapping[str, Renderer] = dict.fromkeys(KINDS, render_reminders)
