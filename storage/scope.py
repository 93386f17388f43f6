"""Region paths and scopes: `宜昌市/枝江市` covers itself and every path below it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
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
