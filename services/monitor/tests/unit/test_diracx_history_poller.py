"""The poller sends a backend's job history with the changes it publishes: read in one call per backend per
cycle, only for changed jobs (or only final ones, when set so), never holding a status back when it fails."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prometheus_client import CollectorRegistry

from esap_backends import BackendError, BackendStatus
from esap_backends.measured import MeasuredBackend
from esap_backends.testing import FakeBackend, FakeHistoryBackend
from esap_messages import BackendHistoryEntry, DiracStatus, JobStatusObserved, JobSubmitted, Message, new_id
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.history import history_source
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def history(*statuses: str) -> tuple[BackendHistoryEntry, ...]:
    return tuple(BackendHistoryEntry(status=s, source="JobWrapper", at=NOW + timedelta(seconds=i))
                 for i, s in enumerate(statuses))


class Rig:
    def __init__(self, *backends: FakeBackend, every_change: bool = True) -> None:
        self.tracker = Tracker(catalog_lag_seconds=5.0)
        self.tracker.learn_facilities([(b.name, b.name) for b in backends])
        self.published: list[JobStatusObserved] = []
        self.metrics = MonitorMetrics(CollectorRegistry())
        self.poller = StatusPoller(self.tracker, {b.name: b for b in backends}, self.publish, self.metrics,
                                   interval=3600.0, chunk_size=5000, coalesce_seconds=0.0, clock=lambda: 100.0,
                                   wall_clock=lambda: NOW, history_on_every_change=every_change)

    async def publish(self, messages: Sequence[Message]) -> None:
        self.published.extend(m for m in messages if isinstance(m, JobStatusObserved))

    def submit(self, backend: FakeBackend) -> tuple[UUID, str]:
        job_id = new_id()
        backend_job_id = f"b-{job_id}"
        self.tracker.apply([JobSubmitted(job_id=job_id, facility=backend.name, backend_job_id=backend_job_id)],
                           100.0)
        backend.set(backend_job_id, BackendStatus(DiracStatus.RECEIVED))
        return job_id, backend_job_id

    def last(self, job_id: UUID) -> JobStatusObserved:
        return [m for m in self.published if m.job_id == job_id][-1]


async def test_changes_carry_the_history_read_in_one_call_for_all_changed_jobs() -> None:
    diracx, local = FakeHistoryBackend(), FakeBackend()
    rig = Rig(diracx, local)
    (moving, moving_id), (still, _) = rig.submit(diracx), rig.submit(diracx)
    (done, done_id), (plain, plain_id) = rig.submit(diracx), rig.submit(local)
    diracx.set(moving_id, BackendStatus(DiracStatus.RUNNING))
    diracx.histories[moving_id] = history("Received", "Matched", "Running")
    diracx.set(done_id, BackendStatus(DiracStatus.DONE))
    diracx.histories[done_id] = history("Received", "Matched", "Running", "Done")
    local.set(plain_id, BackendStatus(DiracStatus.RUNNING))

    assert await rig.poller.poll(due_only=False) == 3
    assert [sorted(call) for call in diracx.history_calls] == [sorted([moving_id, done_id])]
    assert [e.status for e in rig.last(moving).history or ()] == ["Received", "Matched", "Running"]
    assert [e.status for e in rig.last(done).history or ()] == ["Received", "Matched", "Running", "Done"]
    assert rig.last(plain).history is None
    assert all(m.job_id != still for m in rig.published)

    assert await rig.poller.poll(due_only=False) == 0  # nothing changed: no history call either
    assert len(diracx.history_calls) == 1


async def test_only_final_changes_carry_the_history_when_set_so() -> None:
    diracx = FakeHistoryBackend()
    rig = Rig(diracx, every_change=False)
    job, dirac_id = rig.submit(diracx)
    diracx.set(dirac_id, BackendStatus(DiracStatus.RUNNING))
    diracx.histories[dirac_id] = history("Received", "Running")
    await rig.poller.poll(due_only=False)
    assert rig.last(job).history is None and diracx.history_calls == []
    diracx.set(dirac_id, BackendStatus(DiracStatus.FAILED, minor_status="Payload failed"))
    diracx.histories[dirac_id] = history("Received", "Running", "Failed")
    await rig.poller.poll(due_only=False)
    assert rig.last(job).status is DiracStatus.FAILED
    assert [e.status for e in rig.last(job).history or ()] == ["Received", "Running", "Failed"]


async def test_a_failed_history_call_holds_no_status_back() -> None:
    diracx = FakeHistoryBackend()
    rig = Rig(diracx)
    job, dirac_id = rig.submit(diracx)
    diracx.set(dirac_id, BackendStatus(DiracStatus.DONE))
    diracx.history_failure = BackendError("DiracX unreachable (fake)")
    assert await rig.poller.poll(due_only=False) == 1
    assert rig.last(job).status is DiracStatus.DONE and rig.last(job).history is None
    sample = rig.metrics.registry.get_sample_value(
        "monitor_backend_call_duration_seconds_count",
        {"backend": "diracx", "operation": "bulk_history", "outcome": "transient"})
    assert sample == 1.0


def test_a_measured_backend_is_still_a_history_source() -> None:
    histogram = MonitorMetrics(CollectorRegistry()).backend_call_seconds
    assert history_source(MeasuredBackend(FakeHistoryBackend(), histogram)) is not None
    assert history_source(MeasuredBackend(FakeBackend(), histogram)) is None
