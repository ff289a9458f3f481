"""The catalog's Prometheus metrics, in one explicit registry per app.

Names are ``catalog_<noun>_<unit>``; labels come from small fixed sets (phases, ignore reasons), never a job
id or an owner. Depends on prometheus_client only.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class CatalogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.jobs_by_phase = Gauge(
            "catalog_jobs", "Jobs stored, by phase (counted every few seconds).", ["phase"], registry=registry,
        )
        self.jobs_created = Counter(
            "catalog_jobs_created_total", "Jobs stored from CreateJob.", registry=registry,
        )
        self.phase_transitions = Counter(
            "catalog_phase_transitions_total", "Phase changes committed.", ["from_phase", "to_phase"],
            registry=registry,
        )
        self.events_ignored = Counter(
            "catalog_events_ignored_total", "Messages that changed nothing, by reason.", ["reason"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "catalog_batch_size", "Messages applied per transaction.", registry=registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )
        self.outbox_pending = Gauge(
            "catalog_outbox_pending", "Outbox rows not yet published.", registry=registry,
        )
        self.outbox_lag = Histogram(
            "catalog_outbox_lag_seconds", "From the commit of an outbox row to the broker's confirm.",
            registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
        )
        self.waiters = Gauge(
            "catalog_waiters", "HTTP requests blocked in WAIT for a job to change.", registry=registry,
        )
        self.jobs_dispatched = Counter(
            "catalog_jobs_dispatched_total", "Jobs handed to their backend's submitter: at once (direct) or after "
            "being held for quota or a facility slot (released).", ["path"], registry=registry,
        )
        self.jobs_held = Counter(
            "catalog_jobs_held_total", "Jobs held in esap-batch when queued (owner at quota, facility full).",
            registry=registry,
        )
        self.held_now = Gauge(
            "catalog_jobs_waiting", "QUEUED jobs held in esap-batch now, by reason: quota (owner at quota) or "
            "facility (no free slot); counted every few seconds.", ["reason"], registry=registry,
        )
        self.owners_waiting = Gauge(
            "catalog_owners_waiting_for_quota", "Owners with a job held because they are at quota (counted every few "
            "seconds).", registry=registry,
        )
        self.owner_active = Histogram(
            "catalog_owner_active_jobs", "Active jobs per owner with any, one observation per owner at each count "
            "(every few seconds): the spread of usage without a series per user.", registry=registry,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
        )
        self.requests_refused = Counter(
            "catalog_requests_refused_total", "HTTP requests answered 503 because a dependency was away.",
            ["dependency"], registry=registry,
        )
        self.notifications = Counter(
            "catalog_notifications_total", "Notification delivery attempts, by kind (mail, webhook) and outcome "
            "(delivered; failed: tried again later; refused: a destination not allowed; abandoned: retries ran out).",
            ["kind", "outcome"], registry=registry,
        )
        self.notifications_pending = Gauge(
            "catalog_notifications_pending", "Notifications neither delivered nor given up.", registry=registry,
        )
        self.notifications_oldest = Gauge(
            "catalog_notifications_oldest_pending_seconds",
            "Age of the oldest notification neither delivered nor given up (0: none).", registry=registry,
        )
