"""The unified social credit code 统一社会信用代码 (GB 32100-2015).

18 characters: registration authority (1), organisation kind (1), administrative division
code (6, GB/T 2260), organisation code (9) and a check character. Characters come from a
31-symbol alphabet without I, O, S, V and Z; the check character is 31 - (Σ cᵢ·wᵢ mod 31),
with wᵢ = 3^(i-1) mod 31, and 31 itself written as 0.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18


def check_character(first17: str) -> str:
    total = sum(VALUES[ch] * weight for ch, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalize(code: str) -> str:
    """Upper case, without blanks; full-width letters and digits folded to ASCII."""
    folded = "".join(chr(ord(ch) - 0xFEE0) if "！" <= ch <= "～" else ch for ch in code)
    return "".join(folded.split()).upper()


def problem(code: str) -> str | None:
    """Why `code` is not a valid credit code (`length`, `character`, `check_digit`), or None."""
    if len(code) != LENGTH:
        return "length"
    if any(ch not in VALUES for ch in code):
        return "character"
    if check_character(code[:17]) != code[17]:
        return "check_digit"
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None


def division(code: str) -> str:
    """The administrative division code (characters 3–8), e.g. `420583` for 枝江市."""
    return code[2:8]
