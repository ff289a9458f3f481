"""What a request may send: each route's body limit holds while the body is read, and a callback without a
credential is refused before its body is read at all. Driven at the ASGI level, to count what the app read."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from esap_gateway.handlers.limits import CALLBACK_BATCH_BYTES, CALLBACK_BYTES, FORM_BYTES, body_limit

CHUNK = 64 * 1024


class Body:
    """A request body sent in chunks; counts what the app asked for."""

    def __init__(self, size: int) -> None:
        self._chunks: Iterator[bytes] = iter([b"x" * CHUNK] * (size // CHUNK))
        self.read = 0

    async def receive(self) -> dict[str, Any]:
        chunk = next(self._chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}


async def call(app: FastAPI, path: str, body: Body, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"gateway.test"), *headers], "client": ("127.0.0.1", 1), "server": ("x", 80),
             "state": {}, "app": app}
    await app(scope, body.receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_each_route_has_the_limit_of_what_it_takes() -> None:
    assert body_limit("/uws/callbacks") == CALLBACK_BATCH_BYTES
    assert body_limit("/uws/jobs/01a2/callback") == CALLBACK_BYTES
    assert body_limit("/uws/jobs") == body_limit("/workflows/noop") == FORM_BYTES


async def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read(app: FastAPI) -> None:
    body = Body(20 * 1024 * 1024)
    status, text = await call(app, "/uws/callbacks", body, [(b"content-length", str(20 * 1024 * 1024).encode()),
                                                            (b"content-type", b"application/json")])
    assert status == 413 and b"8388608 bytes at most" in text
    assert body.read == 0


@pytest.mark.parametrize(("path", "limit"), [("/uws/callbacks", CALLBACK_BATCH_BYTES), ("/uws/jobs", FORM_BYTES)])
async def test_a_body_sent_without_its_length_is_stopped_at_the_limit(app: FastAPI, path: str, limit: int) -> None:
    body = Body(20 * 1024 * 1024)
    status, _ = await call(app, path, body, [(b"content-type", b"application/x-www-form-urlencoded")])
    assert status == 413
    assert body.read <= limit + CHUNK


async def test_a_callback_without_a_credential_is_refused_before_its_body_is_read(app: FastAPI) -> None:
    body = Body(CALLBACK_BYTES)
    for headers in ([], [(b"authorization", b"Bearer short")], [(b"authorization", b"Basic eDp5")]):
        status, _ = await call(app, "/uws/jobs/01a24e8d-0000-7000-8000-000000000000/callback", body,
                               [(b"content-type", b"application/json"), *headers])
        assert status == 401
    assert body.read == 0
