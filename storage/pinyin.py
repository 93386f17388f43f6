"""Pinyin initials of enterprise names, for searching with a Latin keyboard."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=16384)
def _readings(char: str) -> tuple[str, ...]:
    """Every initial a character can have. Cached: registries repeat 有限公司 and county
    names thousands of times, and asking the dictionary is the slow part of an import."""
    options = pinyin(char, style=Style.FIRST_LETTER, heteronym=True, errors=_as_is)
    return tuple(sorted({_keep(r) for group in options for r in group})) or ("",)


def initials(name: str) -> str:
    """`枝江市楚韵纺织有限公司` -> `zjscyfzyxgs`; Latin letters and digits are kept as they are."""
    # lazy_pinyin reads whole phrases, so its one guess is the best. The variants change one
    # character's reading at a time: a name rarely has more than one misread character.
    best = _keep("".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors=_as_is)))
    readings = [_readings(ch) for ch in name]
    # Split the best guess back into one piece per character (a Chinese character gives one
    # letter, a Latin letter or digit itself, anything else nothing), then vary each piece.
    base, position = [], 0
    for options in readings:
        width = len(options[0])
        base.append(best[position : position + width])
        position += width
    variants = [best]
    candidates = [
        "".join(base[:i]) + other + "".join(base[i + 1 :])
        for i, options in enumerate(readings)
        for other in options
        if other != base[i]
    ]
    for variant in candidates:
        if len(variants) >= MAX_VARIANTS:
            break
        if variant and variant not in variants:
            variants.append(variant)
    return " ".join(variants)


def normalize_query(text: str) -> str:
    return _keep(text)
