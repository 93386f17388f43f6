"""Rendering the weekly digest: splitting under Telegram's limit, and a chart with Chinese labels."""

from __future__ import annotations

import warnings
from datetime import date

from bot.emulator import parse_html
from output.digests import chart_png, render_officer_summary, render_supervisor_digest
from output.text import split_message, utf16_len
from storage.digests import OfficerSummary, SubRegion, SupervisorDigest

WEEK = date(2026, 11, 16)


def _digest(regions: int = 3) -> SupervisorDigest:
    names = ["枝江市", "远安县", "五峰土家族自治县", "当阳市"]
    return SupervisorDigest(
        scope="宜昌市", week_start=WEEK, week_end=date(2026, 11, 22), as_of=date(2026, 11, 22), visits=312,
        visits_last_week=287, new_activists=14, new_organisations=2, feedback_new=23, feedback_resolved=19,
        feedback_overdue=4, enterprises=100, covered=81, ready_to_form=5, priority=3,
        regions=[SubRegion(f"宜昌市/{names[i % 4]}{i // 4 or ''}", 25, 12 + i % 3 * 5, i % 7, i % 5)
                 for i in range(regions)],
        idle_officers=[f"联系员{i}" for i in range(7)])


def test_digest_text_matches_the_journey() -> None:
    [text] = render_supervisor_digest(_digest(), "zh_CN")
    # 312 vs 287: +25 / 287 = 8.7 % → ↑9 %; 81 of 100 covered.
    assert "走访 312 次（上周 287，↑9%）· 按期走访率 81%" in text
    assert "业主诉求 新增 23 / 办结 19 / 超期 4" in text
    # 枝江市 12/25 = 48 %, 远安县 17/25 = 68 %, 五峰 22/25 = 88 %: only 枝江市 lags.
    assert "按期走访率低于 60%：枝江市（48%）" in text
    assert "14 天无走访的联系员：7 人" in text


def test_long_digest_is_split_on_lines_under_the_limit() -> None:
    parts = render_supervisor_digest(_digest(regions=400), "zh_CN")
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 4096
        parse_html(part)  # every part is valid Telegram HTML on its own
    # Nothing lost: the 400 region rows are all there, across the parts.
    assert sum(part.count(" 家 / ") for part in parts) == 400


def test_split_keeps_every_line() -> None:
    lines = [f"第 {i} 行 · 😀" * 3 for i in range(1000)]
    parts = split_message("\n".join(lines), limit=500)
    assert all(utf16_len(part) <= 500 for part in parts)
    assert "\n".join(parts).split("\n") == lines


def test_officer_summary_renders_in_both_locales() -> None:
    summary = OfficerSummary(1, "王芳", WEEK, date(2026, 11, 22), 2, 1, 1, 1, 2)
    [zh] = render_officer_summary(summary, "zh_CN")
    [en] = render_officer_summary(summary, "en")
    assert "本周走访 2 次（上周 1）" in zh
    assert "Visits this week 2 (last week 1)" in en


def test_chart_is_a_png_with_every_chinese_glyph() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = chart_png(_digest(regions=4), "zh_CN")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert not [w for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
