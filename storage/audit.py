"""The audit log: every write records who, what, when, before and after."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Base

CLI_ACTOR = "cli"


def snapshot(obj: Base) -> dict[str, Any]:
    """The column values of a row as JSON-safe data (dates as ISO strings)."""
    values: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:
        value = getattr(obj, column.key)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()
        values[column.key] = value
    return values


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, so an update's entry says what changed."""
    keys = [key for key in after if before.get(key) != after.get(key) and key != "updated_at"]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def entry(
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    entity: str,
    entity_id: int | None,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit row as plain values, for `record_many`."""
    return {
        "at": at, "actor_id": actor_id, "actor_label": actor_label, "action": action,
        "entity": entity, "entity_id": entity_id, "before": before, "after": after,
    }


async def record_many(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Many entries in one executemany (imports write thousands; one ORM object each is slow).

    render_nulls keeps rows with and without `before` in one batch instead of splitting it.
    """
    if entries:
        await session.execute(insert(AuditEntry).execution_options(render_nulls=True), entries)


async def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    entity: str,
    entity_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry
