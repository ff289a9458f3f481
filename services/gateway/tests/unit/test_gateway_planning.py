"""Execution planning: offers only from facilities able to run the workflow (type, runtime, status, limits),
best (earliest end) first; /uws/plan; a job created without FACILITY goes to the best offer, quoted."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from esap_gateway.config import Settings
from esap_gateway.domain.planning import plan
from esap_gateway.main import create_app
from esap_messages import CreateJob
from esap_messages.api import FacilityStatistics, FacilityView, RuntimeView, WorkflowView

from ..conftest import FakeCatalog, FakePublisher, workflow

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FORM = {"content-type": "application/x-www-form-urlencoded"}


def facility(slug: str, facility_type: str = "diracx", *, engines: tuple[str, ...] = ("process",),
             status: str = "online", queue: int = 60, max_parallel: int = 10, limit: int = 0) -> FacilityView:
    return FacilityView(slug=slug, name=slug.upper(), description="", url="", facility_type=facility_type,
                        backend=facility_type, runtime_engines=list(engines), max_parallel=max_parallel,
                        status=status, expected_queue_seconds=queue, max_execution_duration=limit)


def stats(view: FacilityView, queue: float | None = None, run: float | None = None, active: int = 0
          ) -> FacilityStatistics:
    return FacilityStatistics(facility=view, queue_seconds=queue, run_seconds=run, samples=0 if run is None else 5,
                              active=active)


def container_workflow() -> WorkflowView:
    base = workflow("mc", facility_types=("dirac", "diracx"))
    return base.model_copy(update={"runtime": RuntimeView(engine="singularity", image="docker://mc:1"),
                                   "expected_run_seconds": 600})


def test_only_able_facilities_are_offered_and_the_others_say_why() -> None:
    candidates = [
        stats(facility("here", "local", engines=("process", "singularity"))),
        stats(facility("grid", engines=("process", "docker"))),
        stats(facility("hpc", engines=("apptainer",), queue=30)),
        stats(facility("closed", engines=("singularity",), status="offline")),
        stats(facility("leaving", engines=("singularity",), status="draining")),
    ]
    answer = plan(container_workflow(), {}, candidates, execution_duration=0, now=NOW)
    assert [o.facility for o in answer.offers] == ["hpc"]
    reasons = {r.facility: r.reason for r in answer.refused}
    assert "runs on facilities of type dirac, diracx, not 'local'" in reasons["here"]
    assert "needs the singularity runtime; the facility offers process, docker" in reasons["grid"]
    assert "offline" in reasons["closed"] and "draining" in reasons["leaving"]
    [offer] = answer.offers
    assert offer.estimated_start == NOW + timedelta(seconds=30)
    assert offer.estimated_end == NOW + timedelta(seconds=630) and offer.basis == "default"


def test_the_offer_that_ends_first_is_best_and_history_beats_assumptions() -> None:
    quick_queue_slow_run = stats(facility("a", queue=5), queue=5, run=1000)
    slow_queue_quick_run = stats(facility("b", queue=5), queue=100, run=10)
    full = stats(facility("c", max_parallel=2), queue=0, run=50, active=5)
    limited = stats(facility("d", limit=3600))
    answer = plan(workflow("w", facility_types=("diracx",)), {"x": "1"}, [quick_queue_slow_run,
                  slow_queue_quick_run, full, limited], execution_duration=7200, now=NOW)
    assert [o.facility for o in answer.offers] == ["b", "c", "a"]
    by_slug = {o.facility: o for o in answer.offers}
    assert by_slug["b"].estimated_end == NOW + timedelta(seconds=110) and by_slug["b"].basis == "history"
    # Full: 4 jobs ahead of this one beyond the 2 slots, each slot taking 50 s per job: 100 s more queue.
    assert by_slug["c"].queue_seconds == 100.0
    assert [r.facility for r in answer.refused] == ["d"]  # 7200 s asked, at most 3600 there
    assert plan(workflow("w", facility_types=("diracx",)), {}, [limited], execution_duration=60,
                now=NOW).offers[0].run_seconds == 60.0


@pytest.fixture
def settings(work_root: Path) -> Settings:
    return Settings(local_work_root=work_root, max_wait_seconds=60, default_facility=None,
                    public_base_url=None, catalogue_cache_seconds=5.0)


@pytest.fixture
async def planned_app(settings: Settings, catalog: FakeCatalog, publisher: FakePublisher
                      ) -> AsyncIterator[FastAPI]:
    catalog.facilities = {f.slug: f for f in (facility("local", "local", queue=1), facility("cta-dirac", "dirac"),
                                                facility("down", "local", status="offline", queue=0))}
    application = create_app(settings, catalog=catalog, publisher=publisher)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(planned_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=planned_app),
                                 base_url="http://gateway.test") as client:
        yield client


async def test_uws_plan_answers_offers_per_facility(http: httpx.AsyncClient, catalog: FakeCatalog) -> None:
    catalog.statistics["cta-dirac"] = stats(catalog.facilities["cta-dirac"], queue=0.5, run=1.0)
    response = await http.get("/uws/plan", params={"WORKFLOW": "hello-world", "parameter1": "x"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow"] == "hello-world" and body["parameters"]["Parameter1"] == "x"
    assert [o["facility"] for o in body["offers"]] == ["cta-dirac", "local"]
    assert set(body["offers"][0]) >= {"estimated_start", "estimated_end", "queue_seconds", "run_seconds", "basis"}
    assert body["refused"] == [{"facility": "down", "reason": "the facility is offline and takes no new jobs"}]
    posted = await http.post("/uws/plan", content=urlencode({"WORKFLOW": "noop"}), headers=FORM)
    assert [o["facility"] for o in posted.json()["offers"]] == ["local"]
    bad = await http.get("/uws/plan", params={"WORKFLOW": "typed", "count": "many"})
    assert bad.status_code == 400 and "count: must be an integer" in bad.text


async def test_a_sweep_is_planned_as_its_children_in_waves_of_each_facilitys_slots(
        http: httpx.AsyncClient, catalog: FakeCatalog) -> None:
    cta = catalog.facilities["cta-dirac"]
    catalog.statistics["cta-dirac"] = stats(cta, queue=0.5, run=10.0)
    single = (await http.get("/uws/plan", params={"WORKFLOW": "hello-world"})).json()
    sweep = (await http.get("/uws/plan", params=[("WORKFLOW", "hello-world"), ("SWEEP", "parameter1=1..9")])).json()
    waves = -(-9 // cta.max_parallel)
    [one] = [o for o in single["offers"] if o["facility"] == "cta-dirac"]
    [many] = [o for o in sweep["offers"] if o["facility"] == "cta-dirac"]
    assert (single["children"], sweep["children"]) == (1, 9)
    assert many["run_seconds"] == one["run_seconds"] * waves
    assert "Parameter1" not in sweep["parameters"]  # each child's own
    bad = await http.get("/uws/plan", params=[("WORKFLOW", "typed"), ("SWEEP", "count=1,x")])
    assert bad.status_code == 400 and "'x'" in bad.text


async def test_a_job_without_facility_goes_to_the_best_offer_with_its_quote(
        http: httpx.AsyncClient, catalog: FakeCatalog, publisher: FakePublisher) -> None:
    response = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "hello-world"}), headers=FORM)
    assert response.status_code == 303, response.text
    [command] = publisher.published
    assert isinstance(command, CreateJob) and command.facility == "local"
    assert command.quote is not None and command.quote > command.occurred_at
    grid = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "grid-only"}), headers=FORM)
    assert grid.status_code == 303 and publisher.published[-1].facility == "cta-dirac"


async def test_a_job_on_a_chosen_facility_is_quoted_too_and_created_when_no_quote_can_be_made(
        http: httpx.AsyncClient, catalog: FakeCatalog, publisher: FakePublisher) -> None:
    catalog.statistics["cta-dirac"] = stats(catalog.facilities["cta-dirac"], queue=30, run=90)
    chosen = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "hello-world", "FACILITY": "cta-dirac"}),
                             headers=FORM)
    assert chosen.status_code == 303
    command = publisher.published[-1]
    assert command.facility == "cta-dirac" and command.quote is not None
    assert abs((command.quote - command.occurred_at).total_seconds() - 120) < 5
    catalog.planning_down = True
    unquoted = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop", "FACILITY": "local"}),
                               headers=FORM)
    assert unquoted.status_code == 303 and publisher.published[-1].quote is None
    unplanned = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop"}), headers=FORM)
    assert unplanned.status_code == 503  # no facility named and none can be chosen: try again later


async def test_a_job_no_facility_can_run_is_refused_naming_the_reasons(
        http: httpx.AsyncClient, catalog: FakeCatalog, publisher: FakePublisher) -> None:
    catalog.workflows["mc"] = container_workflow()
    response = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "mc"}), headers=FORM)
    assert response.status_code == 400
    assert response.text.startswith("FACILITY: no facility can run workflow 'mc'")
    assert "cta-dirac: workflow 'mc' needs the singularity runtime" in response.text
    offline = await http.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop", "FACILITY": "down"}),
                              headers=FORM)
    assert offline.status_code == 400 and "facility 'down' cannot run this job" in offline.text
    assert publisher.published == []
