"""The monitor's Prometheus metrics, in one explicit registry per app.

Labels come from small sets only (backend names, DIRAC statuses, outcomes), never a job id.
Depends on prometheus_client, esap_runtime's BusMetrics and esap_backends.measured only.
"""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from esap_backends.measured import call_histogram
from esap_runtime.bus import BusMetrics

SERVICE = "monitor"


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.bus = BusMetrics(SERVICE, registry)
        self.backend_call_seconds = call_histogram(SERVICE, registry)
        self.poll_cycle_seconds = Histogram(
            "monitor_poll_cycle_duration_seconds", "Time to poll one backend for all its jobs in one cycle.",
            ["backend"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.jobs_tracked = Gauge("monitor_jobs_tracked", "Active jobs the monitor tracks.", registry=registry)
        self.backend_calls = Counter(
            "monitor_backend_calls_total", "Bulk status calls to a backend, by outcome (ok, error).",
            ["backend", "outcome"], registry=registry,
        )
        self.status_changes = Counter(
            "monitor_status_changes_total", "Status changes published, by the new DIRAC status.", ["status"],
            registry=registry,
        )
        self.results_fetches = Counter(
            "monitor_results_fetches_total", "Results of ended jobs fetched from their backend, by outcome (fetched, "
            "held: asked again after a pause, missing: for good).", ["backend", "outcome"], registry=registry,
        )
        self.catalog_syncs = Counter(
            "monitor_catalog_syncs_total", "Reads of the active jobs from the catalog, by outcome (ok, error).",
            ["outcome"], registry=registry,
        )

    def count_tracked(self, size: Callable[[], int]) -> None:
        """Read the number of tracked jobs at scrape time."""
        self.jobs_tracked.set_function(size)
