"""Pinyin initials of enterprise names, for searching with a Latin keyboard."""

from __future__ import annotations

from itertools import islice, product

from pypinyin import Style, lazy_pinyin, pinyin

# Place names are full of characters with two readings (长阳 is chang-yang, not zhang-yang),
# and the dictionary's first guess is often wrong for them. So every reading combination is
# stored, up to this many, separated by spaces; a search matches any of them.
MAX_VARIANTS = 8


def _as_is(chars: str) -> str:
    """Characters pypinyin has no reading for (Latin letters, digits) stay as they are."""
    return chars


def _keep(letters: str) -> str:
    return "".join(ch for ch in letters.lower() if ch.isascii() and ch.isalnum())


def initials(name: str) -> str:
    """`枝江市楚韵纺织有限公司` -> `zjscyfzyxgs`; Latin letters and digits are kept as they are."""
    best = _keep("".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors=_as_is)))
    readings = pinyin(name, style=Style.FIRST_LETTER, heteronym=True, errors=_as_is)
    choices = [sorted({_keep(r) for r in options}) or [""] for options in readings]
    variants = [best]
    for combo in islice(product(*choices), 64):
        variant = "".join(combo)
        if variant and variant not in variants:
            variants.append(variant)
        if len(variants) >= MAX_VARIANTS:
            break
    return " ".join(variants)


def normalize_query(text: str) -> str:
    return _keep(text)
