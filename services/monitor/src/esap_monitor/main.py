"""The monitor's composition root: ``create_app(settings, backends=...)`` and the ``esap-monitor`` entry point.

The one shape of every service (docs/ARCHITECTURE.md, "Composition"): ``create_app`` hands
``esap_runtime.composition.service_app`` a lifespan that enters ``factory.open_factory`` (the bus, the catalog
client, the backends, the tracker, the poller and the sync, then the loops), registering the monitor queue's
consumer (``handlers.messages.monitor_queue_handler``, handed to the factory here: the factory never imports a
handler). Nothing connects at import time. The app serves only ``/healthz`` and ``/metrics``, so it has no error
mapping of its own. Depends on everything in the monitor; nothing depends on it.
"""

from collections.abc import Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_backends import Observing
from esap_monitor.config import Settings
from esap_monitor.factory import Factory, open_factory
from esap_monitor.handlers.messages import monitor_queue_handler
from esap_monitor.metrics import SERVICE, MonitorMetrics
from esap_runtime.bus import Handler
from esap_runtime.composition import service_app
from esap_runtime.ops import serve
from esap_runtime.settings import ServiceSettings


def _consumer(factory: Factory) -> Handler:
    return monitor_queue_handler(factory.tracker, factory.poller, factory.sync.request)


def create_app(settings: Settings, *, backends: Mapping[str, Observing] | None = None) -> FastAPI:
    """The monitor app; ``backends`` replaces the configured ones (tests inject fakes here)."""
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    return service_app(SERVICE, "esap-batch monitor", registry,
                       lambda app: open_factory(settings, metrics, _consumer, backends), docs_url=None, redoc_url=None)


def _app_for(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, Settings)
    return create_app(settings)


def cli() -> None:
    serve(_app_for, Settings(), SERVICE)
