"""Derived flags of an enterprise (DESIGN.md › Domain), as pure functions."""

from __future__ import annotations

from datetime import date

from storage.enums import PartyOrg

READY_TO_FORM_MIN_MEMBERS = 3  # 3 formal members may form a branch (党章第三十条)
PRIORITY_MIN_EMPLOYEES = 100  # 百人以上未建党组织: 盯住不放


def ready_to_form(party_members: int | None, party_org: str) -> bool:
    return party_org == PartyOrg.NONE and (party_members or 0) >= READY_TO_FORM_MIN_MEMBERS


def priority(employees: int | None, party_org: str) -> bool:
    return party_org == PartyOrg.NONE and (employees or 0) >= PRIORITY_MIN_EMPLOYEES


def days_since(last_visit: date | None, today: date) -> int | None:
    return None if last_visit is None else (today - last_visit).days


def overdue(last_visit: date | None, cadence_days: int, today: date) -> bool:
    """No visit within the cadence; an enterprise never visited is overdue too."""
    return last_visit is None or (today - last_visit).days > cadence_days


# Owner feedback open longer than this is overdue: the officer is reminded, then escalated.
FEEDBACK_REMIND_DAYS = 7
FEEDBACK_ESCALATE_DAYS = 14
