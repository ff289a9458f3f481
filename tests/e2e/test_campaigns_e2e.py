"""Campaigns through the four services as processes, on real PostgreSQL and RabbitMQ and the local executor: a
100-child sweep of Hello World runs to COMPLETED with every child's own value in its result and the children's
table complete; the default list shows the campaign as one row; abort of a parent aborts every active child."""

import asyncio
import json

import httpx
import pytest
from lxml import etree
from tests.e2e.uws_client import create_job, listed, read_job, wait_for_phase

pytestmark = pytest.mark.e2e

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"


async def test_a_sweep_of_hello_world_runs_every_child_with_its_own_value(client: httpx.AsyncClient) -> None:
    campaign = await create_job(client, WORKFLOW="hello-world", FACILITY="local", SWEEP="Parameter1=1..100",
                                Parameter2="shared", PHASE="RUN")

    parent = await wait_for_phase(client, campaign, {"COMPLETED"}, within=180)

    assert [r.id_ for r in parent.results] == ["result", "children.csv", "children.json"]
    table = json.loads((await client.get(f"/uws/jobs/{campaign}/results/children.json")).content)["children"]
    assert [row["swept"] for row in table] == [{"Parameter1": str(i)} for i in range(1, 101)]
    assert {row["phase"] for row in table} == {"COMPLETED"}
    children = await listed(client, PARENT=campaign)
    assert sorted(children) == sorted(row["job_id"] for row in table)

    async def own_value(row: dict[str, object]) -> tuple[str, str]:
        [href] = [r["href"] for r in row["results"] if r["id"] == "helloworld.json"]  # type: ignore[attr-defined]
        content = json.loads((await client.get(href)).content)
        return content["Parameter1"], content["Parameter2"]

    values = await asyncio.gather(*(own_value(row) for row in table))
    assert values == [(str(i), "shared") for i in range(1, 101)]
    top = await listed(client)
    assert campaign in top and not set(children) & set(top)  # one row for the whole campaign

    info = etree.fromstring((await client.get(f"/uws/jobs/{campaign}")).content).find(f"{UWS}jobInfo")
    counts = info.find("{urn:esap-batch:jobinfo:v1}children")
    assert (counts.get("total"), counts.get("submitted")) == ("100", "100")
    assert {c.get("phase"): c.text for c in counts} == {"COMPLETED": "100"}


async def test_abort_of_a_campaign_aborts_every_active_child(client: httpx.AsyncClient) -> None:
    campaign = await create_job(client, WORKFLOW="sleep", FACILITY="local", SWEEP="seconds=120,121,122,123",
                                PHASE="RUN")
    await wait_for_phase(client, campaign, {"EXECUTING"}, within=60)

    response = await client.post(f"/uws/jobs/{campaign}/phase", data={"PHASE": "ABORT"}, follow_redirects=False)

    assert response.status_code == 303
    await wait_for_phase(client, campaign, {"ABORTED"}, within=60)
    children = await listed(client, PARENT=campaign, PHASE="ABORTED")
    assert len(children) == 4
    for child in children:
        assert (await read_job(client, child)).phase == "ABORTED"


async def test_a_job_runs_again_with_an_override(client: httpx.AsyncClient) -> None:
    first = await create_job(client, WORKFLOW="hello-world", FACILITY="local", Parameter1="first", PHASE="RUN")
    await wait_for_phase(client, first, {"COMPLETED"}, within=60)

    response = await client.post(f"/uws/jobs/{first}/resubmit", data={"Parameter1": "again", "PHASE": "RUN"},
                                 follow_redirects=False)

    assert response.status_code == 303
    again = response.headers["location"].rsplit("/", 1)[-1]
    assert again != first
    job = await wait_for_phase(client, again, {"COMPLETED"}, within=60)
    [href] = [r.href for r in job.results if r.id_ == "helloworld.json"]
    content = json.loads((await client.get(href)).content)
    assert content["Parameter1"] == "again" and content["Parameter2"] == "2"
    info = etree.fromstring((await client.get(f"/uws/jobs/{again}")).content).find(f"{UWS}jobInfo")
    assert info.findtext("{urn:esap-batch:jobinfo:v1}resubmitOf") == first
