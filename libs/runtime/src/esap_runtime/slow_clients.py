"""Deadlines for clients that send a request too slowly, or start one and never finish it.

uvicorn times out an idle connection between requests, but not a request in progress: a client that sends half
its headers, or declares a body and sends part of it, holds its connection (and, for a body, the request's task)
for as long as it likes, and a few hundred such clients take every connection a service can serve. Here:

- a request's headers must be complete within ``header_seconds`` of the connection (or of the first byte of a
  request on a kept-alive connection), however steadily they trickle in: answered ``408`` and closed otherwise
  (a connection that sent nothing is just closed);
- a request's body may not pause for more than ``body_idle_seconds`` while the service is reading it: the
  connection is closed, and the route reading the body sees the client gone. While the service itself has paused
  reading (its buffer is full), the client is not to blame and nothing is counted.

The values are those of common front proxies (20 s each). Each connection closed so is logged.
"""

import asyncio
from collections.abc import Callable

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = structlog.get_logger("esap.http")

HEADER_SECONDS = 20.0
BODY_IDLE_SECONDS = 20.0
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"connection: close\r\ncontent-length: 40\r\n\r\nThe request was not sent within its time.")


def deadline_protocol(*, header_seconds: float = HEADER_SECONDS, body_idle_seconds: float = BODY_IDLE_SECONDS,
                      closed: Callable[[str], None] = lambda _reason: None) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the deadlines above; ``closed(reason)`` is called for each connection
    closed by one ("headers" or "body")."""

    class DeadlineProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _in_headers = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_seconds, self._headers_late)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            self._arm(header_seconds, self._headers_late)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._disarm()
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_headers or self.transport.is_closing():
                return  # the header deadline runs from the request's first byte, whatever arrives meanwhile
            if self._reading_body():
                self._arm(body_idle_seconds, self._body_idle)
            else:
                self._disarm()

        def _reading_body(self) -> bool:
            cycle = self.cycle
            return cycle is not None and cycle.more_body and not cycle.response_complete and not cycle.disconnected

        def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, handler)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _headers_late(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete and not self._in_headers:
                return  # a request is being answered: the keep-alive deadline follows its response
            # Nothing sent yet: close as an idle connection (a 408 could cross a request just sent).
            self._close("headers", TIMEOUT_RESPONSE if self._in_headers else None)

        def _body_idle(self) -> None:
            self._timer = None
            if self.transport.is_closing() or not self._reading_body():
                return
            if self.flow.read_paused:  # the service is not reading: not the client's pause
                self._arm(body_idle_seconds, self._body_idle)
                return
            self._close("body", None)

        def _close(self, reason: str, response: bytes | None) -> None:
            log.info("A client was too slow sending its request; connection closed.", client=self.client,
                     waiting_for=reason)
            closed(reason)
            if response is not None:
                self.transport.write(response)
            self.transport.close()

    return DeadlineProtocol
