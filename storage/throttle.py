"""Throttling invite-code guessing: wrong `/start <code>` attempts counted per Telegram user.

An invite code carries 128 random bits (`officers.new_invite_code`), so guessing one is hopeless
anyway; the throttle keeps a guesser from even trying at volume. After `MAX_FAILURES` wrong
codes within `WINDOW` the next `/start <code>` of that account is refused without looking the
code up, until the oldest of them leaves the window.

What is stored is the minimum this needs: a stranger passes the access gate only with
`/start <code>`, and of one who sends a wrong code only the numeric Telegram user id and the
time are kept (`InviteAttempt`) — no name, no chat, no code — for `WINDOW`: rows older than
that are deleted with the next attempt recorded (anyone's), and an account's rows when it joins.
Refused attempts are not recorded, so an account never has more than `MAX_FAILURES` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InviteAttempt

WINDOW = timedelta(hours=1)
MAX_FAILURES = 5
# Why a redemption failed that counts as a guess: a code that does not exist (or is not even
# shaped like one) or has expired. A used code or an account bound elsewhere is not a guess.
COUNTED_REASONS = frozenset({"unknown", "expired"})


async def blocked_until(session: AsyncSession, telegram_user_id: int, now: datetime) -> datetime | None:
    """When this account may try a code again; None when it may now.

    Blocked while `MAX_FAILURES` failures lie within the window: until the newest
    `MAX_FAILURES`-th of them leaves it.
    """
    oldest_counted = await session.scalar(
        select(InviteAttempt.attempted_at)
        .where(InviteAttempt.telegram_user_id == telegram_user_id, InviteAttempt.attempted_at > now - WINDOW)
        .order_by(InviteAttempt.attempted_at.desc())
        .offset(MAX_FAILURES - 1)
        .limit(1)
    )
    return oldest_counted + WINDOW if oldest_counted is not None else None


async def record_failure(session: AsyncSession, telegram_user_id: int, now: datetime) -> None:
    """Counts a wrong code for this account, and forgets every attempt older than the window."""
    await session.execute(delete(InviteAttempt).where(InviteAttempt.attempted_at <= now - WINDOW))
    session.add(InviteAttempt(telegram_user_id=telegram_user_id, attempted_at=now))
    await session.flush()


async def forget(session: AsyncSession, telegram_user_id: int) -> None:
    """Drops an account's attempts once it has joined: nothing is kept about members' guesses."""
    await session.execute(delete(InviteAttempt).where(InviteAttempt.telegram_user_id == telegram_user_id))
