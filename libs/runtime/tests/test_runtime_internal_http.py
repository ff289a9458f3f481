"""HTTP between the services, against a real uvicorn server: a request on a pooled connection the server has just
closed is sent again on a new connection when it is idempotent, never when it is not; and the servers keep idle
connections longer than the clients do."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from esap_runtime.internal_http import CLIENT_IDLE_SECONDS, InternalHttpClient
from esap_runtime.ops import server_config
from esap_runtime.settings import ServiceSettings
from esap_runtime.testing import uvicorn_in_thread

SERVER_IDLE = 0.05
"""The test server's keep-alive: much shorter than the clients', as a server must never have it."""


class Recorder:
    """A plain ASGI app answering 200 to everything, counting the requests that reached it."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        self.seen[scope["method"], scope["path"]] += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server() -> Iterator[tuple[Recorder, str]]:
    """The app under uvicorn, in a thread of its own: it closes idle connections on time while the test's loop is
    busy, as a loaded client's loop can be."""
    app = Recorder()
    config = uvicorn.Config(app, lifespan="off", log_config=None, timeout_keep_alive=SERVER_IDLE)  # type: ignore[arg-type]
    with uvicorn_in_thread(config) as port:
        yield app, f"http://127.0.0.1:{port}"


@pytest.fixture
async def client() -> AsyncIterator[InternalHttpClient]:
    http = InternalHttpClient.open(max_connections=4)
    yield http
    await http.close()


async def pooled_then_closed(client: InternalHttpClient, url: str, connections: int = 1) -> None:
    """Leave ``connections`` idle connections in the client's pool that the server has closed, before the client's
    loop could see it (it is held up meanwhile, as under load)."""

    async def read() -> None:
        async with client.request("GET", url + "/warm") as response:
            await response.read()

    await asyncio.gather(*(read() for _ in range(connections)))
    time.sleep(SERVER_IDLE * 4)  # noqa: ASYNC251 (the loop must not run: it would notice the close)


async def test_a_read_only_post_on_a_connection_the_server_closed_is_sent_again_on_a_new_one(server, client) -> None:
    app, url = server
    await pooled_then_closed(client, url)
    async with client.request("POST", url + "/verify", data=b"{}", idempotent=True) as response:
        assert response.status == 200
    assert app.seen["POST", "/verify"] == 1


async def test_a_get_is_sent_again_on_a_new_connection_when_every_pooled_one_was_closed(server, client) -> None:
    app, url = server
    await pooled_then_closed(client, url, connections=3)
    async with client.request("GET", url + "/job") as response:
        assert response.status == 200
    assert app.seen["GET", "/job"] == 1


async def test_a_request_that_is_not_idempotent_is_never_sent_again(server, client) -> None:
    app, url = server
    await pooled_then_closed(client, url)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.request("POST", url + "/report", data=b"{}"):
            pass
    assert app.seen["POST", "/report"] == 0


def test_the_services_keep_idle_connections_longer_than_their_clients() -> None:
    config = server_config(FastAPI(), ServiceSettings())
    assert config.timeout_keep_alive > CLIENT_IDLE_SECONDS
