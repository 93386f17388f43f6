"""Telegram's ``parse_mode=HTML`` (and a strict ``MarkdownV2``) entity parser.

Telegram does not use a real HTML parser: it accepts a tiny fixed tag set, a
handful of named entities and refuses everything else with
``Bad Request: can't parse entities: ...`` quoting a *UTF-8 byte offset* into
the original text.  Entity offsets/lengths in the result are counted in UTF-16
code units, because that is what the Bot API returns (an emoji outside the BMP
counts as 2).
"""

from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "EntityParseError",
    "parse_html",
    "parse_markdown_v2",
    "strip_message_text",
    "utf16_len",
]

_PREFIX = "Bad Request: can't parse entities: "

# Named entities Telegram understands; anything else such as &nbsp; is refused.
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

# tag -> entity type for the simple formatting tags.
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_ALL_TAGS = set(_SIMPLE_TAGS) | {"a", "span", "blockquote", "tg-emoji", "tg-time"}

_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_RE = re.compile(
    r"""\s*([A-Za-z_][A-Za-z0-9_-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?"""
)
_NAMED_ENTITY_RE = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_NUMERIC_ENTITY_RE = re.compile(r"&#(?:([0-9]{1,7})|[xX]([0-9A-Fa-f]{1,6}));")


class EntityParseError(ValueError):
    """Raised when Telegram would answer ``Bad Request: can't parse entities``."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(_PREFIX + detail)

    @property
    def description(self) -> str:
        return _PREFIX + self.detail


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (how Telegram counts characters)."""
    return len(s.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Out:
    """Accumulates plain text while tracking the UTF-16 position."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos16 = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pos16 += utf16_len(s)

    def text(self) -> str:
        return "".join(self.parts)


def _sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Telegram returns entities ordered by offset, outer (longer) entity first.
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)`` or raise ``EntityParseError``."""
    out = _Out()
    # stack entries: (tag name, utf16 start, entity dict or None, byte offset of the tag)
    stack: list[tuple[str, int, dict[str, Any] | None, int]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "<":
            if text.startswith("</", i):
                end = text.find(">", i)
                if end < 0:
                    raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, i)}")
                name = text[i + 2 : end].strip().lower()
                if not stack:
                    raise EntityParseError(
                        f'Unexpected end tag "{name}" at byte offset {_byte_offset(text, i)}'
                    )
                open_name, start16, entity, _ = stack.pop()
                if name != open_name:
                    raise EntityParseError(
                        f'Unmatched end tag at byte offset {_byte_offset(text, i)}, '
                        f'expected "</{open_name}>", found "</{name}>"'
                    )
                if entity is not None:
                    entity["offset"] = start16
                    entity["length"] = out.pos16 - start16
                    # Telegram silently drops zero-length entities.
                    if entity["length"] > 0:
                        entities.append(entity)
                i = end + 1
                continue
            m = _TAG_NAME_RE.match(text, i + 1)
            tag_offset = _byte_offset(text, i)
            if m is None:
                # A bare "<" (e.g. "a < b") must be escaped as &lt;.
                raise EntityParseError(f'Unsupported start tag "" at byte offset {tag_offset}')
            name = m.group(0).lower()
            if name not in _ALL_TAGS:
                raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {tag_offset}')
            j = m.end()
            attrs: dict[str, str] = {}
            while True:
                while j < n and text[j].isspace():
                    j += 1
                if j >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {tag_offset}")
                if text[j] == ">":
                    break
                if text.startswith("/>", j):
                    raise EntityParseError(
                        f'Unsupported self-closing tag "{name}" at byte offset {tag_offset}'
                    )
                am = _ATTR_RE.match(text, j)
                if am is None or am.end() == j:
                    raise EntityParseError(
                        f"Expected equal sign in declaration of an attribute of the tag "
                        f"\"{name}\" at byte offset {_byte_offset(text, j)}"
                    )
                value = am.group(2) if am.group(2) is not None else am.group(3)
                if value is None:
                    value = am.group(4) if am.group(4) is not None else ""
                attrs[am.group(1).lower()] = _decode_entities(value, text, j)
                j = am.end()
            i = j + 1
            entity = _entity_for_tag(name, attrs, stack, tag_offset)
            stack.append((name, out.pos16, entity, tag_offset))
            continue
        if c == "&":
            m_named = _NAMED_ENTITY_RE.match(text, i)
            if m_named is not None:
                key = m_named.group(1)
                if key not in _NAMED_ENTITIES:
                    raise EntityParseError(
                        f'Unsupported HTML entity "&{key};" at byte offset {_byte_offset(text, i)}'
                    )
                out.add(_NAMED_ENTITIES[key])
                i = m_named.end()
                continue
            m_num = _NUMERIC_ENTITY_RE.match(text, i)
            if m_num is not None:
                code = int(m_num.group(1)) if m_num.group(1) else int(m_num.group(2), 16)
                if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise EntityParseError(
                        f"Invalid numeric HTML entity at byte offset {_byte_offset(text, i)}"
                    )
                out.add(chr(code))
                i = m_num.end()
                continue
            # A lone "&" that does not start an entity is kept literally, as Telegram does.
            out.add("&")
            i += 1
            continue
        # Copy a run of ordinary characters at once.
        j = i
        while j < n and text[j] not in "<&":
            j += 1
        out.add(text[i:j])
        i = j
    if stack:
        name, _, _, offset = stack[-1]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}" at byte offset {offset}')
    return out.text(), _sort_entities(entities)


def _decode_entities(value: str, text: str, at: int) -> str:
    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in _NAMED_ENTITIES:
            raise EntityParseError(f'Unsupported HTML entity "&{key};" at byte offset {_byte_offset(text, at)}')
        return _NAMED_ENTITIES[key]

    value = _NAMED_ENTITY_RE.sub(repl, value)
    return _NUMERIC_ENTITY_RE.sub(
        lambda m: chr(int(m.group(1)) if m.group(1) else int(m.group(2), 16)), value
    )


def _entity_for_tag(
    name: str,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, Any] | None, int]],
    tag_offset: int,
) -> dict[str, Any] | None:
    if name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {tag_offset}')
        return {"type": "spoiler"}
    if name == "a":
        href = attrs.get("href")
        if not href:
            # <a> without href is accepted by Telegram but produces no entity.
            return None
        m = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if m:
            return {"type": "text_mention", "user": {"id": int(m.group(1)), "is_bot": False, "first_name": ""}}
        return {"type": "text_link", "url": href}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if name == "tg-emoji":
        emoji_id = attrs.get("emoji-id")
        if not emoji_id:
            raise EntityParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {tag_offset}')
        return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
    if name == "tg-time":
        unix = attrs.get("unix")
        if unix is None or not unix.isdigit():
            raise EntityParseError(f'Tag "tg-time" must have attribute "unix" at byte offset {tag_offset}')
        return {"type": "date_time", "unix_time": int(unix)}
    if name == "code" and stack and stack[-1][0] == "pre" and stack[-1][2] is not None:
        # <pre><code class="language-x"> sets the language of the enclosing pre block
        # instead of creating a nested code entity.
        cls = attrs.get("class", "")
        if cls.startswith("language-"):
            pre_entity = stack[-1][2]
            pre_entity["language"] = cls[len("language-") :]
        return None
    return {"type": _SIMPLE_TAGS[name]}


# --------------------------------------------------------------------------- MarkdownV2

_MD_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD_SIMPLE = [("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"), ("~", "strikethrough")]


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Strict MarkdownV2: every reserved character outside markup must be escaped."""
    out = _Out()
    entities: list[dict[str, Any]] = []
    open_: list[tuple[str, str, int, int]] = []  # (marker, type, start16, byte offset)
    link_starts: list[tuple[int, int]] = []  # (start16, byte offset)
    i = 0
    n = len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        off = _byte_offset(text, i)
        if c == "\\":
            if i + 1 >= n or not (1 <= ord(text[i + 1]) <= 126):
                raise EntityParseError("Character '\\' is reserved and must be escaped with the preceding '\\'")
            out.add(text[i + 1])
            i += 2
            at_line_start = False
            continue
        if c == "`":
            fence = text.startswith("```", i)
            marker = "```" if fence else "`"
            j = i + len(marker)
            language = None
            if fence:
                nl = text.find("\n", j)
                first = text[j:nl] if nl >= 0 else ""
                if nl >= 0 and re.fullmatch(r"[A-Za-z0-9_+-]*", first):
                    language = first or None
                    j = nl + 1
            buf: list[str] = []
            while True:
                if j >= n:
                    kind = "Pre" if fence else "Code"
                    raise EntityParseError(f"Can't find end of {kind} entity at byte offset {off}")
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "`\\":
                    buf.append(text[j + 1])
                    j += 2
                    continue
                if text.startswith(marker, j):
                    break
                buf.append(text[j])
                j += 1
            start = out.pos16
            out.add("".join(buf))
            if out.pos16 > start:
                ent: dict[str, Any] = {"type": "pre" if fence else "code", "offset": start, "length": out.pos16 - start}
                if language:
                    ent["language"] = language
                entities.append(ent)
            i = j + len(marker)
            at_line_start = False
            continue
        if c == ">" and at_line_start:
            # Block quotation marker at the start of a line.
            start = out.pos16
            i += 1
            nl = text.find("\n", i)
            line_end = n if nl < 0 else nl
            inner_text, inner_entities = parse_markdown_v2(text[i:line_end])
            for e in inner_entities:
                e["offset"] += start
                entities.append(e)
            out.add(inner_text)
            if out.pos16 > start:
                entities.append({"type": "blockquote", "offset": start, "length": out.pos16 - start})
            i = line_end
            continue
        if c == "[":
            link_starts.append((out.pos16, off))
            i += 1
            at_line_start = False
            continue
        if c == "]" and link_starts:
            if not text.startswith("](", i):
                raise EntityParseError(f"Can't find end of a URL at byte offset {off}")
            j = text.find(")", i + 2)
            if j < 0:
                raise EntityParseError(f"Can't find end of a URL at byte offset {off}")
            url = text[i + 2 : j].replace("\\)", ")").replace("\\\\", "\\")
            start, _ = link_starts.pop()
            if out.pos16 > start:
                entities.append({"type": "text_link", "offset": start, "length": out.pos16 - start, "url": url})
            i = j + 1
            continue
        matched = False
        for marker, etype in _MD_SIMPLE:
            if text.startswith(marker, i):
                if open_ and open_[-1][0] == marker:
                    _, _, start, _ = open_.pop()
                    if out.pos16 > start:
                        entities.append({"type": etype, "offset": start, "length": out.pos16 - start})
                elif any(o[0] == marker for o in open_):
                    raise EntityParseError(f"Can't find end of {open_[-1][1].capitalize()} entity at byte offset {open_[-1][3]}")
                else:
                    open_.append((marker, etype, out.pos16, off))
                i += len(marker)
                matched = True
                break
        if matched:
            at_line_start = False
            continue
        if c in _MD_RESERVED:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        out.add(c)
        at_line_start = c == "\n"
        i += 1
    if open_:
        _, etype, _, off = open_[-1]
        raise EntityParseError(f"Can't find end of {etype.capitalize()} entity at byte offset {off}")
    if link_starts:
        raise EntityParseError(f"Can't find end of a URL at byte offset {link_starts[-1][1]}")
    return out.text(), _sort_entities(entities)


def strip_message_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace like Telegram does and shift entities accordingly."""
    stripped_left = text.lstrip()
    lead = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    total = utf16_len(result)
    fixed: list[dict[str, Any]] = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            fixed.append({**e, "offset": start, "length": end - start})
    return result, fixed
