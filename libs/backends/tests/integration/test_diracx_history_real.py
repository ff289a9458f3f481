"""DIRAC's logging history read from a real DiracX 0.7.0 (the development server), in one call for many jobs."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.devserver import DevServer
from esap_backends.diracx.testing import client_for, running_pilot
from esap_messages import DiracStatus, SubmitJob, WorkflowRun, new_id

WORKFLOWS = Path(__file__).resolve().parents[4] / "workflows"


def hello_job() -> SubmitJob:
    spec = json.loads((WORKFLOWS / "hello-world.json").read_text())
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun.model_validate(spec["run"]), parameters={"Parameter1": "x"},
                     execution_duration=600, callback_token=SecretStr("t" * 40))


@pytest.fixture
async def backend(diracx_server: DevServer) -> AsyncIterator[DiracXBackend]:
    async with aiohttp.ClientSession() as session:
        made = DiracXBackend(client_for(diracx_server, session, "esap_user"), FacilityPlacement(),
                             workflows_dir=WORKFLOWS, gateway_url=None)
        yield made
        await made.close()


async def wait_for_done(backend: DiracXBackend, ids: list[str], within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        statuses = await backend.bulk_status(ids)
        if all(s.status is DiracStatus.DONE for s in statuses.values()) and len(statuses) == len(ids):
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"jobs not Done within {within} s: {statuses}")
        await asyncio.sleep(0.2)


async def test_the_history_of_jobs_that_ran_arrives_in_one_call(backend: DiracXBackend, diracx_server: DevServer,
                                                                tmp_path: Path) -> None:
    async with running_pilot(diracx_server, tmp_path):
        ids = list(await asyncio.gather(backend.submit(hello_job()), backend.submit(hello_job())))
        await wait_for_done(backend, ids)
    before = backend.client.calls
    histories = await backend.bulk_history([*ids, "999999999", "not-an-id"])
    assert backend.client.calls - before == 1
    assert set(histories) == set(ids)
    for dirac_id in ids:
        history = histories[dirac_id]
        statuses = [entry.status for entry in history]
        assert statuses[0] == "Received"
        assert [s for s in statuses if s in {"Matched", "Running", "Done"}] == ["Matched", "Running", "Done"]
        assert statuses.index("Matched") < statuses.index("Running") < statuses.index("Done")
        assert [entry.at for entry in history] == sorted(entry.at for entry in history)
        assert all(entry.at.utcoffset() is not None for entry in history)
        assert history[-1].minor_status == "Execution Complete"
        assert {"TestPilot"} <= {entry.source for entry in history}
