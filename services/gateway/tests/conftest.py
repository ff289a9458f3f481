"""Fakes of the gateway's two ports (catalog client, publisher) and of its clock, the app wired to them, and UWS
XML checks.

The fakes keep what they were asked in lists, so tests can assert on calls without patching anything.
"""

import io
import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import xmlschema
from fastapi import FastAPI
from pyvo.io.uws import parse_job, parse_job_list

from esap_gateway.adapters.catalog import CatalogUnavailableError, ForeignJobError
from esap_gateway.adapters.publisher import PublishFailedError
from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import FINAL_PHASES, Message, Phase, new_id
from esap_messages.api import (
    AccountUsage,
    AccountView,
    CallbackVerdict,
    CallbackVerification,
    ChildList,
    ChildView,
    DiracView,
    FacilityMatches,
    FacilityStatistics,
    FacilityView,
    JobList,
    JobSummaryView,
    JobView,
    ParameterView,
    PlanningStatistics,
    UsageView,
    WorkflowMatches,
    WorkflowView,
)
from esap_messages.model import WorkflowRun

REPO_ROOT = Path(__file__).resolve().parents[3]


def workflow(slug: str, parameters: Sequence[ParameterView] = (), facility_types: Sequence[str] = ("local",)
             ) -> WorkflowView:
    return WorkflowView(
        slug=slug, name=slug.title(), description="", keywords=[], version="1", workflow_type="process",
        parameters=list(parameters), run=WorkflowRun(slug=slug, command=("true",)),
        facility_types=list(facility_types),
    )


def facility(slug: str, facility_type: str = "local") -> FacilityView:
    return FacilityView(slug=slug, name=slug, description="", url="", facility_type=facility_type,
                        backend=facility_type, runtime_engines=["process"], max_parallel=4, status="online")


WORKFLOWS = {
    w.slug: w
    for w in (
        workflow("hello-world", [ParameterView(name=f"Parameter{i}", default=d)
                                 for i, d in enumerate(("1", "2", "33", "GG", "test", "default"), start=1)],
                 facility_types=("local", "dirac", "diracx")),
        workflow("noop"),
        workflow("typed", [ParameterView(name="count", type="integer", required=True),
                           ParameterView(name="ratio", type="number"), ParameterView(name="flag", type="boolean")]),
        workflow("grid-only", facility_types=("dirac",)),
    )
}
FACILITIES = {f.slug: f for f in (facility("local"), facility("cta-dirac", "dirac"))}


class Clock:
    """A monotonic clock that moves only when a test moves ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeCatalog:
    """The catalog port in memory."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowView] = dict(WORKFLOWS)
        self.facilities: dict[str, FacilityView] = dict(FACILITIES)
        self.jobs: dict[UUID, JobView] = {}
        self.tokens: dict[UUID, str] = {}
        self.consumed: set[UUID] = set()
        self.down = False
        self.calls: list[tuple[str, Any]] = []
        self.statistics: dict[str, FacilityStatistics] = {}
        """Recent times by facility slug, for planning; a facility not here has none."""
        self.planning_down = False
        self.notify: dict[str, list[str]] = {}
        """Default NOTIFY targets by owner (their accounts)."""

    async def usage(self, owner: str | None) -> UsageView:
        self._call("usage", owner)
        mine = [j for j in self.jobs.values() if j.owner == owner and j.children is None]
        active = sum(1 for j in mine if j.phase in (Phase.QUEUED, Phase.EXECUTING) and j.waiting is None)
        return UsageView(owner=owner or "", active=active, waiting=sum(1 for j in mine if j.waiting), quota=1000)

    def _call(self, name: str, argument: Any) -> None:
        self.calls.append((name, argument))
        if self.down:
            raise CatalogUnavailableError("catalog down (fake)")

    def calls_to(self, name: str) -> list[Any]:
        return [argument for called, argument in self.calls if called == name]

    async def get_workflow(self, slug: str) -> WorkflowView | None:
        self._call("get_workflow", slug)
        return self.workflows.get(slug)

    async def get_facility(self, slug: str) -> FacilityView | None:
        self._call("get_facility", slug)
        return self.facilities.get(slug)

    async def search_workflows(self, params: Sequence[tuple[str, str]]) -> WorkflowMatches:
        """Substring match on name, description, keywords (the catalog's ranking is tested against PostgreSQL)."""
        self._call("search_workflows", list(params))
        given = dict(params)
        text = given.get("q", "").lower()
        found = [w for w in self.workflows.values()
                 if text in f"{w.name} {w.description} {' '.join(w.keywords)}".lower()]
        return WorkflowMatches(workflows=found[:int(given["limit"])], total=len(found))

    async def search_facilities(self, params: Sequence[tuple[str, str]]) -> FacilityMatches:
        self._call("search_facilities", list(params))
        given = dict(params)
        text = given.get("q", "").lower()
        found = [f for f in self.facilities.values() if text in f"{f.name} {f.description}".lower()]
        return FacilityMatches(facilities=found[:int(given["limit"])], total=len(found))

    async def planning_statistics(self, workflow: str) -> PlanningStatistics | None:
        self._call("planning_statistics", workflow)
        if self.planning_down:
            raise CatalogUnavailableError("planning statistics unavailable (fake)")
        if workflow not in self.workflows:
            return None
        return PlanningStatistics(workflow=workflow, facilities=[
            self.statistics.get(f.slug) or FacilityStatistics(facility=f, queue_seconds=None, run_seconds=None,
                                                             samples=0, active=0)
            for f in self.facilities.values()
        ])

    async def get_job(self, job_id: UUID, *, owner: str | None, wait: int = 0,
                      phase: Phase | None = None, grace: bool = False) -> JobView | None:
        self._call("get_job", {"job_id": job_id, "wait": wait, "phase": phase, "owner": owner, "grace": grace})
        job = self.jobs.get(job_id)
        if job is not None and job.owner != owner:
            raise ForeignJobError(str(job_id))
        return job

    async def list_jobs(self, *, owner: str | None, phases: Sequence[Phase], after: datetime | None,
                        last: int | None, workflow: str | None = None, facility: str | None = None,
                        run_id: str | None = None, cursor: str | None = None, parent: UUID | None = None) -> JobList:
        self._call("list_jobs", {"owner": owner, "phases": tuple(phases), "after": after, "last": last,
                                 "workflow": workflow, "facility": facility, "run_id": run_id, "cursor": cursor,
                                 "parent": parent})
        found = sorted(self.jobs.values(), key=lambda j: j.creation_time, reverse=True)
        summaries = [JobSummaryView(job_id=j.job_id, run_id=j.run_id, owner=j.owner, phase=j.phase,
                                    workflow=j.workflow, facility=j.facility, creation_time=j.creation_time,
                                    parent_id=j.parent_id, children=j.children.total if j.children else 0)
                     for j in found if j.phase in phases and (after is None or j.creation_time > after)
                     and j.owner == owner and workflow in (None, j.workflow) and facility in (None, j.facility)
                     and run_id in (None, j.run_id) and j.parent_id == parent]
        start = int(cursor) if cursor else 0
        size = last or 1000
        page = summaries[start:start + size]
        more = len(summaries) > start + size
        return JobList(jobs=page, next_cursor=str(start + size) if more else None)

    async def job_children(self, job_id: UUID, *, owner: str | None, offset: int = 0,
                           limit: int | None = None) -> ChildList | None:
        self._call("job_children", job_id)
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.owner != owner:
            raise ForeignJobError(str(job_id))
        kids = sorted((j for j in self.jobs.values() if j.parent_id == job_id), key=lambda j: j.creation_time)
        page = kids[offset:None if limit is None else offset + limit]
        return ChildList(children=[ChildView(job_id=j.job_id, swept=j.swept, phase=j.phase, attempts=j.attempts,
                                             results=[r.id for r in j.results]) for j in page],
                         total=len(kids), offset=offset)

    async def account(self, owner: str, email: str | None) -> AccountView:
        self._call("account", owner)
        return AccountView(owner=owner, email=email, webhook_secret="s" * 32, notify=self.notify.get(owner, []),
                           usage=AccountUsage(active_jobs=0))

    async def verify_callback(self, request: CallbackVerification) -> CallbackVerdict:
        self._call("verify_callback", request)
        job = self.jobs.get(request.job_id)
        if job is None or self.tokens.get(job.job_id) != request.token or job.job_id in self.consumed:
            return CallbackVerdict(job_id=request.job_id, accepted=False, reason="refused")
        if job.phase in FINAL_PHASES:
            return CallbackVerdict(job_id=request.job_id, accepted=False, reason="ended", ended=True)
        if request.final:
            self.consumed.add(job.job_id)
        return CallbackVerdict(job_id=job.job_id, accepted=True, phase=job.phase, dirac_status=job.dirac.status)

    async def verify_callbacks(self, requests: Sequence[CallbackVerification]) -> list[CallbackVerdict]:
        return [await self.verify_callback(request) for request in requests]

    async def healthy(self) -> bool:
        return not self.down


class FakePublisher:
    """The publisher port in memory: ``published`` holds what the broker 'confirmed'."""

    def __init__(self) -> None:
        self.published: list[Message] = []
        self.refuse = False
        self.lose_confirms = 0
        """How many of the next publishes leave for the broker and lose their confirm (it may hold them)."""
        self.listeners: list[Callable[[Message], None]] = []

    async def publish(self, message: Message) -> None:
        if self.refuse:
            raise PublishFailedError("not confirmed (fake)")
        if self.lose_confirms:
            self.lose_confirms -= 1
            raise PublishFailedError("confirm lost (fake)", maybe_sent=True)
        self.published.append(message)
        for listener in self.listeners:
            listener(message)

    async def healthy(self) -> bool:
        return not self.refuse


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    root = tmp_path / "jobs"
    root.mkdir()
    return root


@pytest.fixture
def settings(work_root: Path) -> Settings:
    return Settings(local_work_root=work_root, max_wait_seconds=60, default_facility="local",
                    public_base_url=None, catalogue_cache_seconds=5.0)


@pytest.fixture
async def app(settings: Settings, catalog: FakeCatalog, publisher: FakePublisher) -> AsyncIterator[FastAPI]:
    application = create_app(settings, catalog=catalog, publisher=publisher)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


@pytest.fixture
def make_job(catalog: FakeCatalog) -> Callable[..., JobView]:
    """Store a job in the fake catalog; keyword arguments override the defaults."""

    def make(**fields: Any) -> JobView:
        values: dict[str, Any] = {
            "job_id": new_id(), "run_id": None, "owner": None, "phase": Phase.PENDING, "workflow": "hello-world",
            "facility": "local", "backend": "local", "parameters": {"Parameter1": "1"},
            "creation_time": datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC), "start_time": None, "end_time": None,
            "execution_duration": 0, "destruction": None, "backend_job_id": None, "dirac": DiracView(),
            "error": None, "results": [], "history": [],
        }
        values.update(fields)
        job = JobView(**values)
        catalog.jobs[job.job_id] = job
        return job

    return make


@pytest.fixture(scope="session")
def uws_schema() -> xmlschema.XMLSchema:
    """The UWS 1.1 schema beside the project (``ESAP_UWS_XSD`` overrides); missing, the test fails."""
    path = Path(os.environ.get("ESAP_UWS_XSD", REPO_ROOT.parent / "shared" / "vo" / "UWS-v1.1.xsd"))
    if not path.is_file():
        pytest.fail(f"The UWS 1.1 schema is missing at {path} (set ESAP_UWS_XSD)", pytrace=False)
    return xmlschema.XMLSchema(str(path))


@pytest.fixture
def uws_job(uws_schema: xmlschema.XMLSchema) -> Callable[[httpx.Response], Any]:
    """Validate a uws:job answer against the schema and parse it as pyvo does."""

    def check(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        uws_schema.validate(response.content)
        return parse_job(io.BytesIO(response.content))

    return check


@pytest.fixture
def uws_job_list(uws_schema: xmlschema.XMLSchema) -> Callable[[httpx.Response], Any]:
    def check(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        uws_schema.validate(response.content)
        return parse_job_list(io.BytesIO(response.content))

    return check
