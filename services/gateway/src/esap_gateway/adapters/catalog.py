"""The catalog's internal HTTP API, as the gateway uses it: a Protocol (the port) and its aiohttp client.

Bodies are the pydantic models of ``esap_messages.api``. An unreachable, slow or failing catalog raises
``CatalogUnavailableError``; "not found" (and, for callbacks, "refused") is ``None``, not an error. Requests go
through ``esap_runtime.internal_http`` (its idle timeouts and its retry of idempotent requests).
Must not depend on the services or on FastAPI; it knows no UWS rule.
"""

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import quote
from uuid import UUID

import aiohttp
import structlog
from prometheus_client import Histogram
from pydantic import BaseModel, ValidationError

from esap_messages import Phase
from esap_messages.api import (
    MAX_JOB_READS,
    MAX_VERIFICATIONS,
    AccountNotifyDefaults,
    AccountRequest,
    AccountView,
    CallbackVerdict,
    CallbackVerdicts,
    CallbackVerification,
    CallbackVerificationBatch,
    ChildList,
    FacilityMatches,
    FacilityView,
    JobList,
    JobRead,
    JobReadBatch,
    JobReadOutcome,
    JobReadOutcomes,
    JobView,
    PlanningStatistics,
    UsageView,
    WorkflowMatches,
    WorkflowView,
)
from esap_runtime.batching import Coalescer
from esap_runtime.internal_http import InternalHttpClient

log = structlog.get_logger("esap.gateway.catalog")

ModelT = TypeVar("ModelT", bound=BaseModel)
AnswerT = TypeVar("AnswerT")


class CatalogUnavailableError(Exception):
    """The catalog did not answer, answered too late, or answered something unusable."""


class ForeignJobError(Exception):
    """The job exists but belongs to someone else than the owner asked about."""


class InvalidCursorError(Exception):
    """The catalog did not recognise a paging cursor."""


def _segment(value: str) -> str:
    """A value as one path segment of an internal URL: a '?', '#', '/' or '%' in it stays part of it."""
    return quote(value, safe="")


def _scope(owner: str | None) -> list[tuple[str, str]]:
    return [("owner", owner)] if owner is not None else [("anonymous", "true")]


class CatalogClient(Protocol):
    async def get_workflow(self, slug: str) -> WorkflowView | None: ...

    async def get_facility(self, slug: str) -> FacilityView | None: ...

    async def search_workflows(self, params: Sequence[tuple[str, str]]) -> WorkflowMatches:
        """``params``: the catalog's search filters (q, keyword, workflow_type, runtime_engine, facility_type,
        limit, offset), already checked."""
        ...

    async def search_facilities(self, params: Sequence[tuple[str, str]]) -> FacilityMatches: ...

    async def planning_statistics(self, workflow: str) -> PlanningStatistics | None:
        """Every facility with its recent times for ``workflow``; None when the workflow is unknown."""
        ...

    async def account(self, owner: str, email: str | None) -> AccountView:
        """The owner's account (made on first use); ``email`` kept when given."""
        ...

    async def rotate_secret(self, owner: str, email: str | None) -> AccountView: ...

    async def set_notify(self, owner: str, targets: Sequence[str]) -> AccountView: ...

    async def get_job(self, job_id: UUID, *, owner: str | None, wait: int = 0,
                      phase: Phase | None = None, grace: bool = False) -> JobView | None:
        """``owner``'s job (None: an anonymous job), or None when unknown; ForeignJobError when it is someone
        else's. With ``wait`` > 0, once it left ``phase`` (or its current active phase) or the time ran out. With
        ``grace``, a job created moments ago and not stored yet is waited for (the catalog's creation grace)."""
        ...

    async def list_jobs(self, *, owner: str | None, phases: Sequence[Phase], after: datetime | None,
                        last: int | None, workflow: str | None = None, facility: str | None = None,
                        run_id: str | None = None, cursor: str | None = None, parent: UUID | None = None) -> JobList:
        """``owner``'s jobs only (None: anonymous jobs); raises InvalidCursorError for a cursor it did not make."""
        ...

    async def job_children(self, job_id: UUID, *, owner: str | None, offset: int = 0,
                           limit: int | None = None) -> ChildList | None:
        """A campaign's table of children (empty for a single job; ``limit`` rows from ``offset``: a page); None
        when there is no such job; ForeignJobError when it is someone else's."""
        ...

    async def verify_callback(self, request: CallbackVerification) -> CallbackVerdict:
        """The catalog's verdict: accepted (with the job's phase and backend status), or refused (``ended`` when
        only because the job had ended)."""
        ...

    async def verify_callbacks(self, requests: Sequence[CallbackVerification]) -> list[CallbackVerdict]:
        """The verdicts of many verifications, in their order (a CallbackBatch's reports)."""
        ...

    async def usage(self, owner: str | None) -> UsageView:
        """An owner's active and held jobs and quota (None: the anonymous owner)."""
        ...

    async def healthy(self) -> bool: ...


class HttpCatalogClient:
    """The catalog client over the gateway's internal HTTP client."""

    def __init__(self, http: InternalHttpClient, base_url: str, *, timeout: float,
                 latency: Histogram, creation_grace: float = 0.0) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._creation_grace = creation_grace
        self._latency = latency
        # Callbacks that arrive together are verified in one catalog request (one query).
        self._verifier: Coalescer[CallbackVerification, CallbackVerdict] = Coalescer(self._verify_batch)
        # Reads of one job that come together (WAITs woken by one catalog batch, clients polling) in one request.
        self._reader: Coalescer[JobRead, JobReadOutcome] = Coalescer(self._read_batch, max_batch=MAX_JOB_READS,
                                                                     max_in_flight=4)

    async def get_workflow(self, slug: str) -> WorkflowView | None:
        return await self._get_one("/internal/workflows/{slug}", f"/internal/workflows/{_segment(slug)}",
                                   WorkflowView)

    async def get_facility(self, slug: str) -> FacilityView | None:
        return await self._get_one("/internal/facilities/{slug}", f"/internal/facilities/{_segment(slug)}",
                                   FacilityView)

    async def search_workflows(self, params: Sequence[tuple[str, str]]) -> WorkflowMatches:
        return await self._search("/internal/workflows/search", params, WorkflowMatches)

    async def search_facilities(self, params: Sequence[tuple[str, str]]) -> FacilityMatches:
        return await self._search("/internal/facilities/search", params, FacilityMatches)

    async def planning_statistics(self, workflow: str) -> PlanningStatistics | None:
        return await self._get_one("/internal/planning/{workflow}", f"/internal/planning/{_segment(workflow)}",
                                   PlanningStatistics)

    async def get_job(self, job_id: UUID, *, owner: str | None, wait: int = 0,
                      phase: Phase | None = None, grace: bool = False) -> JobView | None:
        if wait <= 0 and not grace:
            outcome = await self._reader.submit(JobRead(job_id=job_id, owner=owner))
            if outcome.foreign:
                raise ForeignJobError(str(job_id))
            return outcome.job
        params = dict(_scope(owner))
        if grace:
            params["grace"] = "true"
        if wait > 0:
            params["wait"] = str(wait)
            if phase is not None:
                params["phase"] = phase.value
        route = "/internal/jobs/{id}?wait" if wait > 0 else "/internal/jobs/{id}"
        return await self._get_one(route, f"/internal/jobs/{job_id}", JobView, params=params,
                                   extra_time=wait + (self._creation_grace if grace else 0.0), foreign=job_id)

    async def usage(self, owner: str | None) -> UsageView:
        route = "/internal/usage" if owner is None else "/internal/usage/{owner}"
        path = "/internal/usage" if owner is None else f"/internal/usage/{_segment(owner)}"
        found = await self._get_one(route, path, UsageView)
        if found is None:
            raise self._unexpected(route, 404, b"")
        return found

    async def job_children(self, job_id: UUID, *, owner: str | None, offset: int = 0,
                           limit: int | None = None) -> ChildList | None:
        params = dict(_scope(owner))
        if offset:
            params["offset"] = str(offset)
        if limit is not None:
            params["limit"] = str(limit)
        return await self._get_one("/internal/jobs/{id}/children", f"/internal/jobs/{job_id}/children", ChildList,
                                   params=params, foreign=job_id)

    async def list_jobs(self, *, owner: str | None, phases: Sequence[Phase], after: datetime | None,
                        last: int | None, workflow: str | None = None, facility: str | None = None,
                        run_id: str | None = None, cursor: str | None = None, parent: UUID | None = None) -> JobList:
        params: list[tuple[str, str]] = [("phase", p.value) for p in phases] + _scope(owner)
        if after is not None:
            params.append(("after", after.isoformat()))
        if last is not None:
            params.append(("last", str(last)))
        for name, value in (("workflow", workflow), ("facility", facility), ("run_id", run_id),
                            ("cursor", cursor), ("parent", None if parent is None else str(parent))):
            if value is not None:
                params.append((name, value))
        status, body = await self._request("GET", "/internal/jobs", "/internal/jobs", params=params)
        if status == 400 and cursor is not None:
            raise InvalidCursorError(cursor)
        if status != 200:
            raise self._unexpected("/internal/jobs", status, body)
        return _parse(JobList, body)

    async def verify_callback(self, request: CallbackVerification) -> CallbackVerdict:
        """Coalesced with the verifications in flight into one batch request."""
        return await self._verifier.submit(request)

    async def verify_callbacks(self, requests: Sequence[CallbackVerification]) -> list[CallbackVerdict]:
        """One catalog request per MAX_VERIFICATIONS, sent together: a CallbackBatch's reports come together
        already, and a future each through the coalescer cost more than the verification itself."""
        chunks = [list(requests[start:start + MAX_VERIFICATIONS])
                  for start in range(0, len(requests), MAX_VERIFICATIONS)]
        answers = await asyncio.gather(*(self._verify_batch(chunk) for chunk in chunks))
        return [verdict for answer in answers for verdict in answer]

    async def _verify_batch(self, requests: list[CallbackVerification]) -> list[CallbackVerdict]:
        batch = CallbackVerificationBatch(items=list(requests))
        # Sent again on a broken connection only while it only reads: a final report consumes its job's token.
        read_only = not any(request.final for request in requests)
        answer = await self._post_batch("/internal/callbacks/verify-batch", batch, CallbackVerdicts, read_only)
        return self._one_each(answer.verdicts, requests, "/internal/callbacks/verify-batch")

    async def _read_batch(self, reads: list[JobRead]) -> list[JobReadOutcome]:
        answer = await self._post_batch("/internal/jobs/read-batch", JobReadBatch(items=reads), JobReadOutcomes,
                                        True)
        return self._one_each(answer.outcomes, reads, "/internal/jobs/read-batch")

    async def _post_batch(self, route: str, batch: BaseModel, answer: type[ModelT], idempotent: bool) -> ModelT:
        status, body = await self._request("POST", route, route, json_body=batch.model_dump_json(),
                                           idempotent=idempotent)
        if status != 200:
            raise self._unexpected(route, status, body)
        return _parse(answer, body)

    @staticmethod
    def _one_each(answers: list[AnswerT], asked: Sequence[object], route: str) -> list[AnswerT]:
        """A batch's answers, checked to be one per request (in order, as the catalog promises)."""
        if len(answers) != len(asked):
            raise CatalogUnavailableError(f"{route}: {len(answers)} answers for {len(asked)} requests")
        return answers

    async def account(self, owner: str, email: str | None) -> AccountView:
        return await self._post_batch("/internal/accounts", AccountRequest(owner=owner, email=email), AccountView,
                                      True)

    async def rotate_secret(self, owner: str, email: str | None) -> AccountView:
        return await self._post_batch("/internal/accounts/rotate-secret", AccountRequest(owner=owner, email=email),
                                      AccountView, False)

    async def set_notify(self, owner: str, targets: Sequence[str]) -> AccountView:
        body = AccountNotifyDefaults(owner=owner, notify=list(targets)).model_dump_json()
        status, answer = await self._request("PUT", "/internal/accounts/notify", "/internal/accounts/notify",
                                             json_body=body, idempotent=True)
        if status != 200:
            raise self._unexpected("/internal/accounts/notify", status, answer)
        return _parse(AccountView, answer)

    async def healthy(self) -> bool:
        try:
            status, _ = await self._request("GET", "/healthz", "/healthz")
        except CatalogUnavailableError:
            return False
        return status == 200

    async def _get_one(self, route: str, path: str, model: type[ModelT], *, params: dict[str, str] | None = None,
                       extra_time: float = 0, foreign: UUID | None = None) -> ModelT | None:
        """The resource, None when unknown; with ``foreign`` (a job read for its owner), 403 is ForeignJobError."""
        status, body = await self._request("GET", route, path, params=params, extra_time=extra_time)
        if status == 404:
            return None
        if status == 403 and foreign is not None:
            raise ForeignJobError(str(foreign))
        if status != 200:
            raise self._unexpected(route, status, body)
        return _parse(model, body)

    async def _search(self, route: str, params: Sequence[tuple[str, str]], model: type[ModelT]) -> ModelT:
        status, body = await self._request("GET", route, route, params=list(params))
        if status != 200:
            raise self._unexpected(route, status, body)
        return _parse(model, body)

    async def _request(self, method: str, route: str, path: str, *,
                       params: dict[str, str] | list[tuple[str, str]] | None = None,
                       json_body: str | None = None, extra_time: float = 0,
                       idempotent: bool | None = None) -> tuple[int, bytes]:
        timeout = aiohttp.ClientTimeout(total=self._timeout + extra_time)
        headers = {"Content-Type": "application/json"} if json_body is not None else None
        start = time.perf_counter()
        try:
            async with self._http.request(method, self._base + path, params=params, data=json_body,
                                          headers=headers, timeout=timeout, idempotent=idempotent) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Catalog request failed.", route=route, error=repr(exc))
            raise CatalogUnavailableError(f"catalog request {route} failed: {exc!r}") from exc
        finally:
            self._latency.labels(route).observe(time.perf_counter() - start)

    @staticmethod
    def _unexpected(route: str, status: int, body: bytes) -> CatalogUnavailableError:
        log.warning("Catalog answered an unexpected status.", route=route, status=status, body=body[:300])
        return CatalogUnavailableError(f"catalog answered {status} to {route}")


def _parse(model: type[ModelT], body: bytes) -> ModelT:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise CatalogUnavailableError(f"catalog sent an unreadable {model.__name__}: {exc}") from exc
