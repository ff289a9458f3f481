"""What the submitter does with its two commands: hand a job to its backend (SubmitJob) and kill it (KillJob).

Each method returns the events to publish, or raises RetryLaterError for the bus to try again later; on the
last attempt a transient failure becomes a failure event instead, so no job is left hanging, except for the
backends named in ``hold_on_outage`` (remote ones such as DiracX, whose outages last minutes): there the last
attempt raises DependencyUnavailableError, and the bus holds the message until the backend answers again. Idempotent on
redelivery because the backends are. A start the executor saw during the submission (``claim_start``) goes
into the JobSubmitted, so one event says both. Depends on the backend interface, the message contracts and the metrics;
knows nothing of the bus connection or HTTP.
"""

from collections.abc import Callable, Mapping
from uuid import UUID

import structlog
from prometheus_client import Counter

from esap_backends import (
    Backend,
    BackendError,
    BackendStatus,
    KillOutcome,
    PermanentBackendError,
    attempt_key,
    to_status_observed,
)
from esap_backends.measured import MeasuredBackend
from esap_messages import (
    DiracStatus,
    ErrorType,
    JobKillFailed,
    JobSubmissionFailed,
    JobSubmitted,
    KillJob,
    Message,
    StatusSource,
    SubmitJob,
)
from esap_messages.topology import MAX_ATTEMPTS
from esap_runtime.bus import DependencyUnavailableError, RetryLaterError
from esap_submitter.metrics import SubmitterMetrics

log = structlog.get_logger("esap.submitter")

UNKNOWN_BACKEND = "unknown"


class SubmissionService:
    def __init__(self, backends: Mapping[str, Backend], metrics: SubmitterMetrics,
                 max_attempts: int = MAX_ATTEMPTS, hold_on_outage: frozenset[str] = frozenset(),
                 claim_start: Callable[[UUID], BackendStatus | None] | None = None) -> None:
        self._backends = {name: MeasuredBackend(backend, metrics.backend_call_seconds)
                          for name, backend in backends.items()}
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._hold_on_outage = hold_on_outage
        self._claim_start = claim_start

    async def submit(self, command: SubmitJob, attempt: int) -> list[Message]:
        backend = self._backends.get(command.backend)
        if backend is None:
            self._metrics.submissions.labels(UNKNOWN_BACKEND, "failed").inc()
            log.warning("Job names an unknown backend.", backend=command.backend)
            return [self._failed(command, ErrorType.FATAL, f"no backend {command.backend!r} on this submitter")]
        try:
            backend_job_id = await backend.submit(command)
        except PermanentBackendError as exc:
            self._metrics.submissions.labels(backend.name, "failed").inc()
            log.warning("Backend refused the job.", backend=backend.name, error=str(exc))
            return [self._failed(command, ErrorType.FATAL, str(exc))]
        except BackendError as exc:
            self._retry_or_hold(backend, exc, attempt, self._metrics.submissions)
            return [self._failed(command, ErrorType.TRANSIENT, _gave_up(attempt, exc))]
        self._metrics.submissions.labels(backend.name, "submitted").inc()
        log.info("Job submitted.", backend=backend.name, backend_job_id=backend_job_id)
        started = self._claim_start(command.job_id) if self._claim_start is not None else None
        if started is not None:
            return [JobSubmitted(job_id=command.job_id, facility=command.facility, backend_job_id=backend_job_id,
                                 status=DiracStatus.RUNNING, started_at=started.started_at, attempt=command.attempt)]
        return [JobSubmitted(job_id=command.job_id, facility=command.facility, backend_job_id=backend_job_id,
                             status=DiracStatus.RECEIVED, attempt=command.attempt)]

    async def kill(self, command: KillJob, attempt: int) -> list[Message]:
        backend = self._backends.get(command.backend)
        if backend is None:
            self._metrics.kills.labels(UNKNOWN_BACKEND, "failed").inc()
            return [JobKillFailed(job_id=command.job_id, message=f"no backend {command.backend!r} on this submitter")]
        backend_job_id = command.backend_job_id or attempt_key(command.job_id, command.attempt)
        try:
            outcome = await backend.kill(backend_job_id, command.reason)
            observed = (await backend.bulk_status([backend_job_id])).get(backend_job_id) \
                if outcome is KillOutcome.KILLED else None
        except PermanentBackendError as exc:
            self._metrics.kills.labels(backend.name, "failed").inc()
            return [JobKillFailed(job_id=command.job_id, message=str(exc)[:4000])]
        except BackendError as exc:
            self._retry_or_hold(backend, exc, attempt, self._metrics.kills)
            return [JobKillFailed(job_id=command.job_id, message=_gave_up(attempt, exc)[:4000])]
        self._metrics.kills.labels(backend.name, outcome.value).inc()
        log.info("Kill handled.", backend=backend.name, backend_job_id=backend_job_id, outcome=outcome.value)
        if outcome is KillOutcome.REFUSED:
            return [JobKillFailed(job_id=command.job_id, message="the backend could not kill the job; it may "
                                                                 "still be running")]
        if outcome is KillOutcome.ALREADY_FINAL:
            return []  # the monitor reports the final status it finds
        status = observed or BackendStatus(status=DiracStatus.KILLED, minor_status=command.reason)
        return [to_status_observed(command.job_id, status, StatusSource.SUBMITTER, backend_job_id=backend_job_id)]

    def _retry_or_hold(self, backend: Backend, exc: BackendError, attempt: int, outcomes: Counter) -> None:
        """The ladder for a backend that failed a call: another attempt later while attempts remain; on the last,
        hold the message for a backend that holds on outage; else count the failure and return, for the caller to
        answer with its failure event."""
        if attempt < self._max_attempts:
            outcomes.labels(backend.name, "retried").inc()
            raise RetryLaterError(str(exc)) from exc
        if backend.name in self._hold_on_outage:
            log.warning("Backend still unavailable; holding the message until it answers.", backend=backend.name,
                        error=str(exc))
            raise DependencyUnavailableError(str(exc)) from exc
        outcomes.labels(backend.name, "failed").inc()
        log.error("Backend unavailable on the last attempt.", backend=backend.name, error=str(exc))

    @staticmethod
    def _failed(command: SubmitJob, error_type: ErrorType, message: str) -> JobSubmissionFailed:
        return JobSubmissionFailed(job_id=command.job_id, facility=command.facility, error_type=error_type,
                                   message=message[:4000], attempt=command.attempt)


def _gave_up(attempt: int, exc: BackendError) -> str:
    return f"the backend stayed unavailable after {attempt} attempts: {exc}"
