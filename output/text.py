"""Telegram's length rules for text, in one place.

Telegram counts a message's and a caption's length in UTF-16 code units (an emoji outside the
Basic Multilingual Plane is two), after entity parsing.
"""

from __future__ import annotations

import html
import re

MESSAGE_LIMIT = 4096  # a text message
CAPTION_LIMIT = 1024  # a photo's or document's caption


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cuts `text` into messages of at most `limit` UTF-16 units, on line boundaries.

    The templates close every HTML tag on its own line, so a cut between lines never leaves a
    tag open. A single line longer than the limit (never produced by the templates) is cut hard.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while utf16_len(line) > limit:
            head = line[:limit // 2]  # at most 2 units per code point: always fits
            line = line[len(head):]
            parts.extend(["\n".join(current)] if current else [])
            current, size = [], 0
            parts.append(head)
        extra = utf16_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            parts.append("\n".join(current))
            current, size = [], 0
            extra = utf16_len(line)
        current.append(line)
        size += extra
    if current:
        parts.append("\n".join(current))
    return [part for part in (p.strip("\n") for p in parts) if part]


def plain_text(message: str) -> str:
    """A message's text without its Telegram HTML tags (`<b>`, `<i>`, `<code>`), for a terminal."""
    return html.unescape(re.sub(r"</?(?:b|i|code)>", "", message))
