"""The catalogue's own workflows and facilities (the repository's files): a container workflow is offered only
where its engine runs, and a job naming a facility that cannot run its container is refused before it exists."""

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx

from esap_gateway.domain.planning import refusal
from esap_messages.api import FacilityView, WorkflowView

from ..conftest import FakeCatalog, FakePublisher

REPO = Path(__file__).resolve().parents[4]
FORM = {"content-type": "application/x-www-form-urlencoded"}


def definitions(kind: str) -> dict[str, dict[str, object]]:
    found = {}
    for path in sorted((REPO / kind).glob("*.json")):
        document = json.loads(path.read_text())
        document.pop("$schema", None)
        found[document["slug"]] = document
    return found


WORKFLOWS = {slug: WorkflowView.model_validate(d) for slug, d in definitions("workflows").items()}
FACILITIES = {slug: FacilityView.model_validate(d) for slug, d in definitions("facilities").items()}


def anywhere(slug: str) -> WorkflowView:
    """The repository's workflow, allowed on every facility type: only its runtime can refuse a facility."""
    return WORKFLOWS[slug].model_copy(update={"facility_types": ["local", "dirac", "diracx"]})


def test_container_workflows_are_refused_by_the_local_executor_and_taken_by_ctadirac() -> None:
    for slug, engine in (("cta-mc-generation", "docker"), ("concordia", "singularity")):
        assert refusal(WORKFLOWS[slug], FACILITIES["local"], 0) is not None  # by facility type already
        reason = refusal(anywhere(slug), FACILITIES["local"], 0)
        assert reason is not None and f"needs the {engine} runtime; the facility offers process" in reason
        assert refusal(WORKFLOWS[slug], FACILITIES["ctadirac"], 0) is None
    assert refusal(WORKFLOWS["hello-world"], FACILITIES["local"], 0) is None


def test_a_docker_workflow_is_refused_by_a_facility_that_lists_only_apptainer() -> None:
    # A facility declares the images it takes: one running Docker images with Apptainer lists docker too.
    apptainer_only = FACILITIES["ctadirac"].model_copy(update={"runtime_engines": ["apptainer"]})
    reason = refusal(WORKFLOWS["cta-mc-generation"], apptainer_only, 0)
    assert reason is not None and "needs the docker runtime; the facility offers apptainer" in reason
    takes_docker = apptainer_only.model_copy(update={"runtime_engines": ["apptainer", "docker"]})
    assert refusal(WORKFLOWS["cta-mc-generation"], takes_docker, 0) is None


async def test_a_job_naming_local_for_a_container_workflow_is_refused(
        client: httpx.AsyncClient, catalog: FakeCatalog, publisher: FakePublisher) -> None:
    catalog.workflows = {**WORKFLOWS, "cta-mc-generation": anywhere("cta-mc-generation")}
    catalog.facilities = dict(FACILITIES)
    response = await client.post("/uws/jobs", headers=FORM, content=urlencode(
        {"WORKFLOW": "cta-mc-generation", "FACILITY": "local", "run_number": "1", "seed": "2"}))
    assert response.status_code == 400, response.text
    assert "facility 'local' cannot run this job" in response.text
    assert "needs the docker runtime" in response.text
    assert publisher.published == []
