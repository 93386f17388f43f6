"""Drafts: the conversation state of each user, read and written with every update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft

# Read (and on most steps written) with every update: built once (see storage.updates._SEEN).
_FOR_UPDATE = select(Draft).where(Draft.user_id == bindparam("user_id")).with_for_update()


async def for_update(session: AsyncSession, user_id: int) -> Draft | None:
    """The user's draft, locked until the unit of work ends (PostgreSQL), so two instances
    handling two quick taps of one user apply them one after the other."""
    return await session.scalar(_FOR_UPDATE, {"user_id": user_id})


async def put(
    session: AsyncSession,
    *,
    user_id: int,
    form: str,
    step: str,
    answers: dict[str, Any],
    mode: str | None,
    editing: bool,
    seq: int,
    now: datetime,
    draft: Draft | None = None,
) -> Draft:
    """Creates or overwrites the user's draft. A new form replaces the draft row (new id), so
    buttons of the old conversation are recognised as stale."""
    if draft is not None and draft.form != form:
        await session.delete(draft)
        await session.flush()
        draft = None
    if draft is None:
        draft = Draft(user_id=user_id, form=form, created_at=now)
        session.add(draft)
    draft.step, draft.answers, draft.mode, draft.editing, draft.seq = step, answers, mode, editing, seq
    draft.updated_at = now
    if draft.id is None:  # a new row: flushed for its id, which the question's buttons carry
        await session.flush()
    # An existing row's UPDATE goes out with the unit of work's commit, in the same flush as the
    # update's own record (storage.updates): one flush per update instead of two.
    return draft


async def discard(session: AsyncSession, user_id: int) -> bool:
    # Built each time: the ORM finds the deleted draft in the session by evaluating this
    # criterion in Python, which sees a bound parameter's value only when it is in the statement.
    result = await session.execute(delete(Draft).where(Draft.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
