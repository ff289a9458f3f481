"""HTTP between the services (the gateway and the monitor reading the catalog, the submitter's callbacks to the
gateway): the one way to open such a client, with idle timeouts agreed with the servers', and the one retry rule.

Idle timeouts. A keep-alive connection is closed by whichever side's idle timer runs out first. When it is the
server's, the server may close a connection at the moment the client sends on it, and the request fails
(ServerDisconnectedError, "Connection reset by peer", "Can not write request body") with nothing wrong with the
server. So the client gives up an idle connection first, by a wide margin, since a loaded event loop notices a
close late: clients drop a pooled connection idle for ``CLIENT_IDLE_SECONDS``, the servers (``ops.serve``) keep
one open for ``SERVER_IDLE_SECONDS``. aiohttp hands out its pooled connections oldest first, so under a steady load
each one idles about (open connections / requests per second): with uvicorn's default of 5 s against aiohttp's 15,
1,000 connections from the gateway to the catalog at 200 requests/s sat right at the server's limit.

Retry rule. An idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, or one its caller marks so, such as a
read-only POST) that fails that way is sent once more, on a new connection. Not on another pooled one: it idled
about as long, and may have been closed alike (aiohttp's own retry of idempotent methods takes the next pooled
connection). A request that is not idempotent is never sent again here: it may have been handled before its
connection broke. A connection that could not be made at all is not retried either: the server is not there.

Back-pressure. At most ``max_connections`` connections per client; further requests queue in the client until one
is free, rather than opening more than the server needs to accept; and a server's listen backlog
(``SERVER_BACKLOG``) holds every connection a client may open at once. No server limits its concurrency (uvicorn
would answer 503 beyond the limit): the clients' limits are the bound.

Depends on aiohttp (and its yarl URLs) and structlog only; knows no service.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import structlog
from yarl import URL

log = structlog.get_logger("esap.internal_http")

CLIENT_IDLE_SECONDS = 15.0
"""A client closes a pooled connection idle this long (aiohttp's default), instead of sending on it."""

SERVER_IDLE_SECONDS = 75
"""A server closes a keep-alive connection idle this long: well past ``CLIENT_IDLE_SECONDS``, so that the client
is always the side that closes an idle connection, and past the 60 s many reverse proxies keep idle connections to
their upstreams (the gateway's public side)."""

SERVER_BACKLOG = 2048
"""Connections a server's kernel queues before it accepts them (uvicorn's default, stated here so that it stays
large enough): the gateway may open its ``catalog_max_connections`` (1,024) to the catalog at once, when 1,000
clients start waiting together; a full backlog would drop or reset connections instead of queuing them."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_CLOSED_UNDER_US = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)
"""How a request fails on a connection its server closed (including "Can not write request body")."""


def closed_under_us(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection broke under the request, rather than that none could be made."""
    return isinstance(exc, _CLOSED_UNDER_US) and not isinstance(exc, aiohttp.ClientConnectorError)


class InternalHttpClient:
    """Requests to the other services: pooled keep-alive connections, and a retry on a new connection for
    idempotent requests whose connection broke under them."""

    def __init__(self, pooled: aiohttp.ClientSession, fresh: aiohttp.ClientSession) -> None:
        self._pooled = pooled
        self._fresh = fresh

    @classmethod
    def open(cls, *, max_connections: int) -> "InternalHttpClient":
        """A client of at most ``max_connections`` pooled connections (per server). Call from a running loop."""
        pooled = aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections,
                                      keepalive_timeout=CLIENT_IDLE_SECONDS)
        # Retries only, each on a connection of its own, closed after its answer.
        fresh = aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections, force_close=True)
        return cls(aiohttp.ClientSession(connector=pooled), aiohttp.ClientSession(connector=fresh))

    async def close(self) -> None:
        await self._pooled.close()
        await self._fresh.close()

    @asynccontextmanager
    async def request(self, method: str, url: str | URL, *, idempotent: bool | None = None,
                      **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """``session.request(method, url, **kwargs)``, its response released on exit. ``idempotent`` overrides
        what the method says (True for a POST that only reads)."""
        response = await self._send(method, url, idempotent, kwargs)
        try:
            yield response
        finally:
            response.release()

    async def _send(self, method: str, url: str | URL, idempotent: bool | None,
                    kwargs: dict[str, Any]) -> aiohttp.ClientResponse:
        try:
            return await self._pooled.request(method, url, **kwargs)
        except aiohttp.ClientError as exc:
            retry = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
            if not (retry and closed_under_us(exc)):
                raise
            log.info("Internal request sent again on a new connection.", method=method, url=str(url),
                     error=repr(exc))
        return await self._fresh.request(method, url, **kwargs)
