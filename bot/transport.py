"""The bot's HTTP client for the Bot API: aiohttp under python-telegram-bot's request interface.

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

Proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) are given by the caller, read once at start-up
(`bot.config.proxies_from_environment`), and each call names its proxy itself. aiohttp's
`trust_env=True` did the same on every call: the proxy environment, and ~/.netrc twice, looked
up in two trips to a worker thread, 0.5-0.7 ms of CPU per call, about 2.5 ms of a form step's 8-9
on SQLite (bench/README.md). `trust_env` also sent ~/.netrc credentials for the Bot API host; no
Telegram deployment needs that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # stdlib, not in typeshed

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

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
