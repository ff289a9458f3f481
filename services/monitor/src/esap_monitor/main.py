"""The monitor's composition root: ``create_app(settings)`` and the ``esap-monitor`` entry point.

The lifespan builds the bus connection, the catalog client, the backends and the loops (nothing at import time),
and tears them down. The app serves only ``/healthz`` and ``/metrics``.
"""

import contextlib
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_backends import Observing
from esap_monitor.config import Settings
from esap_monitor.factory import running_monitor
from esap_monitor.metrics import SERVICE, MonitorMetrics
from esap_runtime.ops import NO_TELEMETRY, HealthCheck, add_http_metrics, ops_router, serve
from esap_runtime.settings import ServiceSettings


async def _not_started() -> bool:
    return False


def create_app(settings: Settings, *, backends: Mapping[str, Observing] | None = None) -> FastAPI:
    """The monitor app; ``backends`` replaces the configured ones (tests inject fakes here)."""
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_monitor(settings, metrics, backends) as monitor:
            app.state.monitor = monitor
            yield
            del app.state.monitor

    app = FastAPI(title="esap-batch monitor", lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=NO_TELEMETRY)

    def checks() -> Mapping[str, HealthCheck]:
        monitor = getattr(app.state, "monitor", None)
        return monitor.checks() if monitor is not None else {"started": _not_started}

    app.include_router(ops_router(registry, checks))
    add_http_metrics(app, SERVICE, registry)
    return app


def _app_for(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, Settings)
    return create_app(settings)


def cli() -> None:
    serve(_app_for, Settings(), SERVICE)
