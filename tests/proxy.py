"""A small reverse proxy for the multi-instance tests: what nginx or a load balancer does.

Round-robin over the backends, skipping one that refuses the connection and trying the next;
502 when none answers, or when a backend dies with the request. It counts which backend
served each request, so a test can see a conversation move between instances.
"""

from __future__ import annotations

import itertools
import socket
from collections import Counter

import aiohttp
from aiohttp import web

FORWARDED_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends  # base URLs, e.g. http://127.0.0.1:8081
        self.served: Counter[str] = Counter()
        self.log: list[tuple[str, int]] = []  # (backend, status) per forwarded request
        self._next = itertools.cycle(range(len(backends)))
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k in FORWARDED_HEADERS}
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._next)]
            try:
                async with self._session.request(request.method, backend + request.path_qs, data=body,
                                                 headers=headers) as response:
                    payload = await response.read()
                    self.served[backend] += 1
                    self.log.append((backend, response.status))
                    return web.Response(status=response.status, body=payload,
                                        content_type=response.content_type)
            except aiohttp.ClientConnectorError:
                self.log.append((backend, 0))  # refused: nothing was sent, the next backend gets it
            except (aiohttp.ClientError, TimeoutError):
                # The backend died with the request: like nginx, a POST is not retried here
                # (it may have been applied); the sender (Telegram) delivers it again later.
                self.log.append((backend, 502))
                return web.Response(status=502, text="backend failed")
        return web.Response(status=502, text="no backend")


def free_port() -> int:
    """A TCP port nobody listens on right now (for a server that must know its URL in advance)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
