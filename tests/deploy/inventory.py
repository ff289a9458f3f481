"""What the deployment files may refer to: the metric names the services and RabbitMQ expose, and the environment
variables the services read. Collected from the code itself, without connecting to anything.

Metric names come from each service's registry, built the way its main.py and factory build it (the service's
metrics class, BusMetrics, the HTTP latency histogram). Depends on the services' metrics and config modules.
"""

import re
from collections.abc import Callable, Iterable

import promql_parser
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from pydantic_settings import BaseSettings

from esap_catalog.config import Settings as CatalogSettings
from esap_catalog.metrics import CatalogMetrics
from esap_gateway.config import Settings as GatewaySettings
from esap_gateway.metrics import GatewayMetrics
from esap_monitor.config import Settings as MonitorSettings
from esap_monitor.metrics import MonitorMetrics
from esap_runtime.bus import BusMetrics
from esap_runtime.ops import add_http_metrics
from esap_submitter.config import Settings as SubmitterSettings
from esap_submitter.metrics import SubmitterMetrics

SETTINGS: dict[str, type[BaseSettings]] = {
    "catalog": CatalogSettings, "gateway": GatewaySettings, "submitter": SubmitterSettings, "monitor": MonitorSettings,
}

# rabbitmq_prometheus, scraped at /metrics/per-object (labels vhost and queue on every queue metric).
RABBITMQ_METRICS = frozenset({
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_messages",
    "rabbitmq_queue_consumers",
})
# Series Prometheus makes itself for every scrape target.
PROMETHEUS_METRICS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def _catalog(registry: CollectorRegistry) -> None:
    CatalogMetrics(registry)
    BusMetrics("catalog", registry)  # built in esap_catalog.factory.open_factory


BUILDERS: dict[str, Callable[[CollectorRegistry], object]] = {
    "catalog": _catalog, "gateway": GatewayMetrics, "submitter": SubmitterMetrics, "monitor": MonitorMetrics,
}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def series_names(family: Metric) -> set[str]:
    """The names of the series a metric family can expose, whether or not it has samples yet."""
    return {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}


def service_registry(service: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    BUILDERS[service](registry)
    add_http_metrics(FastAPI(), service, registry)
    return registry


def service_metrics() -> dict[str, set[str]]:
    """Series names by service."""
    return {s: set().union(*(series_names(f) for f in service_registry(s).collect())) for s in BUILDERS}


def known_metrics() -> frozenset[str]:
    return frozenset(set().union(*service_metrics().values()) | RABBITMQ_METRICS | PROMETHEUS_METRICS)


# Grafana's variables, replaced by something PromQL accepts before parsing.
_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def grafana_to_promql(expr: str) -> str:
    for name, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?(\w+)}?", "x", expr)


def metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression selects (by name, or by an exact __name__ matcher)."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            else:
                names.update(_exact_names(node))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _exact_names(selector: promql_parser.VectorSelector) -> Iterable[str]:
    for matcher in selector.matchers.matchers:
        if matcher.name != "__name__":
            continue
        if matcher.op != promql_parser.MatchOp.Equal:
            raise ValueError(f"a regex on __name__ cannot be checked: {selector}")
        yield matcher.value


def unknown_metrics(expr: str, known: frozenset[str]) -> set[str]:
    return metric_names(expr) - known


def env_names(service: str) -> set[str]:
    """Variables one service reads: its own prefix, and the common ESAP_ prefix, for every field."""
    settings = SETTINGS[service]
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{p}{field}".upper() for field in settings.model_fields for p in (prefix, "ESAP_")}


def all_env_names() -> set[str]:
    return set().union(*(env_names(s) for s in SETTINGS))
