"""The catalog's internal HTTP API (docs/ARCHITECTURE.md), answered with the models of esap_messages.api.

Each route parses, makes one call to a service, and maps the answer; the services' refusals are mapped for every
route at once by ``handlers.errors``. Bodies are serialised once, by the model itself. Depends on the factory (through
``handlers.dependencies``) and services; of storage, only on the search queries' value types.
"""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from esap_catalog.handlers.dependencies import FactoryDep
from esap_catalog.services.jobs import JobFilter, Scope
from esap_catalog.storage.search import FacilityQuery, WorkflowQuery
from esap_messages import Phase
from esap_messages.api import (
    AccountNotifyDefaults,
    AccountRequest,
    AccountView,
    ActiveJobList,
    CallbackVerdicts,
    CallbackVerification,
    CallbackVerificationBatch,
    CallbackVerified,
    ChildList,
    FacilityList,
    FacilityMatches,
    FacilityView,
    JobList,
    JobReadBatch,
    JobReadOutcomes,
    JobView,
    PlanningStatistics,
    UsageView,
    WorkflowList,
    WorkflowMatches,
    WorkflowView,
)

router = APIRouter(prefix="/internal", tags=["internal"])


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _found(model: BaseModel | None, what: str) -> Response:
    if model is None:
        raise HTTPException(404, f"no such {what}")
    return _json(model)


def _scope(owner: str | None, anonymous: bool) -> Scope:
    """``owner=x``: x's jobs only; ``anonymous=true``: jobs without an owner only; neither: every job."""
    if owner is not None and anonymous:
        raise HTTPException(400, "owner and anonymous exclude each other")
    return Scope(scoped=owner is not None or anonymous, owner=owner)


@router.get("/jobs/{job_id}", response_model=JobView,
            summary="One job; with wait, once it changed; 403 when owner/anonymous names someone else")
async def get_job(job_id: UUID, factory: FactoryDep, wait: float | None = None, phase: Phase | None = None,
                  owner: str | None = None, anonymous: bool = False, grace: bool = False) -> Response:
    """With ``grace``, a job created moments ago (its UUIDv7 says when) and not stored yet is waited for: the
    gateway asks for it only for a creation it sent and has not seen stored."""
    scope = _scope(owner, anonymous)
    return _found(await factory.jobs.job(job_id, wait=wait, phase=phase, scope=scope, grace=grace), "job")


@router.post("/jobs/read-batch", response_model=JobReadOutcomes,
             summary="Many jobs at once, each for its reader, never waiting; outcomes in request order")
async def read_jobs(body: JobReadBatch, factory: FactoryDep) -> Response:
    return _json(JobReadOutcomes(outcomes=await factory.jobs.read_many(body.items)))


@router.get("/jobs", response_model=JobList, summary="Jobs, newest first, one page at a time (next_cursor)")
async def list_jobs(factory: FactoryDep, owner: str | None = None, anonymous: bool = False,
                    phase: Annotated[list[Phase] | None, Query()] = None, after: datetime | None = None,
                    workflow: str | None = None, facility: str | None = None, run_id: str | None = None,
                    parent: UUID | None = None, last: Annotated[int | None, Query(ge=1)] = None,
                    limit: Annotated[int | None, Query(ge=1)] = None, cursor: str | None = None) -> Response:
    if after is not None and after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    scope = _scope(owner, anonymous)
    where = JobFilter(phases=phase or (), scoped=scope.scoped, owner=owner, after=after, workflow=workflow,
                      facility=facility, run_id=run_id, parent=parent)
    return _json(await factory.jobs.jobs(where, last=last, limit=limit, cursor=cursor))


@router.get("/jobs/{job_id}/children", response_model=ChildList,
            summary="A campaign's table of children, in sweep order; 403 when owner/anonymous names someone else")
async def job_children(job_id: UUID, factory: FactoryDep, owner: str | None = None, anonymous: bool = False,
                       offset: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return _found(await factory.jobs.children(job_id, scope=_scope(owner, anonymous), offset=offset, limit=limit),
                  "job")


@router.get("/usage/{owner}", response_model=UsageView,
            summary="An owner's active jobs, jobs held in esap-batch, and quota")
async def usage(owner: str, factory: FactoryDep) -> Response:
    return _json(await factory.jobs.usage(owner))


@router.get("/usage", response_model=UsageView, summary="The anonymous owner's usage (as /usage/{owner})")
async def anonymous_usage(factory: FactoryDep) -> Response:
    return _json(await factory.jobs.usage(""))


@router.get("/active-jobs", response_model=ActiveJobList, summary="Jobs a backend holds, for the monitor")
async def active_jobs(factory: FactoryDep) -> Response:
    return _json(await factory.jobs.active_jobs())


@router.post("/callbacks/verify", response_model=CallbackVerified, summary="Check a running job's token")
async def verify_callback(body: CallbackVerification, factory: FactoryDep) -> Response:
    return _json(await factory.callbacks.verify(body))


@router.post("/callbacks/verify-batch", response_model=CallbackVerdicts,
             summary="Check many running jobs' tokens at once; verdicts in request order")
async def verify_callbacks(body: CallbackVerificationBatch, factory: FactoryDep) -> Response:
    return _json(CallbackVerdicts(verdicts=await factory.callbacks.verify_many(body.items)))


@router.get("/workflows/search", response_model=WorkflowMatches,
            summary="Ranked full-text search (q) over name, keywords, description; filters; paging")
async def search_workflows(factory: FactoryDep, q: str | None = None, keyword: str | None = None,
                           workflow_type: str | None = None, runtime_engine: str | None = None,
                           facility_type: str | None = None, limit: Annotated[int, Query(ge=1)] = 50,
                           offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    query = WorkflowQuery(text=q or None, keyword=keyword or None, workflow_type=workflow_type or None,
                          runtime_engine=runtime_engine or None, facility_type=facility_type or None,
                          limit=min(limit, factory.settings.search_limit), offset=offset)
    return _json(await factory.catalogue.search_workflows(query))


@router.get("/facilities/search", response_model=FacilityMatches,
            summary="Ranked full-text search (q) over name, type, engines, description; filters; paging")
async def search_facilities(factory: FactoryDep, q: str | None = None, facility_type: str | None = None,
                            runtime_engine: str | None = None, status: str | None = None,
                            limit: Annotated[int, Query(ge=1)] = 50,
                            offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    query = FacilityQuery(text=q or None, facility_type=facility_type or None, runtime_engine=runtime_engine or None,
                          status=status or None, limit=min(limit, factory.settings.search_limit), offset=offset)
    return _json(await factory.catalogue.search_facilities(query))


@router.get("/planning/{workflow}", response_model=PlanningStatistics,
            summary="Every facility with its recent queue time, the workflow's run time there, its active jobs")
async def planning_statistics(workflow: str, factory: FactoryDep) -> Response:
    return _found(await factory.catalogue.statistics(workflow), "workflow")


@router.get("/workflows", response_model=WorkflowList)
async def list_workflows(factory: FactoryDep) -> Response:
    return _json(await factory.catalogue.workflows())


@router.get("/workflows/{slug}", response_model=WorkflowView)
async def get_workflow(slug: str, factory: FactoryDep) -> Response:
    return _found(await factory.catalogue.workflow(slug), "workflow")


@router.get("/facilities", response_model=FacilityList)
async def list_facilities(factory: FactoryDep) -> Response:
    return _json(await factory.catalogue.facilities())


@router.get("/facilities/{slug}", response_model=FacilityView)
async def get_facility(slug: str, factory: FactoryDep) -> Response:
    return _found(await factory.catalogue.facility(slug), "facility")


@router.post("/accounts", response_model=AccountView, summary="The owner's account, made on first use")
async def account(body: AccountRequest, factory: FactoryDep) -> Response:
    return _json(await factory.accounts.account(body.owner, body.email))


@router.post("/accounts/rotate-secret", response_model=AccountView, summary="A new webhook signing secret")
async def rotate_secret(body: AccountRequest, factory: FactoryDep) -> Response:
    return _json(await factory.accounts.rotate_secret(body.owner, body.email))


@router.put("/accounts/notify", response_model=AccountView, summary="The owner's default NOTIFY targets")
async def set_notify(body: AccountNotifyDefaults, factory: FactoryDep) -> Response:
    return _json(await factory.accounts.set_notify(body.owner, body.notify))
