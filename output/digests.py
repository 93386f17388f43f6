"""The weekly digests as messages: text parts, a chart and the ledger, queued in the outbox.

`storage.digests` computes the numbers; this module renders them (templates under
`templates/<locale>/digest/`), draws the chart and queues everything for `OutboxSender`, one
outbox row per message with a dedupe key per person, ISO week and part, so running the weekly
job twice (a restart, `python -m bot send-digests` after the cron job) sends nothing twice.

The chart's Chinese labels are drawn with the Noto Sans CJK SC font shipped inside the `mplfonts`
package and loaded by file path: a fresh server has no CJK system font, and matplotlib's font
lookup would silently fall back to DejaVu Sans and draw empty boxes.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import mplfonts

# A bare Figure draws with the Agg canvas: no pyplot, no display, no global figure state.
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.ticker import MaxNLocator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from output.ledger import build_ledger, ledger_filename
from output.render import label, render
from output.text import split_message
from storage import outbox
from storage.digests import (
    OfficerSummary,
    SupervisorDigest,
    officer_summaries,
    supervisor_digest,
    supervisor_digests,
    week_of,
)
from storage.enums import Role
from storage.models import OutboxMessage, User
from storage.officers import locale_of
from storage.sweep import iso_week

FONT_PATH = Path(mplfonts.__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Regular.otf"
DIGEST_KIND = "digest"
SUMMARY_KIND = "summary"
# The digest's ledger lists the visits of this many days back (the supervisor's working year);
# the full history is `/export`'s.
LEDGER_VISITS_DAYS = 365


def render_supervisor_digest(d: SupervisorDigest, locale: str) -> list[str]:
    return split_message(render("digest/supervisor", locale, d=d))


def render_officer_summary(s: OfficerSummary, locale: str) -> list[str]:
    return split_message(render("digest/officer", locale, s=s))


@lru_cache(maxsize=1)
def _font() -> FontProperties:
    fontManager.addfont(str(FONT_PATH))
    return FontProperties(fname=str(FONT_PATH))


def chart_png(d: SupervisorDigest, locale: str = "zh_CN") -> bytes:
    """Visits this week against last week per sub-region, as a grouped bar chart."""
    font = _font()
    names = [r.name for r in d.regions]
    this_week = [r.visits for r in d.regions]
    last_week = [r.last_week for r in d.regions]
    figure = Figure(figsize=(max(6.0, 0.8 * len(names) + 2), 4), dpi=100)
    axes = figure.subplots()
    positions = range(len(names))
    width = 0.4
    axes.bar([p - width / 2 for p in positions], last_week, width, label=label("digest.last_week", locale),
             color="#b0b7c3")
    axes.bar([p + width / 2 for p in positions], this_week, width, label=label("digest.this_week", locale),
             color="#c0392b")
    axes.set_xticks(list(positions))
    axes.set_xticklabels(names, fontproperties=font, rotation=30 if len(names) > 6 else 0, ha="right"
                         if len(names) > 6 else "center")
    axes.set_title(label("digest.chart_title", locale, scope=d.scope, week=d.week), fontproperties=font)
    axes.legend(prop=font)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def attachment(filename: str, kind: str, data: bytes) -> dict[str, str]:
    return {"filename": filename, "kind": kind, "data": base64.b64encode(data).decode("ascii")}


async def supervisor_messages(
    session: AsyncSession, *, scope: str, actor_id: int, actor_label: str, week_start: date, tz: ZoneInfo,
    today: date, locale: str, digest: SupervisorDigest | None = None,
) -> tuple[list[str], bytes, bytes]:
    """(text parts, chart PNG, ledger XLSX) of `scope`; the ledger export is audited for the actor.
    `digest`: the scope's digest when the caller computed it already (the weekly job's batch).

    The ledger's visits are those of the last twelve months (`LEDGER_VISITS_DAYS`): every week's
    attachment would otherwise carry the region's whole history, growing with the years (ten
    years of a county: 26 MB and 77 s to build, bench/digests.py). `/export` gives all of it."""
    if digest is None:
        digest = await supervisor_digest(session, scope, week_start, tz, today=today)
    ledger = await build_ledger(session, scope=scope, today=today, actor_label=actor_label, actor_id=actor_id,
                                tz=tz, visits_since=today - timedelta(days=LEDGER_VISITS_DAYS))
    return render_supervisor_digest(digest, locale), chart_png(digest, locale), ledger


async def queue_weekly(session: AsyncSession, *, now: datetime, tz: ZoneInfo, week_start: date | None = None,
                       locale: str = "zh_CN") -> int:
    """Queues every digest and summary of a week (default: the week before `now`); new rows count.

    Never commits. Supervisors and admins get their region's digest; officers their own summary.

    Everything is read, rendered and built first and written last, in one go: a ledger takes
    seconds (a city's, a minute), and on SQLite a transaction that has written holds the
    database's one write lock, which every officer's step and every other process waits for, so
    the lock is held for the writes alone. The rows wait in a temporary file meanwhile, not in
    memory: a city's ledgers are hundreds of megabytes.
    """
    today = now.astimezone(tz).date()
    start = week_start if week_start is not None else week_of(today) - timedelta(days=7)
    as_of = min(today, start + timedelta(days=6))
    week = iso_week(start)
    users = (await session.execute(
        select(User).where(User.active.is_(True), User.chat_id.is_not(None), User.blocked_bot.is_(False),
                           User.role.in_((Role.SUPERVISOR.value, Role.ADMIN.value, Role.OFFICER.value)))
        .order_by(User.id))).scalars().all()
    # Every digest and summary of the week at once: each figure is read once for all the regions
    # and all the officers, not once per person (bench/digests.py: 17 digests of a city in one
    # pass instead of 17 city-wide passes).
    digests = await supervisor_digests(session, [u.region for u in users if u.role != Role.OFFICER], start, tz,
                                       today=as_of)
    summaries = await officer_summaries(session, [u.id for u in users if u.role == Role.OFFICER], start, tz,
                                        today=today)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        # no_autoflush: the ledgers' audit entries are written with the rows, not by the next read.
        with session.no_autoflush:
            for user in users:
                assert user.chat_id is not None
                row = {"chat_id": user.chat_id, "user_id": user.id}
                user_locale = locale_of(user.locale, locale)
                if user.role == Role.OFFICER:
                    for part, text in enumerate(render_officer_summary(summaries[user.id], user_locale)):
                        key = f"summary:officer:{user.id}:{week}" + (f":{part}" if part else "")
                        _spool(spool, row, dedupe_key=key, kind=SUMMARY_KIND, text=text)
                    continue
                if await _already_queued(session, f"digest:supervisor:{user.id}:{week}:0"):
                    continue  # the ledger is audited on export: do not build (and audit) it again
                texts, png, xlsx = await supervisor_messages(
                    session, scope=user.region, actor_id=user.id, actor_label=user.name, week_start=start, tz=tz,
                    today=as_of, locale=user_locale, digest=digests[user.region])
                parts: list[tuple[str, list[dict[str, Any]]]] = [(text, []) for text in texts]
                parts.append(("", [attachment(f"digest-{week}.png", "photo", png)]))
                parts.append(("", [attachment(ledger_filename(user.region, as_of), "document", xlsx)]))
                for part, (text, attachments) in enumerate(parts):
                    _spool(spool, row, dedupe_key=f"digest:supervisor:{user.id}:{week}:{part}", kind=DIGEST_KIND,
                           text=text, attachments=attachments)
        spool.seek(0)
        queued = 0
        for line in spool:
            queued += await outbox.enqueue(session, **json.loads(line), not_before=now)
    return queued


def _spool(spool: IO[str], row: dict[str, Any], **values: Any) -> None:
    spool.write(json.dumps({**row, **values}, ensure_ascii=False) + "\n")


async def _already_queued(session: AsyncSession, key: str) -> bool:
    found = await session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
    return found.first() is not None
