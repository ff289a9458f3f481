"""Change detection and the polling loop over fake backends: bulk calls only, publish only on change."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest
from prometheus_client import CollectorRegistry

from esap_backends import BackendError, BackendStatus
from esap_backends.testing import FakeBackend
from esap_messages import (
    DiracStatus,
    JobReported,
    JobStatusObserved,
    JobSubmitted,
    Message,
    ResultFile,
    StatusSource,
    new_id,
    utcnow,
)
from esap_monitor.handlers.messages import monitor_queue_handler
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker
from esap_monitor.testing import active_job
from esap_runtime.bus import Delivery

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class RecordingPublisher:
    def __init__(self) -> None:
        self.batches: list[list[JobStatusObserved]] = []
        self.failure: Exception | None = None

    async def __call__(self, messages: Sequence[Message]) -> None:
        if self.failure is not None:
            raise self.failure
        self.batches.append([m for m in messages if isinstance(m, JobStatusObserved)])

    @property
    def published(self) -> list[JobStatusObserved]:
        return [m for batch in self.batches for m in batch]


class Rig:
    def __init__(self, *backends: FakeBackend, chunk_size: int = 5000, interval: float = 3600.0) -> None:
        self.tracker = Tracker(catalog_lag_seconds=5.0)
        self.tracker.learn_facilities([(b.name, b.name) for b in backends])
        self.publisher = RecordingPublisher()
        self.metrics = MonitorMetrics(CollectorRegistry())
        self.clock = 100.0
        self.poller = StatusPoller(
            self.tracker, {b.name: b for b in backends}, self.publisher, self.metrics, interval=interval,
            chunk_size=chunk_size, coalesce_seconds=0.002, clock=lambda: self.clock, wall_clock=lambda: NOW,
        )

    def submit(self, backend: FakeBackend, status: DiracStatus = DiracStatus.RECEIVED) -> UUID:
        job_id = new_id()
        self.tracker.apply([JobSubmitted(job_id=job_id, facility=backend.name, backend_job_id=f"b-{job_id}",
                                         status=status)], self.clock)
        backend.set(f"b-{job_id}", BackendStatus(status))
        return job_id

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_publishes_only_what_changed() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    job_id = rig.submit(backend)
    assert await rig.poller.poll(due_only=False) == 0
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING, minor_status="Application started"))
    assert await rig.poller.poll(due_only=False) == 1
    assert await rig.poller.poll(due_only=False) == 0
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING, minor_status="Writing outputs"))
    assert await rig.poller.poll(due_only=False) == 1
    observed = rig.publisher.published
    assert [(m.job_id, m.status, m.minor_status, m.source) for m in observed] == [
        (job_id, DiracStatus.RUNNING, "Application started", StatusSource.MONITOR),
        (job_id, DiracStatus.RUNNING, "Writing outputs", StatusSource.MONITOR),
    ]
    assert rig.sample("monitor_status_changes_total", {"status": "Running"}) == 2


async def test_one_bulk_call_per_backend_per_cycle_whatever_the_number_of_jobs() -> None:
    local, dirac = FakeBackend("local"), FakeBackend("diracx")
    rig = Rig(local, dirac)
    for _ in range(1200):
        rig.submit(local)
    for _ in range(30):
        rig.submit(dirac)
    await rig.poller.poll(due_only=False)
    assert [len(c) for c in local.calls] == [1200]
    assert [len(c) for c in dirac.calls] == [30]
    assert rig.sample("monitor_backend_calls_total", {"backend": "local", "outcome": "ok"}) == 1
    assert rig.sample("monitor_poll_cycle_duration_seconds_count", {"backend": "local"}) == 1


async def test_huge_sets_are_chunked() -> None:
    backend = FakeBackend()
    rig = Rig(backend, chunk_size=500)
    job_ids = [rig.submit(backend) for _ in range(1200)]
    for job_id in job_ids:
        backend.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING))
    assert await rig.poller.poll(due_only=False) == 1200
    assert [len(c) for c in backend.calls] == [500, 500, 200]
    assert len(rig.publisher.batches) == 1


async def test_a_final_status_is_published_once_with_its_details() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    job_id = rig.submit(backend, DiracStatus.RUNNING)
    result = ResultFile(name="out.json", size=12, mime_type="application/json", location="file:///x/out.json")
    started, ended = utcnow(), utcnow()
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.FAILED, minor_status="Application exited", exit_code=3,
                                            error="exit code 3", started_at=started, ended_at=ended,
                                            results=(result,)))
    assert await rig.poller.poll(due_only=False) == 1
    assert await rig.poller.poll(due_only=False) == 0
    assert len(backend.calls) == 1  # no more polling of that job
    [final] = rig.publisher.published
    assert (final.status, final.exit_code, final.error, final.results) == (
        DiracStatus.FAILED, 3, "exit code 3", (result,))
    assert (final.started_at, final.ended_at, final.observed_at) == (started, ended, NOW)


async def test_a_final_status_is_published_again_when_a_later_resync_still_lists_the_job() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    job_id = rig.submit(backend, DiracStatus.RUNNING)
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.DONE))
    await rig.poller.poll(due_only=False)
    listed = [active_job(job_id, f"b-{job_id}", dirac_status=DiracStatus.RUNNING)]
    rig.tracker.resync(listed, started=rig.clock + 1)
    assert await rig.poller.poll(due_only=False) == 0
    rig.tracker.resync(listed, started=rig.clock + 60)
    assert await rig.poller.poll(due_only=True) == 1
    assert [m.status for m in rig.publisher.published] == [DiracStatus.DONE, DiracStatus.DONE]


async def test_a_failing_backend_does_not_stop_the_others() -> None:
    broken, working = FakeBackend("broken"), FakeBackend("local")
    rig = Rig(broken, working)
    rig.submit(broken)
    job_id = rig.submit(working)
    working.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING))
    broken.failure = BackendError("connection refused")
    assert await rig.poller.poll(due_only=False) == 1
    assert rig.sample("monitor_backend_calls_total", {"backend": "broken", "outcome": "error"}) == 1
    assert rig.sample("monitor_backend_calls_total", {"backend": "local", "outcome": "ok"}) == 1


async def test_a_change_the_bus_refused_is_published_at_the_next_cycle() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    job_id = rig.submit(backend)
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING))
    rig.publisher.failure = ConnectionError("broker gone")
    assert await rig.poller.poll(due_only=False) == 0
    rig.publisher.failure = None
    assert await rig.poller.poll(due_only=False) == 1


async def test_a_job_reported_running_is_not_published_again_by_the_poll() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    job_id = rig.submit(backend)
    rig.tracker.apply([JobReported(job_id=job_id, status=DiracStatus.RUNNING, reported_at=utcnow())], rig.clock)
    backend.set(f"b-{job_id}", BackendStatus(DiracStatus.RUNNING, minor_status="Application started"))
    assert await rig.poller.poll(due_only=True) == 0
    assert len(backend.calls) == 1


class GatedSleep:
    """Stands for asyncio.sleep in the poller: tells when the coalescing window opens, closes it on demand."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.close = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.opened.set()
        await self.close.wait()


async def test_nudges_arriving_together_share_one_bulk_call() -> None:
    backend = FakeBackend()
    rig = Rig(backend)
    window = GatedSleep()
    rig.poller = StatusPoller(rig.tracker, {"local": backend}, rig.publisher, rig.metrics, interval=3600.0,
                              chunk_size=5000, coalesce_seconds=0.002, clock=lambda: rig.clock, sleep=window)
    job_ids = [rig.submit(backend) for _ in range(5)]
    handle = monitor_queue_handler(rig.tracker, rig.poller, lambda: None, clock=lambda: rig.clock)
    loop = asyncio.create_task(rig.poller.run())
    try:
        async with asyncio.timeout(5):
            await backend.wait_for_calls(1)  # the first full cycle; the next one is an hour away
            for job_id in job_ids[:3]:
                report = JobReported(job_id=job_id, status=DiracStatus.DONE, reported_at=utcnow())
                await handle([Delivery(report, 1, raw=None)])  # type: ignore[arg-type]
                await window.opened.wait()  # the first nudge opened the window; the others arrive in it
            window.close.set()
            await backend.wait_for_calls(2)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert sorted(backend.calls[1]) == sorted(f"b-{j}" for j in job_ids[:3])


async def test_a_job_on_a_facility_the_monitor_does_not_know_asks_for_a_sync() -> None:
    rig = Rig(FakeBackend())
    requested: list[bool] = []
    handle = monitor_queue_handler(rig.tracker, rig.poller, lambda: requested.append(True), clock=lambda: rig.clock)
    known = JobSubmitted(job_id=new_id(), facility="local", backend_job_id="b-1")
    await handle([Delivery(known, 1, raw=None)])  # type: ignore[arg-type]
    assert requested == []
    added = JobSubmitted(job_id=new_id(), facility="added-since", backend_job_id="b-2")
    await handle([Delivery(added, 1, raw=None)])  # type: ignore[arg-type]
    assert requested == [True]
