"""SubmissionService over fake backends: events for every outcome, retries, the last attempt. No I/O."""

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_backends import BackendError, KillOutcome, PermanentBackendError
from esap_backends.testing import FakeBackend
from esap_messages import (
    DiracStatus,
    ErrorType,
    JobKillFailed,
    JobStatusObserved,
    JobSubmissionFailed,
    JobSubmitted,
    KillJob,
    StatusSource,
    SubmitJob,
    WorkflowRun,
    new_id,
)
from esap_messages.topology import MAX_ATTEMPTS
from esap_runtime.bus import DependencyUnavailableError, RetryLaterError
from esap_submitter.metrics import SubmitterMetrics
from esap_submitter.services.submission import SubmissionService


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def metrics() -> SubmitterMetrics:
    return SubmitterMetrics(CollectorRegistry())


@pytest.fixture
def service(backend: FakeBackend, metrics: SubmitterMetrics) -> SubmissionService:
    return SubmissionService({"local": backend}, metrics)


def _submit(backend: str = "local") -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="local", backend=backend,
                     workflow=WorkflowRun(slug="noop", command=("true",)), parameters={}, execution_duration=0,
                     callback_token=SecretStr("t" * 32))


def _count(metrics: SubmitterMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_submitted_job_is_reported_with_its_backend_id(service, backend, metrics) -> None:
    command = _submit()
    [event] = await service.submit(command, attempt=1)
    assert isinstance(event, JobSubmitted)
    assert (event.job_id, event.backend_job_id, event.status) == (command.job_id, str(command.job_id),
                                                                  DiracStatus.RECEIVED)
    assert _count(metrics, "submitter_submissions_total", backend="local", outcome="submitted") == 1


async def test_a_refusal_is_a_fatal_submission_failure(service, backend) -> None:
    backend.submit_error = PermanentBackendError("unknown placeholder {x}")
    [event] = await service.submit(_submit(), attempt=1)
    assert isinstance(event, JobSubmissionFailed)
    assert (event.error_type, event.message) == (ErrorType.FATAL, "unknown placeholder {x}")


async def test_a_transient_error_is_retried_until_the_last_attempt(service, backend, metrics) -> None:
    backend.submit_error = BackendError("disk busy")
    with pytest.raises(RetryLaterError):
        await service.submit(_submit(), attempt=MAX_ATTEMPTS - 1)
    [event] = await service.submit(_submit(), attempt=MAX_ATTEMPTS)
    assert isinstance(event, JobSubmissionFailed) and event.error_type is ErrorType.TRANSIENT
    assert "disk busy" in event.message
    assert _count(metrics, "submitter_submissions_total", backend="local", outcome="retried") == 1


async def test_an_unknown_backend_fails_the_job(service, metrics) -> None:
    [event] = await service.submit(_submit(backend="dirac"), attempt=1)
    assert isinstance(event, JobSubmissionFailed) and event.error_type is ErrorType.FATAL
    assert _count(metrics, "submitter_submissions_total", backend="unknown", outcome="failed") == 1


async def test_a_kill_is_confirmed_by_reading_the_status_back(service, backend) -> None:
    job_id = new_id()
    [event] = await service.kill(KillJob(job_id=job_id, facility="local", backend="local",
                                         backend_job_id="b-1"), attempt=1)
    assert isinstance(event, JobStatusObserved)
    assert (event.job_id, event.status, event.source) == (job_id, DiracStatus.KILLED, StatusSource.SUBMITTER)
    assert event.results == ()
    assert backend.killed == [("b-1", "aborted by its owner")]


async def test_a_job_without_backend_id_is_killed_by_its_job_id(service, backend) -> None:
    job_id = new_id()
    [event] = await service.kill(KillJob(job_id=job_id, facility="local", backend="local"), attempt=1)
    assert backend.killed == [(str(job_id), "aborted by its owner")]
    assert isinstance(event, JobStatusObserved) and event.status is DiracStatus.KILLED


async def test_a_refused_kill_is_reported(service, backend) -> None:
    backend.kill_outcome = KillOutcome.REFUSED
    [event] = await service.kill(KillJob(job_id=new_id(), facility="local", backend="local"), attempt=1)
    assert isinstance(event, JobKillFailed)


async def test_a_kill_of_a_finished_job_says_nothing(service, backend, metrics) -> None:
    backend.kill_outcome = KillOutcome.ALREADY_FINAL
    assert await service.kill(KillJob(job_id=new_id(), facility="local", backend="local"), attempt=1) == []
    assert _count(metrics, "submitter_kills_total", backend="local", outcome="already_final") == 1


async def test_a_kill_that_keeps_failing_is_reported_on_the_last_attempt(service, backend) -> None:
    backend.kill_error = BackendError("timeout")
    command = KillJob(job_id=new_id(), facility="local", backend="local")
    with pytest.raises(RetryLaterError):
        await service.kill(command, attempt=1)
    [event] = await service.kill(command, attempt=MAX_ATTEMPTS)
    assert isinstance(event, JobKillFailed) and "timeout" in event.message


async def test_a_remote_backend_that_stays_down_holds_the_message_instead_of_failing_the_job(backend,
                                                                                             metrics) -> None:
    service = SubmissionService({"local": backend}, metrics, hold_on_outage=frozenset({"local"}))
    backend.submit_error = BackendError("DiracX unreachable")
    with pytest.raises(RetryLaterError):
        await service.submit(_submit(), attempt=1)
    with pytest.raises(DependencyUnavailableError):
        await service.submit(_submit(), attempt=MAX_ATTEMPTS)
    backend.kill_error = BackendError("DiracX unreachable")
    with pytest.raises(DependencyUnavailableError):
        await service.kill(KillJob(job_id=new_id(), facility="local", backend="local"), attempt=MAX_ATTEMPTS)


async def test_a_kill_dirac_refuses_is_reported_with_its_words(service, backend) -> None:
    backend.kill_error = PermanentBackendError("DIRAC did not kill job 7: it is still Completed (test)")
    [event] = await service.kill(KillJob(job_id=new_id(), facility="local", backend="local"), attempt=1)
    assert isinstance(event, JobKillFailed) and "still Completed" in event.message
