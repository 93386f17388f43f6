"""The sender's pure timing rules: Telegram's rate limits, quiet hours, backoff."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import QuietHours
from bot.sender import Pacer, backoff, in_quiet_hours, keyboard, quiet_hours_end

TZ = ZoneInfo("Asia/Shanghai")


def _send_all(pacer: Pacer, chats: list[int]) -> list[float]:
    """Sends one message per entry, waiting as the pacer says; returns the send times."""
    now, times = 0.0, []
    for chat in chats:
        now += pacer.wait(chat, now)
        pacer.record(chat, now)
        times.append(now)
    return times


def test_a_new_chat_may_be_sent_to_at_once() -> None:
    assert Pacer().wait(1, 100.0) == 0.0


def test_one_chat_gets_at_most_one_message_a_second() -> None:
    times = _send_all(Pacer(), [7] * 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 1.0 for gap in gaps)
    assert times[-1] < 4.01  # and not much slower than that


def test_no_rolling_second_holds_more_than_thirty_messages() -> None:
    times = _send_all(Pacer(), list(range(100)))  # 100 different chats
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t - start < 1.0) <= 30
    # Close to the limit: 100 messages in a little over 3 seconds.
    assert times[-1] < 3.1


def test_retry_after_pauses_every_chat() -> None:
    pacer = Pacer()
    pacer.record(1, 0.0)
    pacer.pause(2.0, 0.0)
    assert pacer.wait(2, 0.5) == 1.5
    assert pacer.wait(1, 3.0) == 0.0


def test_pick_prefers_a_chat_that_is_ready() -> None:
    pacer = Pacer()
    pacer.record(1, 0.0)
    assert pacer.pick([1, 1, 2, 3], 0.1) == 2
    assert pacer.pick([1, 1], 0.1) == 0  # nothing ready: the first of those ready soonest


def _local(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_quiet_hours_are_21_to_08_local() -> None:
    assert in_quiet_hours(_local(21), TZ)
    assert in_quiet_hours(_local(23, 59), TZ)
    assert in_quiet_hours(_local(0), TZ)
    assert in_quiet_hours(_local(7, 59), TZ)
    assert not in_quiet_hours(_local(8), TZ)
    assert not in_quiet_hours(_local(20, 59), TZ)
    # 14:00 UTC is 22:00 in Shanghai: the local time counts, not UTC.
    assert in_quiet_hours(datetime(2026, 11, 25, 14, 0, tzinfo=UTC), TZ)


def test_quiet_hours_end_at_the_next_eight_oclock() -> None:
    assert quiet_hours_end(_local(22), TZ) == _local(8, day=26)
    assert quiet_hours_end(_local(3), TZ) == _local(8)


def test_backoff_doubles_up_to_a_cap() -> None:
    base, cap = timedelta(seconds=30), timedelta(minutes=5)
    assert [backoff(n, base, cap).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 300]


def test_buttons_become_an_inline_keyboard() -> None:
    assert keyboard([]) is None
    markup = keyboard([[{"text": "立即填报", "callback_data": "remind:now:1"}]])
    assert markup is not None
    assert markup.inline_keyboard[0][0].callback_data == "remind:now:1"


def test_a_full_window_holds_even_when_the_clock_rounds() -> None:
    """Seconds read from a datetime are whole microseconds of a 1.7e9-second timestamp: where
    the wait ends and where a place in the window frees must agree, or a window kept full by a
    rounding error lets every ready message through at once."""
    pacer, now, times = Pacer(), 1_764_036_000.0, []
    for chat in range(100):
        now = round(now + pacer.wait(chat, now), 6)
        pacer.record(chat, now)
        times.append(now)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t - start < 1.0) <= 30
    assert times[-1] - times[0] < 3.1


def test_a_message_counts_from_its_answer() -> None:
    """Telegram counts a message when it arrives, at the latest when the answer came back: from
    then on the second runs, and the chat's gap."""
    pacer = Pacer()
    for chat in range(30):
        pacer.record(chat, 0.0)
        pacer.settle(chat, 0.0, 0.05)
    assert abs(pacer.wait(99, 1.0) - 0.051) < 1e-9
    assert abs(pacer.wait(0, 1.0) - 0.051) < 1e-9
    assert pacer.wait(99, 1.051) == 0.0


def test_quiet_hours_within_one_day_and_across_midnight() -> None:
    noon = QuietHours(time(12, 0), time(14, 0))
    assert [in_quiet_hours(_local(h, m), TZ, noon) for h, m in ((11, 59), (12, 0), (13, 59), (14, 0), (23, 0))] == [
        False, True, True, False, False]
    assert quiet_hours_end(_local(12, 30), TZ, noon) == _local(14)
    late = QuietHours(time(22, 30), time(6, 0))
    assert [in_quiet_hours(_local(h, m), TZ, late) for h, m in ((22, 29), (22, 30), (3, 0), (6, 0), (21, 0))] == [
        False, True, True, False, False]
    assert quiet_hours_end(_local(23), TZ, late) == _local(6, day=26)
    assert quiet_hours_end(_local(5), TZ, late) == _local(6)
    assert not any(in_quiet_hours(_local(h), TZ, None) for h in range(24))  # QUIET_HOURS empty: none
