"""Retrying the bot's own Bot API calls when Telegram or the network fails for a moment.

Every call the bot makes through `application.bot` (a handler's reply, an edit, a callback
answer, `setMyCommands`, the outbox sender's sends) passes through `TelegramRetry`, PTB's
rate-limiter hook (`ApplicationBuilder().rate_limiter(...)`; `getUpdates` never passes through
it). Without it a single 429 or 502 on a reply raised inside the handler and the user got
nothing. (PTB's `BaseRateLimiter` docs ask implementations to handle only `RetryAfter`; this one
knowingly handles the transient network failures too, because it is the one place that sees
every call with its method name — and it never retries anything else.)

The policy — a failure is first classified (`classify`), then `decide` says what to do:

* 429 `RetryAfter` (throttled): Telegram did not perform the request. Wait `retry_after` (plus
  a small margin) and send it again, whatever the method. While waiting, every other call
  waits too (Telegram's flood control is per bot), like PTB's `AIORateLimiter`.
* The server answered with an error status PTB has no specific error for — 500, 502 Bad
  Gateway, 503, a 429 without `retry_after` (`refused`): Telegram reported that it failed to
  perform the request; send it again after a short backoff (`BACKOFF`: 0.5 s, 1 s, 2 s).
  Caveat: a 502/504 produced by a proxy in front of Telegram does not prove that Telegram did
  not act; like every Telegram client we take the server at its word.
* The connection failed before the request went out — connection refused, DNS, a connect
  timeout, no free connection in the pool (`not_sent`): nothing reached Telegram, so retrying
  is safe for every method; same backoff.
* Ambiguous — a read timeout, a write timeout, the connection dropped while waiting for the
  answer, an unknown transport error: the request may have been performed. Retried only for
  methods whose repetition is harmless (`idempotent`: reads `get*`, `set*`, `delete*`,
  `edit*`, `answerCallbackQuery`, `sendChatAction`, pins). A `sendMessage` (or any other
  `send*`, `copy*`, `forward*`) is NOT sent again: the user might see it twice — Telegram has no
  idempotency key (python-telegram-bot#1045 shows a timed-out message that was delivered). The
  error goes up to the handler; the error handler (`handlers.common.on_error`) then tells the
  user that what they sent was saved and offers a button that shows the current question
  again, so nothing is duplicated and nobody is left without a way forward. The outbox sender
  catches the error itself and puts the row back (its at-least-once guarantee).
  When the repeat of an ambiguous idempotent call is refused with "message is not modified",
  "query is too old … or query ID is invalid" or "message to delete not found", the first
  attempt did its work: the call returns True (what Telegram returns for these methods when
  there is no message to return; PTB types their results `Message | bool`).
* A callback answer refused as "query is too old … or query ID is invalid" returns True even on
  the first attempt: it only stops the button's spinner, and raising would abort the handler
  after its commit and before its reply (a slow update, or the query answered already).
* Anything else — 400 BadRequest, 403 Forbidden, 401/404, 409, ChatMigrated: final, raised at
  once (resending the same request cannot succeed).

Bounds: at most `max_retries` (3) retries for refused/not-sent/ambiguous failures per call, and
no retry that would end later than `max_total` (30 s) after the call began; a `retry_after`
beyond that is raised at once rather than waited for (it still pauses every other call, and a
call whose budget the pause outlasts raises `RetryAfter` without being sent). The user is
waiting for the answer, and the update's chat lock is held meanwhile.

Time is injected (`timer`, `sleep`), so the policy is unit-tested without waiting.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter

logger = logging.getLogger(__name__)

BACKOFF = (0.5, 1.0, 2.0)  # seconds before the 1st, 2nd and 3rd retry of a transient failure
MAX_RETRIES = len(BACKOFF)
MAX_TOTAL = 30.0  # seconds: no retry ends later than this after the call began
RETRY_AFTER_MARGIN = 0.1  # Telegram counts whole seconds; AIORateLimiter adds the same margin
REMEMBERED_ANSWERS = 1000  # callback query ids answered, for `answered`
REMEMBERED_RETRIES = 100

# Methods whose second execution changes nothing the first did not (or is refused harmlessly).
IDEMPOTENT_PREFIXES = ("get", "set", "delete", "edit")
IDEMPOTENT_METHODS = frozenset({
    "answerCallbackQuery", "sendChatAction", "pinChatMessage", "unpinChatMessage", "unpinAllChatMessages",
})
# A repeated idempotent call refused like this means the first attempt went through.
ALREADY_DONE = re.compile(
    r"message is not modified|query is too old|query id is invalid|message to delete not found", re.IGNORECASE
)


class Failure(enum.Enum):
    THROTTLED = "throttled"  # 429 with retry_after: not performed
    REFUSED = "refused"  # an error status without a specific PTB error (5xx, 502): not performed
    NOT_SENT = "not_sent"  # connect error/timeout, pool timeout: never reached Telegram
    AMBIGUOUS = "ambiguous"  # may have been performed: read/write timeout, dropped connection
    FINAL = "final"  # 400, 403, 401/404, 409, …: resending cannot help


class Action(enum.Enum):
    RETRY = "retry"
    RAISE = "raise"
    DONE = "done"  # the call's earlier attempt succeeded: return True


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    failure: Failure = Failure.FINAL


def idempotent(method: str) -> bool:
    return method in IDEMPOTENT_METHODS or method.startswith(IDEMPOTENT_PREFIXES)


def retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(error: BaseException) -> Failure:
    """What a failed Bot API call tells us about whether Telegram performed it."""
    if isinstance(error, RetryAfter):
        return Failure.THROTTLED
    cause = error.__cause__
    if isinstance(error, TimedOut):
        # PTB raises TimedOut from the client's timeout; only the connect phase (which includes
        # waiting for a pooled connection) proves nothing was sent. httpx: PTB's default client;
        # aiohttp: the bot's (bot/transport.py).
        return Failure.NOT_SENT if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout
                                              | aiohttp.ConnectionTimeoutError) else Failure.AMBIGUOUS
    if type(error) is not NetworkError:
        return Failure.FINAL  # BadRequest (a NetworkError subclass in PTB), Forbidden, InvalidToken, Conflict, …
    if cause is None or isinstance(cause, TelegramError):
        # PTB maps an HTTP answer it has no specific error for (5xx, 502, odd codes) to a plain
        # NetworkError without an httpx cause (or with the JSON parsing error of a proxy's page).
        return Failure.REFUSED
    if isinstance(cause, httpx.ConnectError | aiohttp.ClientConnectorError):
        return Failure.NOT_SENT
    return Failure.AMBIGUOUS  # RemoteProtocolError, ReadError, WriteError, anything unknown


def decide(
    method: str, error: BaseException, *, retries: int, elapsed: float, uncertain_before: bool,
    max_retries: int = MAX_RETRIES, max_total: float = MAX_TOTAL, backoff: tuple[float, ...] = BACKOFF,
) -> Decision:
    """The policy of the module docstring for one failed attempt.

    `retries`: transient retries this call has had so far; `elapsed`: seconds since the call
    began; `uncertain_before`: an earlier attempt of this call ended ambiguously.
    """
    failure = classify(error)
    if failure is Failure.THROTTLED:
        assert isinstance(error, RetryAfter)
        delay = retry_after_seconds(error) + RETRY_AFTER_MARGIN
        fits = elapsed + delay <= max_total
        return Decision(Action.RETRY if fits else Action.RAISE, delay if fits else 0.0, failure)
    if failure is Failure.FINAL:
        refused_as_done = isinstance(error, BadRequest) and ALREADY_DONE.search(error.message) is not None
        # A callback answer only stops the button's spinner: when Telegram no longer takes it
        # (answered already, or older than its time limit) there is nothing left to do, and
        # raising would abort the handler before its reply.
        done = refused_as_done and ((uncertain_before and idempotent(method)) or method == "answerCallbackQuery")
        return Decision(Action.DONE if done else Action.RAISE, 0.0, failure)
    if failure is Failure.AMBIGUOUS and not idempotent(method):
        return Decision(Action.RAISE, 0.0, failure)
    if retries >= max_retries:
        return Decision(Action.RAISE, 0.0, failure)
    delay = backoff[min(retries, len(backoff) - 1)]
    if elapsed + delay > max_total:
        return Decision(Action.RAISE, 0.0, failure)
    return Decision(Action.RETRY, delay, failure)


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class TelegramRetry(BaseRateLimiter[None]):
    """PTB rate limiter that applies `decide` to every Bot API call of the bot."""

    def __init__(
        self, *, max_retries: int = MAX_RETRIES, max_total: float = MAX_TOTAL, backoff: tuple[float, ...] = BACKOFF,
        timer: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = _real_sleep,
    ) -> None:
        self.max_retries = max_retries
        self.max_total = max_total
        self.backoff = backoff
        self.timer = timer
        self.sleep = sleep
        self._paused_until = -math.inf  # after a 429, nothing goes out before this (timer seconds)
        self._answered: OrderedDict[str, None] = OrderedDict()
        # (method, failure) of the latest retries, for tests and for a look from `python -m bot shell`.
        self.retried: deque[tuple[str, Failure]] = deque(maxlen=REMEMBERED_RETRIES)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def answered(self, callback_query_id: str) -> bool:
        """True when this process answered that callback query already (a second answer is
        refused by Telegram)."""
        return callback_query_id in self._answered

    def _remember_answer(self, data: dict[str, Any]) -> None:
        query_id = data.get("callback_query_id")
        if query_id is None:
            return
        self._answered[str(query_id)] = None
        while len(self._answered) > REMEMBERED_ANSWERS:
            self._answered.popitem(last=False)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        began = self.timer()
        retries = 0
        uncertain = False
        while True:
            pause = self._paused_until - self.timer()
            if pause > 0:
                if self.timer() - began + pause > self.max_total:
                    raise RetryAfter(math.ceil(pause))  # Telegram's pause outlasts this call's budget
                await self.sleep(pause)
            try:
                result = await callback(*args, **kwargs)
            except TelegramError as error:
                decision = decide(endpoint, error, retries=retries, elapsed=self.timer() - began,
                                  uncertain_before=uncertain, max_retries=self.max_retries,
                                  max_total=self.max_total, backoff=self.backoff)
                if isinstance(error, RetryAfter):
                    # Telegram's word holds for every call, whether or not this one waits for it.
                    until = self.timer() + retry_after_seconds(error) + RETRY_AFTER_MARGIN
                    self._paused_until = max(self._paused_until, until)
                if decision.action is Action.DONE:
                    logger.info("%s refused as done already (%s): taken as success", endpoint, error)
                    if endpoint == "answerCallbackQuery":
                        self._remember_answer(data)
                    return True
                if decision.action is Action.RAISE:
                    if decision.failure is not Failure.FINAL:
                        logger.warning("%s failed (%s), not retried: %s", endpoint, decision.failure.value, error)
                    raise
                self.retried.append((endpoint, decision.failure))
                logger.info("%s: %s (%s), retrying in %.1f s", endpoint, decision.failure.value, error, decision.delay)
                if decision.failure is not Failure.THROTTLED:  # a 429's wait is the pause at the loop's top
                    retries += 1
                    uncertain = uncertain or decision.failure is Failure.AMBIGUOUS
                    await self.sleep(decision.delay)
                continue
            if endpoint == "answerCallbackQuery":
                self._remember_answer(data)
            return result


def answered(bot: Bot, callback_query_id: str) -> bool:
    """Whether `bot` (with a `TelegramRetry`) has answered this callback query already."""
    limiter = getattr(bot, "rate_limiter", None)
    return isinstance(limiter, TelegramRetry) and limiter.answered(callback_query_id)
