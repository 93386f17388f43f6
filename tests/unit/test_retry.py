"""The Bot API retry policy (bot/retry.py) as pure logic: which failure is which, what is
retried, how long is waited; then the rate limiter with a fake callback and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.retry import (
    BACKOFF,
    MAX_TOTAL,
    Action,
    Failure,
    TelegramRetry,
    classify,
    decide,
    idempotent,
)


def _caused(error: Exception, cause: BaseException) -> Exception:
    """An error as PTB raises it: `raise error from cause`."""
    error.__cause__ = cause
    return error


def server_error(description: str = "Internal Server Error") -> NetworkError:
    # PTB's mapping of a 500/502/503 answer: a plain NetworkError with the description, no cause.
    return NetworkError(description)


def transport(cause: httpx.HTTPError) -> NetworkError:
    return _caused(NetworkError(f"httpx.{type(cause).__name__}: {cause}"), cause)  # type: ignore[return-value]


def timed_out(cause: httpx.TimeoutException) -> TimedOut:
    return _caused(TimedOut(), cause)  # type: ignore[return-value]


CLASSIFIED = [
    pytest.param(RetryAfter(3), Failure.THROTTLED, id="429-retry-after"),
    pytest.param(server_error(), Failure.REFUSED, id="500"),
    pytest.param(server_error("Bad Gateway"), Failure.REFUSED, id="502"),
    pytest.param(server_error("Service Unavailable"), Failure.REFUSED, id="503"),
    pytest.param(_caused(NetworkError("Bad Gateway (502). Parsing the server response failed"), NetworkError("x")),
                 Failure.REFUSED, id="502-html-page-of-a-proxy"),
    pytest.param(transport(httpx.ConnectError("Connection refused")), Failure.NOT_SENT, id="connection-refused"),
    pytest.param(timed_out(httpx.ConnectTimeout("connect")), Failure.NOT_SENT, id="connect-timeout"),
    pytest.param(timed_out(httpx.PoolTimeout("pool")), Failure.NOT_SENT, id="pool-timeout"),
    pytest.param(timed_out(httpx.ReadTimeout("read")), Failure.AMBIGUOUS, id="read-timeout"),
    pytest.param(timed_out(httpx.WriteTimeout("write")), Failure.AMBIGUOUS, id="write-timeout"),
    pytest.param(TimedOut(), Failure.AMBIGUOUS, id="timeout-without-cause"),
    pytest.param(transport(httpx.RemoteProtocolError("Server disconnected without sending a response.")),
                 Failure.AMBIGUOUS, id="dropped-connection"),
    pytest.param(transport(httpx.ReadError("reset by peer")), Failure.AMBIGUOUS, id="read-error"),
    pytest.param(_caused(NetworkError("Unknown error in HTTP implementation: OSError()"), OSError()),
                 Failure.AMBIGUOUS, id="unknown-transport-error"),
    pytest.param(BadRequest("Bad Request: chat not found"), Failure.FINAL, id="400"),
    pytest.param(Forbidden("Forbidden: bot was blocked by the user"), Failure.FINAL, id="403"),
    pytest.param(InvalidToken(), Failure.FINAL, id="401"),
    pytest.param(Conflict("terminated by other getUpdates request"), Failure.FINAL, id="409"),
    pytest.param(ChatMigrated(42), Failure.FINAL, id="chat-migrated"),
]


@pytest.mark.parametrize(("error", "failure"), CLASSIFIED)
def test_each_failure_is_classified_by_what_it_says_about_the_request(error: Exception, failure: Failure) -> None:
    assert classify(error) is failure


@pytest.mark.parametrize("method", ["getMe", "getChat", "setMyCommands", "deleteMessage", "editMessageText",
                                    "editMessageReplyMarkup", "answerCallbackQuery", "sendChatAction",
                                    "pinChatMessage"])
def test_methods_whose_repetition_is_harmless(method: str) -> None:
    assert idempotent(method)


@pytest.mark.parametrize("method", ["sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage",
                                    "forwardMessage", "answerInlineQuery", "createChatInviteLink"])
def test_methods_that_would_do_it_twice(method: str) -> None:
    assert not idempotent(method)


def _decide(method: str, error: Exception, *, retries: int = 0, elapsed: float = 0.0,
            uncertain_before: bool = False) -> tuple[Action, float]:
    decision = decide(method, error, retries=retries, elapsed=elapsed, uncertain_before=uncertain_before)
    return decision.action, decision.delay


@pytest.mark.parametrize("method", ["sendMessage", "editMessageText", "answerCallbackQuery", "getMe"])
def test_a_429_is_waited_out_for_every_method(method: str) -> None:
    action, delay = _decide(method, RetryAfter(3))
    assert action is Action.RETRY
    assert delay == pytest.approx(3.1)


def test_a_429_that_would_end_beyond_the_budget_is_raised_at_once() -> None:
    assert _decide("sendMessage", RetryAfter(31)) == (Action.RAISE, 0.0)
    assert _decide("sendMessage", RetryAfter(3), elapsed=MAX_TOTAL - 3) == (Action.RAISE, 0.0)
    assert _decide("sendMessage", RetryAfter(3), elapsed=MAX_TOTAL - 4)[0] is Action.RETRY


@pytest.mark.parametrize("error", [server_error(), server_error("Bad Gateway"),
                                   transport(httpx.ConnectError("refused")), timed_out(httpx.ConnectTimeout("c"))],
                         ids=["500", "502", "refused", "connect-timeout"])
def test_refused_and_unsent_requests_are_retried_with_backoff_a_few_times(error: Exception) -> None:
    delays = [_decide("sendMessage", error, retries=n) for n in range(len(BACKOFF) + 1)]
    assert delays == [(Action.RETRY, d) for d in BACKOFF] + [(Action.RAISE, 0.0)]
    assert BACKOFF == (0.5, 1.0, 2.0)


def test_a_backoff_that_would_end_beyond_the_budget_is_not_waited() -> None:
    assert _decide("sendMessage", server_error(), elapsed=MAX_TOTAL - 0.2) == (Action.RAISE, 0.0)


@pytest.mark.parametrize("error", [timed_out(httpx.ReadTimeout("r")), transport(httpx.RemoteProtocolError("gone"))],
                         ids=["read-timeout", "dropped"])
@pytest.mark.parametrize("method", ["sendMessage", "sendPhoto", "sendDocument", "copyMessage"])
def test_an_ambiguous_send_is_not_sent_again(method: str, error: Exception) -> None:
    assert _decide(method, error) == (Action.RAISE, 0.0)


@pytest.mark.parametrize("error", [timed_out(httpx.ReadTimeout("r")), transport(httpx.RemoteProtocolError("gone"))],
                         ids=["read-timeout", "dropped"])
@pytest.mark.parametrize("method", ["editMessageText", "answerCallbackQuery", "getMe", "setMyCommands"])
def test_an_ambiguous_idempotent_call_is_retried(method: str, error: Exception) -> None:
    assert _decide(method, error) == (Action.RETRY, BACKOFF[0])
    assert _decide(method, error, retries=len(BACKOFF)) == (Action.RAISE, 0.0)


NOT_MODIFIED = BadRequest("Message is not modified: specified new message content and reply markup are exactly the same")
TOO_OLD = BadRequest("Query is too old and response timeout expired or query id is invalid")
GONE = BadRequest("Message to delete not found")


@pytest.mark.parametrize(("method", "error"), [("editMessageText", NOT_MODIFIED), ("deleteMessage", GONE)])
def test_after_an_ambiguous_attempt_a_refusal_as_done_already_is_success(method: str, error: Exception) -> None:
    assert _decide(method, error, uncertain_before=True) == (Action.DONE, 0.0)
    # The same refusal on a first attempt is the caller's business (a no-op edit, say).
    assert _decide(method, error) == (Action.RAISE, 0.0)


def test_a_callback_answer_telegram_no_longer_takes_is_done() -> None:
    assert _decide("answerCallbackQuery", TOO_OLD) == (Action.DONE, 0.0)
    assert _decide("answerCallbackQuery", BadRequest("Bad Request: MESSAGE_TOO_LONG")) == (Action.RAISE, 0.0)


@pytest.mark.parametrize("error", [BadRequest("Bad Request: can't parse entities"), Forbidden("blocked"),
                                   InvalidToken(), Conflict("webhook is active")], ids=["400", "403", "401", "409"])
def test_final_errors_are_raised_at_once(error: Exception) -> None:
    assert _decide("sendMessage", error, uncertain_before=True) == (Action.RAISE, 0.0)
    assert _decide("editMessageText", error) == (Action.RAISE, 0.0)


# ---------------------------------------------------------------- the limiter around a fake callback


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def timer(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds
        await asyncio.sleep(0)


def _limiter(clock: FakeTime) -> TelegramRetry:
    return TelegramRetry(timer=clock.timer, sleep=clock.sleep)


def _script(*outcomes: Any) -> tuple[Callable[..., Any], list[int]]:
    """A callback failing or answering as scripted; counts its calls."""
    calls: list[int] = []
    queue = list(outcomes)

    async def callback(*_args: Any, **_kwargs: Any) -> Any:
        calls.append(1)
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return callback, calls


async def _call(limiter: TelegramRetry, callback: Callable[..., Any], method: str = "sendMessage",
                data: dict[str, Any] | None = None) -> Any:
    return await limiter.process_request(callback, (method, data or {}), {}, method, data or {}, None)


async def test_a_429_then_success_sends_twice_after_waiting_retry_after() -> None:
    clock = FakeTime()
    callback, calls = _script(RetryAfter(2), {"message_id": 7})
    assert await _call(_limiter(clock), callback) == {"message_id": 7}
    assert len(calls) == 2
    assert clock.slept == [2.1]


async def test_a_persistent_500_is_tried_four_times_then_raised() -> None:
    clock = FakeTime()
    callback, calls = _script(*[server_error()] * 5)
    with pytest.raises(NetworkError):
        await _call(_limiter(clock), callback)
    assert len(calls) == 4
    assert clock.slept == [0.5, 1.0, 2.0]


async def test_an_ambiguous_send_message_is_tried_once() -> None:
    clock = FakeTime()
    callback, calls = _script(timed_out(httpx.ReadTimeout("r")), {"message_id": 7})
    with pytest.raises(TimedOut):
        await _call(_limiter(clock), callback)
    assert len(calls) == 1
    assert clock.slept == []


async def test_an_edit_whose_first_attempt_went_through_returns_true() -> None:
    clock = FakeTime()
    callback, calls = _script(transport(httpx.RemoteProtocolError("gone")), NOT_MODIFIED)
    assert await _call(_limiter(clock), callback, "editMessageText") is True
    assert len(calls) == 2


async def test_a_429_pauses_every_other_call_too() -> None:
    clock = FakeTime()
    limiter = _limiter(clock)
    throttled, _ = _script(RetryAfter(5), True)
    await _call(limiter, throttled, "answerCallbackQuery", {"callback_query_id": "1"})
    assert clock.slept == [5.1]
    # A 429 that is raised rather than waited for (beyond the budget) still pauses the others.
    long, _ = _script(RetryAfter(40))
    with pytest.raises(RetryAfter):
        await _call(limiter, long)
    other, calls = _script({"message_id": 8})
    with pytest.raises(RetryAfter):  # 40 s of pause is beyond its budget too: not even sent
        await _call(limiter, other)
    assert calls == []
    clock.now += 30
    assert await _call(limiter, other) == {"message_id": 8}
    assert clock.slept[-1] == pytest.approx(10.1)


async def test_callback_answers_are_remembered() -> None:
    limiter = _limiter(FakeTime())
    ok, _ = _script(True)
    await _call(limiter, ok, "answerCallbackQuery", {"callback_query_id": "77"})
    too_old, _ = _script(TOO_OLD)
    await _call(limiter, too_old, "answerCallbackQuery", {"callback_query_id": "78"})
    assert limiter.answered("77") and limiter.answered("78")
    assert not limiter.answered("79")
