"""Lookup sources for form steps: enterprises in the user's region."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.forms import FormContext, Option
from output.render import label
from storage import enterprises
from storage.enterprises import EnterpriseRow

ENTERPRISE_KEY_PREFIX = "e"


def card_button(enterprise_id: int) -> str:
    """Callback data that opens the enterprise card (handlers/enterprise.py)."""
    return f"ent:show:{enterprise_id}"


def enterprise_option(row: EnterpriseRow, locale: str) -> Option:
    """`⚠ 楚韵纺织 · 45天未访` for overdue ones, `白洋港机械 · 12天前` for the rest."""
    return Option(
        f"{ENTERPRISE_KEY_PREFIX}{row.id}",
        label("enterprise_button", locale, name=row.name, days=row.days_since, overdue=row.overdue),
    )


@dataclass(frozen=True)
class EnterpriseSource:
    """The officer's own enterprises first (overdue first); search covers their whole region.

    Every pick is checked against the region again, so a forged or stale button naming
    another region's enterprise is refused.
    """

    suggestions_limit: int = 6
    search_limit: int = 8

    async def suggestions(self, ctx: FormContext) -> list[Option]:
        rows = await enterprises.assigned_to(ctx.session, ctx.member.id, ctx.today, ctx.member.region)
        return [enterprise_option(row, ctx.locale) for row in rows[: self.suggestions_limit]]

    async def search(self, ctx: FormContext, text: str) -> list[Option]:
        rows = await enterprises.search(ctx.session, ctx.member.region, text, ctx.today, self.search_limit)
        return [enterprise_option(row, ctx.locale) for row in rows]

    async def resolve(self, ctx: FormContext, key: str) -> int | None:
        # At most 9 digits, like the ids in every callback pattern: a forged larger number is no
        # id (ids are PostgreSQL INTEGERs, and a bigger value fails the query instead of finding nothing).
        if not key.startswith(ENTERPRISE_KEY_PREFIX) or not key[1:].isdigit() or len(key) > 10:
            return None
        enterprise = await enterprises.get_in_scope(ctx.session, int(key[1:]), ctx.member.region)
        return enterprise.id if enterprise else None
