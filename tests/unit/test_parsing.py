"""The forms' text parsers: dates and head counts as officers type them on a phone."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.forms import parse_count, parse_date

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("2026/11/20", date(2026, 11, 20)),
        ("2026.11.20", date(2026, 11, 20)),
        ("2026-1-5", date(2026, 1, 5)),
        ("2025-12-31", date(2025, 12, 31)),
        ("2024-02-29", date(2024, 2, 29)),
        ("11-20", date(2026, 11, 20)),
        ("11/20", date(2026, 11, 20)),
        ("11.20", date(2026, 11, 20)),
        ("1-5", date(2026, 1, 5)),
        ("11-05", date(2026, 11, 5)),
        ("11月20日", date(2026, 11, 20)),
        ("11月20", date(2026, 11, 20)),
        ("2026年11月20日", date(2026, 11, 20)),
        ("2025年3月8日", date(2025, 3, 8)),
        ("今天", TODAY),
        ("今日", TODAY),
        ("昨天", date(2026, 11, 19)),
        ("昨日", date(2026, 11, 19)),
        ("前天", date(2026, 11, 18)),
        ("today", TODAY),
        ("Today", TODAY),
        ("YESTERDAY", date(2026, 11, 19)),
        ("１１－２０", date(2026, 11, 20)),
        ("２０２６年１１月２０日", date(2026, 11, 20)),
        ("１１／１９", date(2026, 11, 19)),
        ("  11-20  ", date(2026, 11, 20)),
        ("\t2026-11-20\n", date(2026, 11, 20)),
        ("11 - 20", date(2026, 11, 20)),
        ("\u300011月20日\u3000", date(2026, 11, 20)),  # ideographic spaces from a Chinese keyboard
        (" 昨天 ", date(2026, 11, 19)),
    ],
)
def test_parse_date_reads_the_usual_ways_of_writing_a_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "13-01",
        "02-30",
        "02-29",  # 2026 is not a leap year
        "00-10",
        "11-00",
        "11-32",
        "2026-13-01",
        "2026-11-31",
        "26-11-20",
        "11-20-2026",
        "20261120",
        "11月",
        "明天",
        "上周五",
        "2026-11",
        "11--20",
    ],
)
def test_parse_date_refuses_what_is_not_a_date(text: str) -> None:
    assert parse_date(text, TODAY) is None


def test_parse_date_does_not_judge_the_future() -> None:
    # Whether a future date is allowed is the step's rule (DateStep), not the parser's.
    assert parse_date("12-01", TODAY) == date(2026, 12, 1)


def test_parse_date_reads_a_yearless_late_december_date_in_january_as_last_year() -> None:
    assert parse_date("12-30", date(2027, 1, 2)) == date(2026, 12, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", 120),
        ("0", 0),
        ("007", 7),
        ("１２０", 120),
        ("120人", 120),
        ("120名", 120),
        ("１２０人", 120),
        ("1,200", 1200),
        ("1，200", 1200),  # full-width comma
        ("1,000,000", 1_000_000),
        (" 120 ", 120),
        ("999999999", 999_999_999),
        ("120 人", 120),
        # Absurdly large counts still parse: the step then says which range is allowed.
        ("1000000000", 1_000_000_000),
        ("１２３４５６７８９０", 1_234_567_890),
    ],
)
def test_parse_count_reads_whole_numbers(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "abc",
        "一百二十",
        "人",
        "120 30",
        "9" * 40,
    ],
)
def test_parse_count_refuses_what_is_not_a_plain_count(text: str) -> None:
    assert parse_count(text) is None
