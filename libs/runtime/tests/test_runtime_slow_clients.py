"""Requests sent too slowly, against a real uvicorn server with the services' protocol: half-sent headers are
answered 408 and closed at their deadline however steadily they trickle in, a body that stops is closed and the
route sees the client gone, and requests sent at a normal pace (with pauses shorter than the deadline) are served."""

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect

from esap_runtime.slow_clients import deadline_protocol
from esap_runtime.testing import uvicorn_in_thread

DEADLINE = 0.5


class Seen:
    def __init__(self) -> None:
        self.bodies: list[int] = []
        self.disconnects = 0
        self.closed: list[str] = []


@pytest.fixture
def server() -> Iterator[tuple[Seen, int]]:
    seen = Seen()
    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        try:
            body = await request.body()
        except ClientDisconnect:
            seen.disconnects += 1
            raise
        seen.bodies.append(len(body))
        return {"size": len(body)}

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"ok": "yes"}

    protocol = deadline_protocol(header_seconds=DEADLINE, body_idle_seconds=DEADLINE, closed=seen.closed.append)
    with uvicorn_in_thread(uvicorn.Config(app, lifespan="off", log_config=None, http=protocol)) as port:
        yield seen, port


async def exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send ``parts`` with ``pause`` between them until the server closes, reading all along; what the server
    said before it closed (at most 10 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    said = bytearray()

    async def listen() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                said.extend(chunk)

    listening = asyncio.create_task(listen())
    try:
        for part in parts:
            if listening.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(part)
                await writer.drain()
            await asyncio.sleep(pause)
        await asyncio.wait_for(listening, 10)
        return bytes(said)
    finally:
        writer.close()


async def test_half_sent_headers_are_answered_408_and_closed(server) -> None:
    seen, port = server
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ") and seen.closed == ["headers"]


async def test_headers_trickling_in_steadily_still_meet_their_deadline(server) -> None:
    seen, port = server
    trickle = [b"GET / HTTP/1.1\r\n"] + [f"X-Pad-{i}: y\r\n".encode() for i in range(40)]
    answer = await exchange(port, *trickle, pause=DEADLINE / 5)
    assert answer.startswith(b"HTTP/1.1 408 ") and seen.closed == ["headers"]


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server) -> None:
    seen, port = server
    assert await exchange(port) == b"" and seen.closed == ["headers"]


async def test_a_body_that_stops_is_closed_and_the_route_sees_the_client_gone(server) -> None:
    seen, port = server
    answer = await exchange(port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"x" * 10)
    assert answer == b"" and seen.closed == ["body"]
    for _ in range(100):
        if seen.disconnects:
            break
        await asyncio.sleep(0.01)
    assert seen.disconnects == 1 and seen.bodies == []


async def test_requests_sent_at_a_normal_pace_are_served(server) -> None:
    seen, port = server
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 40\r\n\r\n"
    answer = await exchange(port, head, *[b"y" * 8] * 5, pause=DEADLINE / 3)  # 0.8 s in all, no pause of 0.5 s
    assert answer.startswith(b"HTTP/1.1 200 ") and seen.bodies == [40] and seen.closed == []

    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and seen.closed == []
