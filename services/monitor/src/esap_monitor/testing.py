"""Fakes of the monitor's own ports, for tests: a catalog reader, and builders of what it answers. The backend's
fake is the backends library's (esap_backends.testing), shared with the submitter's tests.

In memory, no I/O. Depends on esap_messages and the catalog adapter's error only.
"""

import asyncio
from collections.abc import Iterable
from uuid import UUID

from esap_messages import DiracStatus, Phase
from esap_messages.api import ActiveJob, ActiveJobList, FacilityList, FacilityView
from esap_monitor.adapters.catalog import CatalogUnavailableError


def facility(slug: str = "local", backend: str = "local") -> FacilityView:
    return FacilityView(slug=slug, name=slug, description="", url="", facility_type=backend, backend=backend,
                        runtime_engines=["process"], max_parallel=4, status="online")


def active_job(job_id: UUID, backend_job_id: str, *, backend: str = "local", facility: str = "local",
               phase: Phase = Phase.QUEUED, dirac_status: DiracStatus | None = DiracStatus.RECEIVED) -> ActiveJob:
    return ActiveJob(job_id=job_id, facility=facility, backend=backend, backend_job_id=backend_job_id,
                     phase=phase, dirac_status=dirac_status)


class FakeCatalog:
    """A catalog reader answering from lists the test sets; ``failures`` first answers are refusals."""

    def __init__(self, jobs: Iterable[ActiveJob] = (), facilities: Iterable[FacilityView] = ()) -> None:
        self.jobs = list(jobs)
        self.facilities_listed = list(facilities) or [facility()]
        self.failures = 0
        self.reads = 0
        self.answered = asyncio.Event()
        """Set at each list of active jobs answered."""

    async def active_jobs(self) -> ActiveJobList:
        self.reads += 1
        if self.failures > 0:
            self.failures -= 1
            raise CatalogUnavailableError("refused (fake)")
        self.answered.set()
        return ActiveJobList(jobs=self.jobs)

    async def facilities(self) -> FacilityList:
        return FacilityList(facilities=self.facilities_listed)
