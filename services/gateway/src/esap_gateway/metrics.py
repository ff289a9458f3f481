"""The gateway's Prometheus metrics, in one explicit registry per app.

Labels come from small sets only (outcomes, catalog route templates), never a job id or an owner.
Must not depend on anything but prometheus_client and esap_runtime's BusMetrics.
"""

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from esap_runtime.bus import BusMetrics

SERVICE = "gateway"


class CallbackOutcome(StrEnum):
    ACCEPTED = "accepted"
    LATE = "late"  # the right token, after the job's end: usual for local jobs, no error
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"


AUTH_REFUSALS = ("missing", "malformed", "unknown", "invalid")


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.bus = BusMetrics(SERVICE, registry)
        self.jobs_submitted = Counter(
            "gateway_jobs_submitted_total", "Jobs created: CreateJob published and confirmed.", registry=registry,
        )
        self.callbacks = Counter(
            "gateway_callbacks_total", "Job callbacks, by outcome.", ["outcome"], registry=registry,
        )
        self.catalog_seconds = Histogram(
            "gateway_catalog_request_duration_seconds", "Time of one request to the catalog, by route template.",
            ["route"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 15, 30, 60),
        )
        self.auth_refused = Counter(
            "gateway_auth_refused_total", "Requests refused for their credentials (401), by reason.", ["reason"],
            registry=registry,
        )
        self.open_waits = Gauge(
            "gateway_open_waits", "GET requests blocked in a WAIT for a phase change right now.", registry=registry,
        )
        self.settlements = Counter(
            "gateway_command_settlements_total", "Commands of requests, by how their request was answered: applied, "
            "refused (by the catalog), timeout (no settlement within the bound), stalled (the catalog settled nothing "
            "for the patience: stopped or without its database), unwaited (the subscription was down).", ["outcome"],
            registry=registry,
        )
        self.creations_resent = Counter(
            "gateway_creations_resent_total", "Creations whose confirm was lost with the broker, sent again once it "
            "answered (the catalog keeps one copy).", registry=registry,
        )
        self.requests_refused = Counter(
            "gateway_requests_refused_total", "Requests answered 503 because a dependency was away.",
            ["dependency"], registry=registry,
        )
        self.phase_changes_subscribed = Gauge(
            "gateway_phase_changes_subscribed", "1 while the gateway receives phase changes from the bus (WAIT is "
            "woken by them); 0: waits fall back to the catalog's own blocking read.", registry=registry,
        )
        for outcome in CallbackOutcome:
            self.callbacks.labels(outcome.value)
        for reason in AUTH_REFUSALS:
            self.auth_refused.labels(reason)
        for settled in ("applied", "refused", "timeout", "stalled", "unwaited"):
            self.settlements.labels(settled)
