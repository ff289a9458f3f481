"""Every backend call is timed by operation and outcome, and errors still reach the caller unchanged."""

from collections.abc import Iterable, Mapping

import pytest
from prometheus_client import CollectorRegistry

from esap_backends import BackendError, BackendStatus, KillOutcome, PermanentBackendError
from esap_backends.measured import MeasuredBackend, call_histogram
from esap_messages import DiracStatus, SubmitJob


class FlakyBackend:
    name = "flaky"

    def __init__(self) -> None:
        self.recovered = False

    async def submit(self, job: SubmitJob) -> str:
        raise PermanentBackendError("JDL refused")

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        raise BackendError("503 from the server")

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return {i: BackendStatus(DiracStatus.RUNNING) for i in backend_job_ids}

    async def recover(self) -> None:
        self.recovered = True


def count(registry: CollectorRegistry, operation: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "test_backend_call_duration_seconds_count", {"backend": "flaky", "operation": operation, "outcome": outcome}
    )
    return value or 0.0


async def test_calls_are_counted_by_operation_and_outcome() -> None:
    registry = CollectorRegistry()
    inner = FlakyBackend()
    backend = MeasuredBackend(inner, call_histogram("test", registry))

    statuses = await backend.bulk_status(["a", "b"])
    with pytest.raises(PermanentBackendError, match="JDL refused"):
        await backend.submit(None)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="503"):
        await backend.kill("a", "test")
    await backend.recover()  # type: ignore[attr-defined]

    assert set(statuses) == {"a", "b"}
    assert count(registry, "bulk_status", "ok") == 1
    assert count(registry, "submit", "permanent") == 1
    assert count(registry, "kill", "transient") == 1
    assert count(registry, "submit", "ok") == 0
    assert inner.recovered
