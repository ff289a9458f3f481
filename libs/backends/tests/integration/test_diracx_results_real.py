"""DiracXBackend's changes since a time and output retrieval against a real DiracX 0.7.0 (the development server):
only the jobs updated since then, in one search; a finished job's output sandbox fetched once onto this host and
listed as results."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.devserver import PILOT_GROUP, USER_GROUP, DevServer
from esap_backends.diracx.sandbox import SandboxResults
from esap_backends.diracx.testing import client_for, running_pilot
from esap_messages import DiracStatus, SubmitJob, WorkflowRun, new_id, utcnow

WORKFLOWS = Path(__file__).resolve().parents[4] / "workflows"
PARAMETERS = {"Parameter1": 'a "b" {c}=d', "Parameter2": "two words"}


def job(slug: str = "hello-world", **parameters: str) -> SubmitJob:
    if slug == "hello-world":
        run = WorkflowRun.model_validate(json.loads((WORKFLOWS / "hello-world.json").read_text())["run"])
    else:
        run = WorkflowRun(slug="sleep", command=("sleep", "60"))
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx", workflow=run, parameters=parameters,
                     execution_duration=600, callback_token=SecretStr("t" * 40))


@pytest.fixture
async def backend(diracx_server: DevServer, tmp_path: Path) -> AsyncIterator[DiracXBackend]:
    async with aiohttp.ClientSession() as session:
        client = client_for(diracx_server, session, USER_GROUP)
        made = DiracXBackend(client, FacilityPlacement(), workflows_dir=WORKFLOWS, gateway_url=None,
                             sandboxes=SandboxResults(client, session, tmp_path / "results"))
        yield made
        await made.close()


async def test_changes_since_holds_only_the_jobs_updated_since_then(backend: DiracXBackend,
                                                                    diracx_server: DevServer) -> None:
    start = utcnow()
    moved, still = await asyncio.gather(backend.submit(job("sleep")), backend.submit(job("sleep")))
    assert set(await backend.changes_since(start, [moved, still, "not-an-id"])) == {moved, still}
    await asyncio.sleep(2.1)  # DiracX keeps whole seconds: let both jobs' last update fall behind ``later``
    later = utcnow()
    assert await backend.changes_since(later, [moved, still]) == {}
    async with aiohttp.ClientSession() as session:
        await client_for(diracx_server, session, PILOT_GROUP).set_status(
            {int(moved): {"Status": "Waiting", "MinorStatus": "Pilot Agent Submission", "Source": "test"}}, utcnow())
    calls = backend.client.calls
    changed = await backend.changes_since(later, [moved, still])
    assert backend.client.calls - calls == 1  # one search, whatever the number of ids
    assert list(changed) == [moved] and changed[moved].status is DiracStatus.WAITING
    assert await backend.changes_since(later, [still]) == {}
    for dirac_id in (moved, still):
        await backend.kill(dirac_id, "test cleanup")


async def test_a_finished_jobs_output_sandbox_is_fetched_once_as_results(
        backend: DiracXBackend, diracx_server: DevServer, tmp_path: Path) -> None:
    async with running_pilot(diracx_server, tmp_path / "pilot"):
        dirac_id = await backend.submit(job(**PARAMETERS))
        deadline = asyncio.get_running_loop().time() + 60
        while (status := (await backend.bulk_status([dirac_id])).get(dirac_id)) is None or not status.is_final:
            assert asyncio.get_running_loop().time() < deadline, f"job {dirac_id} did not end: {status}"
            await asyncio.sleep(0.1)
    assert status.status is DiracStatus.DONE and status.results == ()  # a status never carries them
    results = {r.name: r for r in await backend.fetch_results(dirac_id)}
    assert {"stdout", "helloworld.json"} <= set(results)
    written = tmp_path / "results" / dirac_id / "helloworld.json"
    assert results["helloworld.json"].location == written.as_uri()
    assert results["helloworld.json"].mime_type == "application/json"
    assert json.loads(written.read_text())["Parameter1"] == PARAMETERS["Parameter1"]
    calls = backend.client.calls
    assert {r.name: r for r in await backend.fetch_results(dirac_id)} == results
    assert backend.client.calls == calls  # read from this host the second time
