"""The catalogue through the gateway with every service running: ESAP's search routes, execution planning, and a
job created without FACILITY that runs where the plan said, quoted."""

import httpx
import pytest
from tests.e2e.uws_client import create_job, wait_for_phase

pytestmark = pytest.mark.e2e


async def test_esap_routes_answer_from_the_seeded_catalogue(client: httpx.AsyncClient) -> None:
    workflows = (await client.get("/esap-api/batch/workflows/search", params={"keyword": "CORSIKA"})).json()
    assert {w["name"] for w in workflows} == {"CONCORDIA", "CTA Monte Carlo Generation"}
    assert all({"name", "description", "keywords", "url", "filepath", "workflowtype"} <= set(w) for w in workflows)
    facilities = (await client.get("/esap-api/batch/facilities/search", params={"keyword": "CTA"})).json()
    assert [(f["name"], f["facilitytype"]) for f in facilities] == [("CTADIRAC", "DiracX")]


async def test_planning_offers_only_able_facilities(client: httpx.AsyncClient) -> None:
    plan = (await client.get("/uws/plan", params={"WORKFLOW": "hello-world"})).json()
    assert [o["facility"] for o in plan["offers"]] == ["local", "ctadirac"]
    assert {r["facility"] for r in plan["refused"]} == {"rosetta-inaf-oats"}
    concordia = (await client.get("/uws/plan", params={"WORKFLOW": "concordia", "RUNNR": "1", "SEED": "7"})).json()
    assert [o["facility"] for o in concordia["offers"]] == ["ctadirac"]
    bad = await client.get("/uws/plan", params={"WORKFLOW": "concordia", "RUNNR": "1", "SEED": "7", "NSHOW": "0"})
    assert bad.status_code == 400 and "NSHOW: must be at least 1" in bad.text


async def test_a_job_without_facility_runs_on_the_best_offer_with_its_quote(client: httpx.AsyncClient) -> None:
    job_id = await create_job(client, workflow="hello-world", PHASE="RUN")
    job = await wait_for_phase(client, job_id, {"COMPLETED"}, within=30)
    assert job.quote is not None
    assert (await client.get(f"/uws/jobs/{job_id}/quote")).text != ""
    on_local = (await client.get("/uws/jobs", params={"FACILITY": "local"},
                                 headers={"Accept": "application/json"})).json()
    assert job_id in {j["jobId"] for j in on_local["jobs"]}
