"""The UWS job resources: create, list, read (with WAIT), change phase, parameters, execution duration and
destruction, delete, reach results.

Every method takes typed requests (parsed once at the edge, handlers.requests; the UWS rules are
``domain.uws``') and the caller's ``owner`` (``None``: anonymous) so that ownership rules have one place to live:
a caller reaches only its own jobs (anonymous callers only anonymous jobs), and asks the catalog for nothing
else (reads and listings are scoped there too). Another user's job is refused (403), an unknown one 404.
Reads go to the catalog; changes are commands on the bus, published with confirms, and answered once the catalog
settled them (services.settling), so that the client following the 303 reads the change, or hears why it was
refused.
Must not depend on FastAPI or on a concrete client: it is given the ports.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import structlog

from esap_gateway.adapters.catalog import CatalogClient, ForeignJobError, InvalidCursorError
from esap_gateway.adapters.publisher import Publisher, PublishFailedError
from esap_gateway.adapters.result_files import LocalResultFiles
from esap_gateway.adapters.uws_xml import job_url, result_url
from esap_gateway.domain.campaigns import render, table_of, with_tables
from esap_gateway.domain.errors import InvalidRequestError, NotAllowedError, NotFoundError
from esap_gateway.domain.notifications import checked_targets
from esap_gateway.domain.parameters import check_facility, resolve_parameters, resolve_sweep
from esap_gateway.domain.results import find_result
from esap_gateway.domain.sweeps import parse_sweeps
from esap_gateway.domain.uws import (
    CreationRequest,
    ListFilters,
    PhaseAction,
    Resubmission,
    WaitRequest,
    check_abort,
    check_destruction,
    check_pending,
    check_run,
)
from esap_gateway.metrics import GatewayMetrics
from esap_gateway.services.catalogue import CatalogueCache
from esap_gateway.services.planning import PlanningService
from esap_gateway.services.ratelimit import RateLimiter
from esap_gateway.services.resending import CreationResender
from esap_gateway.services.settling import Settlements
from esap_gateway.services.waiting import wait_for_change
from esap_messages import (
    AbortJob,
    CreateCampaign,
    CreateJob,
    DeleteJob,
    Message,
    Phase,
    RunJob,
    UpdateJob,
    new_id,
    utcnow,
)
from esap_messages.api import ChildList, JobList, JobView, UsageView, WorkflowView
from esap_runtime.waiters import WaiterRegistry

log = structlog.get_logger("esap.gateway.jobs")


@dataclass(frozen=True)
class ResultContent:
    """A backend's file (``path``), or a table the gateway made (``body``: a campaign's children)."""

    path: Path | None
    mime_type: str
    body: bytes | None = None


class JobService:
    def __init__(self, catalog: CatalogClient, publisher: Publisher, catalogue: CatalogueCache,
                 files: LocalResultFiles, metrics: GatewayMetrics, *, default_facility: str | None,
                 max_wait: int, lifetime: timedelta = timedelta(days=7),
                 waiters: WaiterRegistry | None = None, planner: PlanningService | None = None,
                 limiter: RateLimiter | None = None, settlements: Settlements | None = None,
                 resender: CreationResender | None = None, max_sweep_children: int = 10_000,
                 notify_allowed: tuple[str, ...] = (), mail_anyone: bool = False,
                 default_targets: Callable[[str, str | None], Awaitable[tuple[str, ...]]] | None = None) -> None:
        self._catalog = catalog
        self._publisher = publisher
        self._catalogue = catalogue
        self._files = files
        self._metrics = metrics
        self._default_facility = default_facility
        self.max_wait = max_wait
        self._lifetime = lifetime
        self._waiters = waiters
        self._planner = planner or PlanningService(catalogue)
        self._limiter = limiter or RateLimiter(0)
        self._settlements = settlements
        self._resender = resender
        self._max_sweep_children = max_sweep_children
        self._notify_allowed = notify_allowed
        self._mail_anyone = mail_anyone
        self._default_targets = default_targets
        """The owner's default NOTIFY targets (``/account/notify``), for a creation that names none."""

    async def create(self, request: CreationRequest, owner: str | None, email: str | None = None) -> UUID:
        """Checked in full before anything is published; without FACILITY, the job goes to the default facility if
        one is set, else to the best offer. Its quote is its offer's estimated end (unknown when the catalog
        cannot say). ``email`` is the caller's own address (their token's), for the NOTIFY rules."""
        self._limiter.take(owner)
        if not request.notify and owner is not None and self._default_targets is not None:
            request = replace(request, notify=await self._default_targets(owner, email))
        if request.notify:
            targets = checked_targets(request.notify, owner=owner, email=email, allowed=self._notify_allowed,
                                      mail_anyone=self._mail_anyone)
            request = replace(request, notify=tuple(targets))
        workflow = await self._catalogue.workflow(request.workflow)
        if workflow is None:
            raise InvalidRequestError("WORKFLOW", f"unknown workflow {request.workflow!r}")
        children: list[dict[str, str]] = []
        if request.sweeps:
            axes = parse_sweeps(request.sweeps, self._max_sweep_children)
            parameters, children = resolve_sweep(workflow, request.parameters, axes)
        else:
            parameters = resolve_parameters(workflow, request.parameters)
        return await self._publish_creation(request, workflow, parameters, children, owner)

    async def resubmit(self, job_id: UUID, again: Resubmission, owner: str | None, email: str | None = None) -> UUID:
        """A new job from the original's workflow, facility and parameters with ``again``'s changes; for a campaign, a
        new campaign of its children that did not complete (every child with ``every_child``). The new job names
        the original (``resubmit_of``)."""
        self._limiter.take(owner)
        original = await self._load(job_id, owner)
        workflow = await self._catalogue.workflow(original.workflow)
        if workflow is None:
            raise NotAllowedError(f"The workflow {original.workflow!r} is no longer offered; the job cannot run again.")
        overrides = {name.upper(): (name, value) for name, value in again.parameters}
        children: list[dict[str, str]] = []
        if original.children is not None:
            table = await self.children(original.job_id, owner)
            chosen = [c.swept for c in table.children if again.every_child or c.phase is not Phase.COMPLETED]
            if not chosen:
                raise NotAllowedError("Every child of this campaign completed; SCOPE=all runs them all again.")
            # A parameter the form sets is set for every child: it is swept no more.
            children = [{k: v for k, v in c.items() if k.upper() not in overrides} for c in chosen]
        swept = {name.upper() for child in children for name in child}
        merged = {name.upper(): (name, value) for name, value in original.parameters.items()
                  if name.upper() not in swept}
        merged.update(overrides)
        given = list(merged.values())
        for child in {tuple(sorted(c.items())) for c in children} or {()}:
            resolve_parameters(workflow, [*given, *child])  # every child checked as a single job is
        parameters = {name: value for name, value in resolve_parameters(workflow, [*given, *(
            children[0].items() if children else ())]).items() if name.upper() not in swept}
        request = CreationRequest(
            workflow=original.workflow, facility=again.facility or original.facility, run=again.run,
            run_id=again.run_id or original.run_id, destruction=again.destruction, parameters=tuple(given),
            execution_duration=original.execution_duration if again.execution_duration is None
            else again.execution_duration,
            notify=again.notify if again.notify is not None else tuple(n.target for n in original.notifications))
        if again.notify is not None:  # new targets, checked as a creation's (the original's were, at its creation)
            request = replace(request, notify=tuple(checked_targets(
                again.notify, owner=owner, email=email, allowed=self._notify_allowed, mail_anyone=self._mail_anyone)))
        return await self._publish_creation(request, workflow, parameters, children, owner, resubmit_of=job_id)

    async def _publish_creation(self, request: CreationRequest, workflow: WorkflowView, parameters: dict[str, str],
                                children: list[dict[str, str]], owner: str | None, *,
                                resubmit_of: UUID | None = None) -> UUID:
        """The job (a campaign with ``children``) placed, quoted, published and settled."""
        now = utcnow()
        if request.destruction is not None and request.destruction <= now:
            raise InvalidRequestError("DESTRUCTION", "must be in the future")
        planned_with = {**parameters, **children[0]} if children else parameters
        facility, quote = await self._facility_for(request, workflow, planned_with, max(1, len(children)))
        fields = {"job_id": new_id(), "owner": owner, "workflow": workflow.slug, "facility": facility,
                  "parameters": parameters, "run_id": request.run_id, "quote": quote,
                  "execution_duration": request.execution_duration, "run": request.run,
                  "destruction": request.destruction or now + self._lifetime, "resubmit_of": resubmit_of,
                  "notify": list(request.notify)}
        command = CreateCampaign(**fields, children=children) if children else CreateJob(**fields)
        await self._send(command, command.job_id, creation=True)
        self._metrics.jobs_submitted.inc(max(1, len(children)))
        log.info("Campaign created." if children else "Job created.", job_id=str(command.job_id),
                 workflow=workflow.slug, facility=facility, run=request.run, planned=quote is not None,
                 children=len(children), resubmit_of=None if resubmit_of is None else str(resubmit_of))
        return command.job_id

    async def _facility_for(self, request: CreationRequest, workflow: WorkflowView, parameters: dict[str, str],
                            jobs: int) -> tuple[str, datetime | None]:
        named = request.facility or self._default_facility
        if named is None:
            best = await self._planner.best(workflow, parameters, request.execution_duration, children=jobs)
            return best.facility, best.estimated_end
        facility = await self._catalogue.facility(named)
        if facility is None:
            raise InvalidRequestError("FACILITY", f"unknown facility {named!r}")
        check_facility(workflow, facility, request.execution_duration)
        return facility.slug, await self._planner.quote(workflow, facility.slug, request.execution_duration,
                                                        children=jobs)

    async def list(self, f: ListFilters, owner: str | None) -> JobList:
        """The caller's jobs, newest first, one page; ``next_cursor`` leads to the next one."""
        try:
            found = await self._catalog.list_jobs(
                owner=owner, phases=f.phases, after=f.after, last=f.last, workflow=f.workflow,
                facility=f.facility, run_id=f.run_id, cursor=f.cursor, parent=f.parent,
            )
        except InvalidCursorError:
            raise InvalidRequestError("CURSOR", "not a cursor of this service") from None
        wanted = set(f.phases)
        jobs = [job for job in found.jobs if job.phase in wanted and job.owner == owner]
        return JobList(jobs=jobs, next_cursor=found.next_cursor)

    async def get(self, job_id: UUID, wait: WaitRequest, owner: str | None) -> JobView:
        if wait.seconds <= 0:
            return await self._load(job_id, owner)
        with self._metrics.open_waits.track_inprogress():
            if self._waiters is not None and self._waiters.live():
                # Its first read answers 404/403 before any waiting: one catalog request, not two, per WAIT.
                return await wait_for_change(self._waiters, job_id, lambda: self._load(job_id, owner),
                                             seconds=wait.seconds, phase=wait.phase)
            return await self._load(job_id, owner, wait=wait.seconds, phase=wait.phase)

    async def phase(self, job_id: UUID, owner: str | None) -> Phase:
        return (await self._load(job_id, owner)).phase

    async def change_phase(self, job_id: UUID, action: PhaseAction, owner: str | None) -> UUID:
        self._limiter.take(owner)
        job = await self._load(job_id, owner)
        if action is PhaseAction.RUN:
            check_run(job.phase)
            await self._send(RunJob(job_id=job.job_id, owner=owner), job.job_id)
        else:
            check_abort(job.phase)
            await self._send(AbortJob(job_id=job.job_id, owner=owner), job.job_id)
        log.info("Job phase change requested.", job_id=str(job.job_id), action=action.value,
                 phase=job.phase.value)
        return job.job_id

    async def view(self, job_id: UUID, owner: str | None) -> JobView:
        """The job as it is now: for its sub-resources (results, parameters, error, quote, owner...)."""
        return await self._load(job_id, owner)

    async def delete(self, job_id: UUID, owner: str | None) -> None:
        self._limiter.take(owner)
        job = await self._load(job_id, owner)
        await self._send(DeleteJob(job_id=job.job_id, owner=owner), job.job_id)
        log.info("Job deletion requested.", job_id=str(job.job_id), phase=job.phase.value)

    async def set_execution_duration(self, job_id: UUID, seconds: int, owner: str | None) -> UUID:
        self._limiter.take(owner)
        job = await self._load(job_id, owner)
        check_pending(job.phase, "its execution duration")
        await self._send(UpdateJob(job_id=job.job_id, owner=owner, execution_duration=seconds), job.job_id)
        return job.job_id

    async def set_destruction(self, job_id: UUID, destruction: datetime, owner: str | None) -> UUID:
        self._limiter.take(owner)
        job = await self._load(job_id, owner)
        check_destruction(job.phase, destruction, utcnow())
        await self._send(UpdateJob(job_id=job.job_id, owner=owner, destruction=destruction), job.job_id)
        return job.job_id

    async def set_parameters(self, job_id: UUID, given: Sequence[tuple[str, str]], owner: str | None) -> UUID:
        self._limiter.take(owner)
        job = await self._load(job_id, owner)
        check_pending(job.phase, "its parameters")
        workflow = await self._catalogue.workflow(job.workflow)
        if workflow is None:
            raise NotAllowedError(f"The workflow {job.workflow!r} is no longer offered; parameters are fixed.")
        merged = {name.upper(): (name, value) for name, value in job.parameters.items()}
        merged.update({name.upper(): (name, value) for name, value in given})
        parameters = resolve_parameters(workflow, list(merged.values()))
        await self._send(UpdateJob(job_id=job.job_id, owner=owner, parameters=parameters), job.job_id)
        return job.job_id

    async def result_content(self, job_id: UUID, result_id: str, owner: str | None, base_url: str = ""
                             ) -> ResultContent:
        job = await self._load(job_id, owner)
        result = find_result(job.results, result_id)
        if result is None:
            raise NotFoundError(f"Job {job.job_id} has no result {result_id!r}.")
        table = table_of(result.location)
        if table is not None:
            children = await self.children(job.job_id, owner)
            body = render(table, job.job_id, children, lambda child: job_url(base_url, child),
                          lambda child, name: result_url(base_url, child, name))
            return ResultContent(None, result.mime_type, body)
        path = await self._files.open_path(result.location)
        if path is None:
            raise NotFoundError(f"The content of result {result_id!r} cannot be served here.")
        return ResultContent(path, result.mime_type)

    async def _send(self, command: Message, job_id: UUID, *, creation: bool = False) -> None:
        """Publish ``command`` and return once the catalog settled it (or raise its refusal). A creation whose confirm
        was lost is answered as made and sent again once the broker answers (services.resending)."""
        future = self._settlements.expect(command) if self._settlements is not None else None
        try:
            await self._publisher.publish(command)
        except PublishFailedError as exc:
            if self._settlements is not None:
                self._settlements.forget(command)
            if exc.maybe_sent and isinstance(command, CreateJob) and self._resender is not None:
                self._resender.keep(command)
                return
            raise
        except BaseException:
            if self._settlements is not None:
                self._settlements.forget(command)
            raise
        if self._settlements is not None:
            await self._settlements.answer(command, job_id, future, creation=creation)

    async def usage(self, owner: str | None) -> UsageView:
        """The caller's active jobs (handed to a backend), jobs waiting in esap-batch, and quota."""
        return await self._catalog.usage(owner)

    async def children(self, job_id: UUID, owner: str | None, offset: int = 0, limit: int | None = None
                       ) -> ChildList:
        """A campaign's table of children, in sweep order (empty for a single job); ``limit`` rows from ``offset``."""
        try:
            found = await self._catalog.job_children(job_id, owner=owner, offset=offset, limit=limit)
        except ForeignJobError:
            raise NotAllowedError(f"Job {job_id} belongs to another user.") from None
        if found is None:
            raise NotFoundError(f"No job {job_id}.")
        return found

    async def _load(self, job_id: UUID, owner: str | None, *, wait: int = 0, phase: Phase | None = None) -> JobView:
        if self._resender is not None and self._resender.holds(job_id):
            raise PublishFailedError("the job's creation waits for the message broker")
        try:
            grace = self._settlements is not None and self._settlements.creating(job_id)
            job = await self._catalog.get_job(job_id, owner=owner, wait=wait, phase=phase, grace=grace)
        except ForeignJobError:
            raise NotAllowedError(f"Job {job_id} belongs to another user.") from None
        if job is None:
            raise NotFoundError(f"No job {job_id}.")
        if job.owner != owner:
            raise NotAllowedError(f"Job {job_id} belongs to another user.")
        return with_tables(job)
