"""Telegram HTML / MarkdownV2 parse mode."""

from __future__ import annotations

import pytest

from bot.emulator import EntityParseError, parse_html, parse_markdown_v2, utf16_len


def test_plain_text_has_no_entities() -> None:
    assert parse_html("你好, world") == ("你好, world", [])


def test_nested_tags_and_aliases() -> None:
    text, entities = parse_html("<b>bold <i>both</i></b> <strong>s</strong><em>e</em><ins>u</ins><del>d</del>")
    assert text == "bold both seud"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 5, "length": 4},
        {"type": "bold", "offset": 10, "length": 1},
        {"type": "italic", "offset": 11, "length": 1},
        {"type": "underline", "offset": 12, "length": 1},
        {"type": "strikethrough", "offset": 13, "length": 1},
    ]


def test_utf16_offsets_with_emoji() -> None:
    text, entities = parse_html("😀党<b>建</b>")
    assert text == "😀党建"
    assert utf16_len(text) == 4
    assert entities == [{"type": "bold", "offset": 3, "length": 1}]


def test_allowed_entities_are_decoded() -> None:
    text, _ = parse_html("a &lt;b&gt; &amp; &quot;q&quot; &#65;&#x42; & c")
    assert text == 'a <b> & "q" AB & c'


def test_links_pre_blockquote_spoiler_emoji() -> None:
    text, entities = parse_html(
        '<a href="https://t.me/x?a=1&amp;b=2">link</a> <pre><code class="language-python">x=1</code></pre>'
        '<blockquote expandable>q</blockquote><span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><code>c</code>'
    )
    assert text == "link x=1qst👍c"
    assert {"type": "text_link", "offset": 0, "length": 4, "url": "https://t.me/x?a=1&b=2"} in entities
    assert {"type": "pre", "offset": 5, "length": 3, "language": "python"} in entities
    assert {"type": "expandable_blockquote", "offset": 8, "length": 1} in entities
    assert {"type": "spoiler", "offset": 9, "length": 1} in entities
    assert {"type": "spoiler", "offset": 10, "length": 1} in entities
    assert {"type": "custom_emoji", "offset": 11, "length": 2, "custom_emoji_id": "5368324170671202286"} in entities
    assert {"type": "code", "offset": 13, "length": 1} in entities


def test_empty_entities_are_dropped() -> None:
    assert parse_html("<b></b>x") == ("x", [])


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("党建<div>x</div>", 'Unsupported start tag "div" at byte offset 6'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("1 < 2", "Unsupported start tag"),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;"'),
        ('<span class="x">y</span>', 'must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag"),
        ("<br/>", "Unsupported start tag"),
        ("<tg-emoji>x</tg-emoji>", "emoji-id"),
    ],
)
def test_refusals(bad: str, fragment: str) -> None:
    with pytest.raises(EntityParseError) as info:
        parse_html(bad)
    assert str(info.value).startswith("Bad Request: can't parse entities: ")
    assert fragment in str(info.value)


def test_markdown_v2_escaping() -> None:
    text, entities = parse_markdown_v2(r"*粗体* 版本 1\.0 \- _斜体_ [链接](https://example.com)")
    assert text == "粗体 版本 1.0 - 斜体 链接"
    assert entities[0] == {"type": "bold", "offset": 0, "length": 2}
    assert {"type": "text_link", "offset": 15, "length": 2, "url": "https://example.com"} in entities


@pytest.mark.parametrize("bad", ["版本 1.0", "a-b", "x!", "(a)", "*unclosed"])
def test_markdown_v2_refuses_unescaped_reserved(bad: str) -> None:
    with pytest.raises(EntityParseError) as info:
        parse_markdown_v2(bad)
    assert str(info.value).startswith("Bad Request: can't parse entities: ")
