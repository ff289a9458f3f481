"""The synchronous pattern (UWS 1.1 section 4): run a job and answer with its main result once it is done.

The job is an ordinary UWS job (created with PHASE=RUN, listed, kept until its destruction); the request
blocks on the catalog's change notifications (WAIT), never on polling, for up to ``timeout`` seconds. Then:
the job's main result (``results/result``, see domain.results) when it completed with results, otherwise the job
itself (still running, failed or aborted: its document says which).
Must not depend on FastAPI or on a concrete client: it is given the ports.
"""

import time
from dataclasses import dataclass, replace
from uuid import UUID

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.domain.results import MAIN_RESULT, main_result
from esap_gateway.domain.uws import CreationRequest
from esap_gateway.services.jobs import JobService
from esap_messages import FINAL_PHASES, Phase
from esap_messages.api import ResultView


@dataclass(frozen=True)
class SyncOutcome:
    job_id: UUID
    result: ResultView | None
    """The main result to redirect to; None: redirect to the job."""


class SyncService:
    def __init__(self, jobs: JobService, catalog: CatalogClient, *, timeout: int, max_wait: int) -> None:
        self._jobs = jobs
        self._catalog = catalog
        self._timeout = timeout
        self._max_wait = max_wait

    async def run(self, request: CreationRequest, owner: str | None) -> SyncOutcome:
        job_id = await self._jobs.create(replace(request, run=True), owner)
        deadline = time.monotonic() + self._timeout
        while (remaining := deadline - time.monotonic()) > 0:
            view = await self._catalog.get_job(job_id, owner=owner, wait=max(1, min(int(remaining), self._max_wait)))
            if view is None:  # not stored within the catalog's creation grace: let the client look later
                break
            if view.phase in FINAL_PHASES:
                main = main_result(view.results) if view.phase is Phase.COMPLETED else None
                return SyncOutcome(job_id, None if main is None else main.model_copy(update={"id": MAIN_RESULT}))
        return SyncOutcome(job_id, None)
