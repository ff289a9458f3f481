"""The submitter's metrics, in one explicit registry per app. Labels come from small fixed sets (backend
names, outcomes), never a job id. Depends on prometheus_client, the runtime's BusMetrics and esap_backends.measured
only."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from esap_backends.measured import call_histogram
from esap_runtime.bus import BusMetrics

SERVICE = "submitter"
BATCH_BUCKETS = (1, 2, 5, 10, 15, 20, 50, 100)


class SubmitterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.bus = BusMetrics(SERVICE, registry)
        self.backend_call_seconds = call_histogram(SERVICE, registry)
        self.submissions = Counter(
            f"{SERVICE}_submissions_total", "SubmitJob messages handled, by backend and outcome "
            "(submitted, failed, retried).", ["backend", "outcome"], registry=registry,
        )
        self.batch_jobs = Histogram(
            f"{SERVICE}_backend_batch_jobs", "Jobs per submission call to a backend that submits in bulk (DiracX), "
            "by backend: the count is the calls made, the sum the jobs they carried.", ["backend"],
            registry=registry, buckets=BATCH_BUCKETS,
        )
        self.kills = Counter(
            f"{SERVICE}_kills_total", "KillJob messages handled, by backend and outcome "
            "(killed, already_final, refused, failed, retried).", ["backend", "outcome"], registry=registry,
        )
        self.callbacks = Counter(
            f"{SERVICE}_callbacks_total",
            "Job callbacks to the gateway, by outcome (delivered, late: after the job's end, rejected, failed).",
            ["outcome"], registry=registry,
        )
        self.running_jobs = Gauge(
            f"{SERVICE}_running_jobs", "Jobs whose process this submitter is watching.", registry=registry,
        )
        self.waiting_jobs = Gauge(
            f"{SERVICE}_waiting_jobs", "Local jobs written and waiting for a free slot (the facility's max_parallel "
            "are running).", registry=registry,
        )

    def count_batch(self, backend: str, jobs: int) -> None:
        self.batch_jobs.labels(backend).observe(jobs)
