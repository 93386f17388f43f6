"""The bot's client for the Bot API: aiohttp under python-telegram-bot's request interface, and a
Bot that reads each received update on its own (`TolerantBot`).

PTB's default `HTTPXRequest` costs about 0.8 ms of CPU per call on this machine; the same call
through aiohttp about 0.2 ms (a sendMessage with a six-button keyboard, against a local server).
A visit step makes two or three calls (the callback answer, the edited question, its share of
getUpdates), so the client was a fifth of the bot's CPU per update (bench/throughput.py).

Parameters go out as a JSON body (Telegram accepts `application/json`; nested objects such as
`reply_markup` stay JSON strings, as PTB serialises them), or as multipart with files — not
form-urlencoded, whose percent-encoding of every Chinese character byte cost more than the rest
of the request.

Errors come back as PTB's: `TimedOut` for a timeout, `NetworkError` for a transport failure,
with the aiohttp exception as the cause. `bot.retry.classify` reads the cause to tell a request
that never went out (`aiohttp.ConnectionTimeoutError`: no connection within the connect
timeout, which includes waiting for a free one in the pool; `aiohttp.ClientConnectorError`:
refused, DNS) from one that may have been performed (a read timeout, a dropped connection).
aiohttp has no write timeout: a request body is sent within the read timeout.

PTB parses a getUpdates answer in one go (`Update.de_list`): one update it cannot build (a
field it requires missing, a newer Bot API shape it chokes on) fails the whole batch, the
Updater keeps its offset and fetches the same batch on every poll — and logs all of it,
people's messages included, at CRITICAL. No one got an answer until someone intervened.
`TolerantBot` parses each update on its own and skips the one it cannot read.

Proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) are given by the caller, read once at start-up
(`bot.config.proxies_from_environment`), and each call names its proxy itself. aiohttp's
`trust_env=True` did the same on every call: the proxy environment, and ~/.netrc twice, looked
up in two trips to a worker thread, 0.5-0.7 ms of CPU per call, about 2.5 ms of a form step's 8-9
on SQLite (bench/README.md). `trust_env` also sent ~/.netrc credentials for the Bot API host; no
Telegram deployment needs that.
"""

from __future__ import annotations

import datetime as dtm
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # stdlib, not in typeshed

import aiohttp
from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput, TimePeriod
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds: as PTB's HTTPXRequest
POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0  # read timeout of a call that uploads files (PTB's media write timeout)

logger = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession` (opened by `initialize`, in the loop).

    `proxies`: urllib's mapping of scheme to proxy URL, with NO_PROXY under `"no"`
    (`urllib.request.getproxies()`); none by default."""

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 connect_timeout: float | None = CONNECT_TIMEOUT, pool_timeout: float | None = POOL_TIMEOUT,
                 proxies: Mapping[str, str] | None = None) -> None:
        self.connection_pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._proxies = dict(proxies or {})
        self._proxy_of: dict[tuple[str, str], str | None] = {}  # (scheme, host): its proxy, worked out once
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # No trust_env: the proxies are this object's (see the module's docstring).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connection_pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    def proxy_for(self, url: str) -> str | None:
        """The proxy a call to `url` goes through, or None: the proxy of its scheme, unless NO_PROXY
        covers its host (urllib's rules, as aiohttp's `trust_env` applied them)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        try:
            return self._proxy_of[key]
        except KeyError:
            pass
        proxy = self._proxies.get(key[0])
        if proxy is not None and (scheme := urlsplit(proxy).scheme) != "http":
            # As with aiohttp's trust_env, which speaks plain HTTP to a proxy only.
            logger.warning("A %s:// proxy is not supported (only http://): calls to %s go direct", scheme, key[1])
            proxy = None
        if proxy is not None and proxy_bypass_environment(key[1], self._proxies):
            proxy = None
        self._proxy_of[key] = proxy
        return proxy

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = _value(read_timeout, self._read_timeout)
        if files:
            read = max(read or 0.0, _value(write_timeout, MEDIA_WRITE_TIMEOUT) or 0.0) or None
        connect, pool = _value(connect_timeout, self._connect_timeout), _value(pool_timeout, self._pool_timeout)
        # aiohttp's `connect` covers waiting for a pooled connection and opening a new one.
        timeout = aiohttp.ClientTimeout(total=None, connect=None if connect is None else connect + (pool or 0.0),
                                        sock_connect=connect, sock_read=read)
        kwargs: dict[str, Any] = {}
        if request_data is not None and files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, content in files.items():
                filename, data, *rest = content if isinstance(content, tuple) else (name, content)
                form.add_field(name, data, filename=filename, content_type=rest[0] if rest else None)
            kwargs["data"] = form
        elif request_data is not None and request_data.parameters:
            kwargs["data"] = request_data.json_payload
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            async with self._session.request(method, url, timeout=timeout, proxy=self.proxy_for(url),
                                             **kwargs) as response:
                return response.status, await response.read()
        except aiohttp.ServerTimeoutError as error:  # the connect phase or waiting for the answer
            raise TimedOut(f"aiohttp.{type(error).__name__}: {error}") from error
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _value(given: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(given, DefaultValue) else given


class TolerantBot(ExtBot[None]):
    """An ExtBot that skips an update it cannot parse instead of failing the batch around it.

    A skipped update is logged with its update_id and the error, never its content (it may hold
    personal data), and counted in `unparseable_updates` (shown by /healthz). Polling must still
    confirm it, or Telegram sends it again forever: when every update of the last batch the
    Updater has not taken is a skipped one, the next getUpdates asks for the updates after them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Underscored: PTB freezes a Bot after __init__ but lets private attributes change.
        self._unparseable = 0
        self._batch: list[int] = []  # update_ids of the last getUpdates answer
        self._skipped: set[int] = set()  # those of them that were skipped

    @property
    def unparseable_updates(self) -> int:
        return self._unparseable

    def parse_update(self, data: object) -> Update | None:
        """The Update in `data` (a decoded JSON object), or None, logged and counted, if PTB
        cannot read it."""
        update_id = data.get("update_id") if isinstance(data, dict) else None
        update_id = update_id if type(update_id) is int else None
        try:
            if not isinstance(data, dict) or update_id is None:
                raise ValueError("not an object with an integer update_id")
            update = Update.de_json(data, self)
        except Exception as error:
            self._unparseable += 1
            kinds = ", ".join(sorted(k for k in data if k != "update_id")) if isinstance(data, dict) \
                else type(data).__name__
            logger.warning("Update %s (%s) cannot be parsed and is skipped: %s: %s", update_id, kinds,
                           type(error).__name__, error, extra={"update_id": update_id})
            return None
        self.insert_callback_data(update)
        return update

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: TimePeriod | None = None,
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        """`Bot.get_updates`, parsing each update on its own (PTB's own code otherwise)."""
        offset = self._past_skipped(offset)
        data: JSONDict = {"timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates}
        # As PTB: the long poll's timeout comes on top of the read timeout.
        base = (read_timeout or 0) if not isinstance(read_timeout, DefaultValue) \
            else self._request[0].read_timeout or 0
        wait = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else timeout or 0
        result: list[object] = await self._post(
            "getUpdates", data, read_timeout=base + wait, write_timeout=write_timeout,
            connect_timeout=connect_timeout, pool_timeout=pool_timeout, api_kwargs=api_kwargs,
        )
        updates, self._batch, self._skipped = [], [], set()
        for item in result:
            update = self.parse_update(item)
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if type(update_id) is int:
                self._batch.append(update_id)
                if update is None:
                    self._skipped.add(update_id)
            if update is not None:
                updates.append(update)
        return tuple(updates)

    def _past_skipped(self, offset: int | None) -> int | None:
        """`offset`, or past the skipped updates the Updater cannot confirm itself (it confirms
        only up to the last update it was given)."""
        if offset is not None and offset < 0:  # "the last -offset updates": not ours to change
            return offset
        rest = [update_id for update_id in self._batch if update_id >= (offset or 0)]
        if rest and all(update_id in self._skipped for update_id in rest):
            return max(rest) + 1
        return offset
