"""The UWS job resources: create, list, read (with WAIT), change phase, reach results.

Every method takes the caller's ``owner`` (``None``: anonymous) so that ownership rules have one place to live:
``_load`` hides a job that is not the caller's. Reads go to the catalog; changes are commands on the bus,
published with confirms, so that an answer to the client means the broker holds the command.
Must not depend on FastAPI or on a concrete client: it is given the ports.
"""

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import structlog

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.adapters.publisher import Publisher
from esap_gateway.adapters.result_files import LocalResultFiles
from esap_gateway.metrics import GatewayMetrics
from esap_gateway.services.catalogue import CatalogueCache
from esap_gateway.services.creation import check_facility, resolve_parameters
from esap_gateway.services.errors import InvalidRequestError, NotAllowedError, NotFoundError
from esap_gateway.services.requests import (
    Pairs,
    PhaseAction,
    parse_creation,
    parse_list_filters,
    parse_phase_action,
    parse_wait,
)
from esap_messages import FINAL_PHASES, AbortJob, CreateJob, Phase, RunJob, new_id
from esap_messages.api import JobSummaryView, JobView

log = structlog.get_logger("esap.gateway.jobs")


@dataclass(frozen=True)
class ResultContent:
    path: Path
    mime_type: str


class JobService:
    def __init__(self, catalog: CatalogClient, publisher: Publisher, catalogue: CatalogueCache,
                 files: LocalResultFiles, metrics: GatewayMetrics, *, default_facility: str,
                 max_wait: int) -> None:
        self._catalog = catalog
        self._publisher = publisher
        self._catalogue = catalogue
        self._files = files
        self._metrics = metrics
        self._default_facility = default_facility
        self._max_wait = max_wait

    async def create(self, form: Pairs, owner: str | None) -> UUID:
        request = parse_creation(form, self._default_facility)
        workflow = await self._catalogue.workflow(request.workflow)
        if workflow is None:
            raise InvalidRequestError("WORKFLOW", f"unknown workflow {request.workflow!r}")
        facility = await self._catalogue.facility(request.facility)
        if facility is None:
            raise InvalidRequestError("FACILITY", f"unknown facility {request.facility!r}")
        check_facility(workflow, facility)
        command = CreateJob(
            job_id=new_id(), owner=owner, workflow=workflow.slug, facility=facility.slug,
            parameters=resolve_parameters(workflow, request.parameters), run_id=request.run_id,
            execution_duration=request.execution_duration, destruction=request.destruction, run=request.run,
        )
        await self._publisher.publish(command)
        self._metrics.jobs_submitted.inc()
        log.info("Job created.", job_id=str(command.job_id), workflow=workflow.slug, facility=facility.slug,
                 run=request.run)
        return command.job_id

    async def list(self, query: Pairs, owner: str | None) -> list[JobSummaryView]:
        filters = parse_list_filters(query)
        found = await self._catalog.list_jobs(owner=owner, phases=filters.phases, after=filters.after,
                                              last=filters.last)
        wanted = set(filters.phases)
        return [job for job in found.jobs if job.phase in wanted and _visible(job.owner, owner)]

    async def get(self, job_id: str, query: Pairs, owner: str | None) -> JobView:
        wait = parse_wait(query, self._max_wait)
        if wait.seconds <= 0:
            return await self._load(job_id, owner)
        with self._metrics.open_waits.track_inprogress():
            return await self._load(job_id, owner, wait=wait.seconds, phase=wait.phase)

    async def phase(self, job_id: str, owner: str | None) -> Phase:
        return (await self._load(job_id, owner)).phase

    async def change_phase(self, job_id: str, form: Pairs, owner: str | None) -> UUID:
        action = parse_phase_action(form)
        job = await self._load(job_id, owner)
        if action is PhaseAction.RUN:
            if job.phase is not Phase.PENDING:
                raise NotAllowedError(f"PHASE=RUN needs a PENDING job; this job is {job.phase.value}.")
            await self._publisher.publish(RunJob(job_id=job.job_id, owner=owner))
        else:
            if job.phase in FINAL_PHASES:
                raise NotAllowedError(f"The job has already ended ({job.phase.value}); there is nothing to abort.")
            await self._publisher.publish(AbortJob(job_id=job.job_id, owner=owner))
        log.info("Job phase change requested.", job_id=str(job.job_id), action=action.value,
                 phase=job.phase.value)
        return job.job_id

    async def results(self, job_id: str, owner: str | None) -> JobView:
        return await self._load(job_id, owner)

    async def result_content(self, job_id: str, result_id: str, owner: str | None) -> ResultContent:
        job = await self._load(job_id, owner)
        result = next((r for r in job.results if r.id == result_id), None)
        if result is None:
            raise NotFoundError(f"Job {job.job_id} has no result {result_id!r}.")
        path = await self._files.open_path(result.location)
        if path is None:
            raise NotFoundError(f"The content of result {result_id!r} cannot be served here.")
        return ResultContent(path, result.mime_type)

    async def _load(self, job_id: str, owner: str | None, *, wait: int = 0, phase: Phase | None = None) -> JobView:
        try:
            uuid = UUID(job_id)
        except ValueError:
            raise NotFoundError(f"No job {job_id!r}.") from None
        job = await self._catalog.get_job(uuid, wait=wait, phase=phase)
        if job is None or not _visible(job.owner, owner):
            raise NotFoundError(f"No job {job_id!r}.")
        return job


def _visible(job_owner: str | None, caller: str | None) -> bool:
    """An anonymous caller sees every job (there are no accounts yet); a known caller sees its own."""
    return caller is None or job_owner == caller
