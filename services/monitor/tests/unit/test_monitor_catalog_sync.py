"""The sync with the catalog: the first read is retried until it succeeds, resyncs reconcile and nudge, and a
job on a facility added since the last read brings the next one forward."""

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from esap_backends import BackendStatus
from esap_messages import DiracStatus, JobSubmitted, new_id
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.sync import CatalogSync
from esap_monitor.services.tracker import Tracker
from esap_monitor.testing import FakeCatalog, active_job, facility


class Rig:
    def __init__(self, catalog: FakeCatalog, request_spacing: float = 1.0) -> None:
        self.tracker = Tracker(catalog_lag_seconds=5.0)
        self.metrics = MonitorMetrics(CollectorRegistry())
        self.nudges = 0
        self.clock = 100.0
        self.sync = CatalogSync(catalog, self.tracker, self.metrics, resync_seconds=30.0, on_due=self._nudge,
                                clock=lambda: self.clock, first_backoff=0.0, request_spacing=request_spacing)

    def _nudge(self) -> None:
        self.nudges += 1


async def test_the_first_sync_is_retried_until_the_catalog_answers() -> None:
    job_id = new_id()
    catalog = FakeCatalog([active_job(job_id, "b1")])
    catalog.failures = 3
    rig = Rig(catalog)
    assert not rig.sync.synced
    await rig.sync.first_sync()
    assert rig.sync.synced and catalog.reads == 4
    assert job_id in rig.tracker
    registry = rig.metrics.registry
    assert registry.get_sample_value("monitor_catalog_syncs_total", {"outcome": "error"}) == 3
    assert registry.get_sample_value("monitor_catalog_syncs_total", {"outcome": "ok"}) == 1


async def test_facilities_teach_the_backend_of_submitted_jobs() -> None:
    rig = Rig(FakeCatalog(facilities=[facility("ctadirac", "diracx")]))
    await rig.sync.sync_once()
    job_id = new_id()
    rig.tracker.apply([JobSubmitted(job_id=job_id, facility="ctadirac", backend_job_id="42")], rig.clock)
    job = rig.tracker.get(job_id)
    assert job is not None and job.backend == "diracx"


async def test_a_resync_that_finds_a_final_status_unheard_nudges_the_poller() -> None:
    job_id = new_id()
    catalog = FakeCatalog([active_job(job_id, "b1", dirac_status=DiracStatus.RUNNING)])
    rig = Rig(catalog)
    await rig.sync.sync_once()
    assert rig.nudges == 0
    [[target]] = rig.tracker.take(due_only=False).values()
    rig.tracker.record(target, BackendStatus(DiracStatus.DONE), now=rig.clock)
    rig.clock += 30
    await rig.sync.sync_once()
    assert rig.nudges == 1
    catalog.jobs = []
    rig.clock += 30
    await rig.sync.sync_once()
    assert job_id not in rig.tracker


async def test_a_job_on_a_facility_added_since_the_last_read_is_tracked_at_a_read_brought_forward() -> None:
    catalog = FakeCatalog(facilities=[facility("local", "local")])
    rig = Rig(catalog, request_spacing=0.01)
    await rig.sync.first_sync()
    catalog.facilities_listed = [facility("local", "local"), facility("added", "diracx")]
    job_id = new_id()
    rig.tracker.apply([JobSubmitted(job_id=job_id, facility="added", backend_job_id="42")], rig.clock)
    assert job_id not in rig.tracker
    resyncs = asyncio.create_task(rig.sync.run())  # the next regular read is 30 s away
    try:
        catalog.answered.clear()
        rig.sync.request()
        async with asyncio.timeout(5):
            await catalog.answered.wait()
    finally:
        resyncs.cancel()
        with pytest.raises(asyncio.CancelledError):
            await resyncs
    job = rig.tracker.get(job_id)
    assert job is not None and job.backend == "diracx"
