"""Derived facts of an enterprise (DESIGN.md › Domain; OFFICIAL-FORMATS.md § 1), as pure functions."""

from __future__ import annotations

from datetime import date

from storage.enums import MarketEntity, UnorganisedClass

READY_TO_FORM_MIN_MEMBERS = 3  # 3 formal members may form a branch (党章第三十条)
PRIORITY_MIN_EMPLOYEES = 100  # 百人以上未建党组织: 盯住不放

# GB 32100: the first character is the registration authority (9: 市场监管), the second the kind.
_MARKET_ENTITIES = {"1": MarketEntity.ENTERPRISE, "2": MarketEntity.INDIVIDUAL, "3": MarketEntity.COOPERATIVE}


def market_entity(credit_code: str) -> MarketEntity:
    """企业 / 个体工商户 / 农民专业合作社 from the credit code; anything not registered by 市场监管 is other."""
    if len(credit_code) < 2 or credit_code[0] != "9":
        return MarketEntity.OTHER
    return _MARKET_ENTITIES.get(credit_code[1], MarketEntity.OTHER)


def market_entity_prefixes() -> dict[MarketEntity, str]:
    """The credit-code prefix of each market entity `market_entity` tells apart (for queries)."""
    return {entity: "9" + second for second, entity in _MARKET_ENTITIES.items()}


def founding_members(party_members: int | None, members_here: int | None) -> int:
    """The formal members who can found an organisation: those whose 组织关系 is in the
    enterprise where that is known, else every formal member reported."""
    return members_here if members_here is not None else (party_members or 0)


def ready_to_form(members: int, organised: bool) -> bool:
    """应建未建: 3 or more formal members and no organisation."""
    return not organised and members >= READY_TO_FORM_MIN_MEMBERS


def priority(employees: int | None, organised: bool) -> bool:
    return not organised and (employees or 0) >= PRIORITY_MIN_EMPLOYEES


def unorganised_class(members: int) -> UnorganisedClass:
    """Which class an enterprise without an organisation is in, by its formal members."""
    if members >= READY_TO_FORM_MIN_MEMBERS:
        return UnorganisedClass.SHOULD_FORM
    return UnorganisedClass.FEW_MEMBERS if members > 0 else UnorganisedClass.NO_MEMBERS


def days_since(last_visit: date | None, today: date) -> int | None:
    return None if last_visit is None else (today - last_visit).days


def overdue(last_visit: date | None, cadence_days: int, today: date) -> bool:
    """No visit within the cadence; an enterprise never visited is overdue too."""
    return last_visit is None or (today - last_visit).days > cadence_days


# Owner feedback open longer than this is overdue: the officer is reminded, then escalated.
FEEDBACK_REMIND_DAYS = 7
FEEDBACK_ESCALATE_DAYS = 14


# The 分类台账's classes, in its order: 已建 by way of forming, then 未建 by formal members.
LEDGER_CLASSES = ("single", "joint", "attached", *(c.value for c in UnorganisedClass))


def ledger_class(formation: str | None, members: int) -> str:
    """The enterprise's class in the 分类台账: its organisation's way of forming, or without one
    its `unorganised_class`."""
    return formation if formation is not None else unorganised_class(members).value
