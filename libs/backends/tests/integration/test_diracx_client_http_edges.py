"""DiracXClient against a small HTTP server playing DiracX's edges: a search whose last page is exactly full (the
next page is a 416), and a kept-alive connection the server closed (a read goes again, a write does not)."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from esap_backends.base import BackendError
from esap_backends.diracx.client import DiracXClient, DiracXIdentity


class FakeDiracX:
    def __init__(self) -> None:
        self.rows = [{"JobID": i} for i in range(1, 7)]
        self.pages: list[int] = []
        self.drop_next = 0
        self.submissions = 0

    async def token(self, request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok", "expires_in": 3600})

    async def search(self, request: web.Request) -> web.StreamResponse:
        if self._dropped(request):
            return web.Response()
        page, per_page = int(request.query["page"]), int(request.query["per_page"])
        self.pages.append(page)
        chunk = self.rows[(page - 1) * per_page: page * per_page]
        if not chunk:
            return web.json_response({"detail": "Requested Range Not Satisfiable"}, status=416)
        return web.json_response(chunk, status=206 if len(chunk) == per_page else 200)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        self.submissions += 1
        if self._dropped(request):
            return web.Response()
        jdls: list[Any] = await request.json()
        return web.json_response([{"JobID": 100 + i} for i in range(len(jdls))], status=201)

    def _dropped(self, request: web.Request) -> bool:
        if self.drop_next:
            self.drop_next -= 1
            assert request.transport is not None
            request.transport.close()
            return True
        return False


@pytest.fixture
async def diracx() -> AsyncIterator[tuple[FakeDiracX, DiracXClient]]:
    fake = FakeDiracX()
    app = web.Application()
    app.router.add_get("/api/auth/legacy-exchange", fake.token)
    app.router.add_post("/api/jobs/search", fake.search)
    app.router.add_post("/api/jobs/jdl", fake.submit)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = DiracXClient(session, str(server.make_url("")), SecretStr("key"), DiracXIdentity("vo", "g", "u"))
        yield fake, client
    await server.close()


async def test_a_search_whose_last_page_is_full_ends_at_the_416(diracx) -> None:
    fake, client = diracx
    rows = await client.search(["JobID"], [], per_page=3)
    assert [r["JobID"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert fake.pages == [1, 2, 3]


async def test_a_read_on_a_connection_the_server_closed_goes_again(diracx) -> None:
    fake, client = diracx
    fake.drop_next = 1
    rows = await client.search(["JobID"], [], per_page=10)
    assert len(rows) == 6


async def test_a_write_on_a_closed_connection_is_not_sent_twice(diracx) -> None:
    fake, client = diracx
    await client.search(["JobID"], [], per_page=10)  # the token, and a connection kept alive
    fake.drop_next = 1
    with pytest.raises(BackendError, match="unreachable"):
        await client.submit_jdl(["[Executable = \"true\";]"])
    assert fake.submissions == 1
