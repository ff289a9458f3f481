"""The app every service builds: its lifespan keeps the running factory on the app for the routes, /healthz asks
that factory for its checks (and says "not started" while there is none), and the factory is closed on stop."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_runtime.composition import service_app
from esap_runtime.ops import HealthCheck


class FakeFactory:
    def __init__(self) -> None:
        self.closed = False

    def health_checks(self) -> Mapping[str, HealthCheck]:
        async def bus() -> bool:
            return not self.closed

        return {"bus": bus}


async def test_the_app_serves_its_running_factory_and_its_checks() -> None:
    factory = FakeFactory()

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[FakeFactory]:
        yield factory
        factory.closed = True

    app = service_app("testing", "a service", CollectorRegistry(), running)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")
    async with client:
        before = await client.get("/healthz")
        assert (before.status_code, before.json()["checks"]) == (503, {"started": False})
        async with app.router.lifespan_context(app):
            assert app.state.factory is factory
            running_health = await client.get("/healthz")
            assert (running_health.status_code, running_health.json()["checks"]) == (200, {"bus": True})
        assert factory.closed
        assert "testing_http_request_duration_seconds" in (await client.get("/metrics")).text
