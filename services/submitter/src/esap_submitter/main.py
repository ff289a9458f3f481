"""The submitter's composition root: ``create_app(settings)`` and the ``esap-submitter`` entry point.

The one shape of every service (docs/ARCHITECTURE.md, "Composition"): ``create_app`` hands
``esap_runtime.composition.service_app`` a lifespan that enters ``factory.open_factory`` (the HTTP session and
client, the backends, recovered before anything is consumed, the bus, then the ``Factory`` on them), registering the
submitter queue's consumer (``handlers.messages.submitter_handler``, handed to the factory here: the factory never
imports a handler). Nothing connects at import time. The app serves only ``/healthz`` and ``/metrics``, so it has no
error mapping of its own. Depends on everything in the submitter; nothing depends on it.
"""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_runtime.bus import Handler
from esap_runtime.composition import service_app
from esap_runtime.ops import serve
from esap_runtime.settings import ServiceSettings
from esap_submitter.config import Settings
from esap_submitter.factory import Factory, open_factory
from esap_submitter.handlers.messages import submitter_handler
from esap_submitter.metrics import SERVICE, SubmitterMetrics


def _consumer(factory: Factory) -> Handler:
    return submitter_handler(factory.submission, factory.bus)


def create_app(settings: Settings) -> FastAPI:
    metrics = SubmitterMetrics(CollectorRegistry())
    return service_app(SERVICE, "esap-batch submitter", metrics.registry,
                       lambda app: open_factory(settings, metrics, _consumer))


def _build(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, Settings):
        raise TypeError("the submitter needs its own Settings")
    return create_app(settings)


def cli() -> None:
    serve(_build, Settings(), SERVICE)
