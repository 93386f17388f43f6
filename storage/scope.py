"""Region paths and scopes: `宜昌市/枝江市` covers itself and every path below it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.orm import InstrumentedAttribute

SEPARATOR = "/"


def normalize_region(path: str) -> str:
    """Trims blanks and stray separators: ` 宜昌市 / 枝江市/ ` -> `宜昌市/枝江市`."""
    parts = [part.strip() for part in path.replace("／", SEPARATOR).split(SEPARATOR)]
    return SEPARATOR.join(part for part in parts if part)


def covers(scope: str, region: str) -> bool:
    return region == scope or region.startswith(scope + SEPARATOR)


def in_scope(column: InstrumentedAttribute[str], scope: str) -> ColumnElement[bool]:
    # A prefix match on the separator boundary, so `宜昌市/枝江` does not cover `宜昌市/枝江市`.
    # LIKE wildcards in a region name are escaped.
    escaped = scope.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(column == scope, column.like(escaped + SEPARATOR + "%", escape="\\"))


def scope_filter(column: InstrumentedAttribute[str], scope: str) -> ColumnElement[bool]:
    """`in_scope`, where an empty scope is the whole database (the operator's reports without --region)."""
    scope = normalize_region(scope)
    return in_scope(column, scope) if scope else true()


def sub_region_path(region: str, scope: str) -> str:
    """The path one level below `scope` that `region` lies in: 宜昌市/枝江市 for
    宜昌市/枝江市/马家店街道 in 宜昌市; the scope itself for a region at the scope's own level."""
    if scope and region == scope:
        return scope
    rest = region[len(scope) + 1 :] if scope else region
    head = rest.split(SEPARATOR, 1)[0]
    return f"{scope}{SEPARATOR}{head}" if scope else head
