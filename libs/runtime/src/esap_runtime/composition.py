"""The one shape of every service's app (docs/ARCHITECTURE.md, "Composition"): ``service_app`` builds the FastAPI app
with the operations endpoints and the HTTP latency metrics, and a lifespan that enters the service's ``open_factory``
and keeps the running factory on ``app.state.factory`` for as long as it runs.

What a service opens, which consumers it registers and how it maps its errors are its own (its ``main.py``, its
``factory.py``, its ``handlers/errors.py``); this module holds only what is the same in all four.
Depends on FastAPI, prometheus_client and esap_runtime.ops; never on a service or on the bus.
"""

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_runtime.ops import NO_TELEMETRY, HealthCheck, add_http_metrics, ops_router


class RunningFactory(Protocol):
    """What the app asks of a service's factory: its dependencies' health checks."""

    def health_checks(self) -> Mapping[str, HealthCheck]: ...


OpenFactory = Callable[[FastAPI], AbstractAsyncContextManager[RunningFactory]]
"""Opens the process' resources, builds the factory on them and registers the consumers; closes in reverse."""


async def _not_started() -> bool:
    return False


def service_app(service: str, title: str, registry: CollectorRegistry, open_factory: OpenFactory, *,
                install_errors: Callable[[FastAPI], None] | None = None, **options: Any) -> FastAPI:
    """The app of ``service``: ``/healthz`` (its factory's checks; ``started: false`` while it has none) and
    ``/metrics`` from ``registry``, its latency metrics, its one error mapping; ``options`` go to FastAPI."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_factory(app) as factory:
            app.state.factory = factory
            yield

    def checks() -> Mapping[str, HealthCheck]:
        factory: RunningFactory | None = getattr(app.state, "factory", None)
        return factory.health_checks() if factory is not None else {"started": _not_started}

    app = FastAPI(title=title, lifespan=lifespan, telemetry=NO_TELEMETRY, **options)
    add_http_metrics(app, service, registry)
    app.include_router(ops_router(registry, checks))
    if install_errors is not None:
        install_errors(app)
    return app
