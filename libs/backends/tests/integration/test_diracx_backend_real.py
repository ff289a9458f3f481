"""DiracXBackend against a real DiracX 0.7.0 (the development server) and the test pilot."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends import BackendError, KillOutcome, PermanentBackendError
from esap_backends.diracx import DiracXBackend, FacilityPlacement, job_name
from esap_backends.diracx.devserver import PILOT_GROUP, DevServer
from esap_backends.diracx.testing import client_for, running_pilot
from esap_messages import DiracStatus, SubmitJob, WorkflowRun, new_id, utcnow

ROOT = Path(__file__).resolve().parents[4]
WORKFLOWS = ROOT / "workflows"
TRICKY = {"Parameter1": 'say "hi"; {x} = [1]', "Parameter2": "a b\tc", "Parameter3": "k=v&w='q'",
          "Parameter4": "\\n $HOME `id`", "Parameter5": "ünïcödé ✓", "Parameter6": ""}


def hello_job(**parameters: str) -> SubmitJob:
    spec = json.loads((WORKFLOWS / "hello-world.json").read_text())
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun.model_validate(spec["run"]), parameters=parameters,
                     execution_duration=600, callback_token=SecretStr("t" * 40))


def sleep_job(seconds: int = 60) -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun(slug="sleep", command=("sleep", "{seconds}")),
                     parameters={"seconds": str(seconds)}, execution_duration=0, callback_token=SecretStr("t" * 40))


@pytest.fixture
async def backend(diracx_server: DevServer) -> AsyncIterator[DiracXBackend]:
    async with aiohttp.ClientSession() as session:
        made = DiracXBackend(client_for(diracx_server, session, "esap_user"), FacilityPlacement(sites=("LCG.X.fr",)),
                             workflows_dir=WORKFLOWS, gateway_url=None)
        yield made
        await made.close()


async def wait_for_status(backend: DiracXBackend, dirac_id: str, wanted: DiracStatus, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status = (await backend.bulk_status([dirac_id])).get(dirac_id)
        if status is not None and status.status is wanted:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"job {dirac_id} did not reach {wanted} within {within} s; it is {status}")
        await asyncio.sleep(0.1)


async def test_a_redelivered_submit_finds_the_job_already_made(backend: DiracXBackend) -> None:
    job = hello_job(Parameter1="x")
    first = await backend.submit(job)
    again = await backend.submit(job)
    assert again == first
    rows = await backend.client.search(("JobID",), [{"parameter": "JobName", "operator": "eq",
                                                     "value": job_name(job)}])
    assert [str(r["JobID"]) for r in rows] == [first]
    assert (await backend.kill(first, "test cleanup")) is KillOutcome.KILLED


async def test_submissions_arriving_together_share_one_call(backend: DiracXBackend) -> None:
    jobs = [hello_job() for _ in range(8)]
    before = backend.client.calls
    ids = await asyncio.gather(*(backend.submit(job) for job in jobs))
    assert len(set(ids)) == 8
    assert backend.client.calls - before <= 3  # token, one search, one submission
    statuses = await backend.bulk_status([*ids, "999999999", "not-an-id"])
    assert set(statuses) == set(ids)
    assert {s.status for s in statuses.values()} == {DiracStatus.RECEIVED}
    for dirac_id in ids:
        await backend.kill(dirac_id, "test cleanup")


async def test_hello_world_runs_on_the_pilot_with_its_parameters_unchanged(
        backend: DiracXBackend, diracx_server: DevServer, tmp_path: Path) -> None:
    async with running_pilot(diracx_server, tmp_path) as pilot:
        dirac_id = await backend.submit(hello_job(**TRICKY))
        await wait_for_status(backend, dirac_id, DiracStatus.DONE)
        assert int(dirac_id) in pilot.finished
    status = (await backend.bulk_status([dirac_id]))[dirac_id]
    assert status.minor_status == "Execution Complete"
    assert status.started_at is not None
    assert json.loads((tmp_path / dirac_id / "helloworld.json").read_text()) == TRICKY
    assert await backend.client.output_sandboxes(int(dirac_id))


async def test_kill_of_a_running_job_reaches_its_payload(backend: DiracXBackend, diracx_server: DevServer,
                                                         tmp_path: Path) -> None:
    async with running_pilot(diracx_server, tmp_path) as pilot:
        dirac_id = await backend.submit(sleep_job(120))
        await wait_for_status(backend, dirac_id, DiracStatus.RUNNING)
        assert await backend.kill(dirac_id, "aborted by its owner") is KillOutcome.KILLED
        deadline = asyncio.get_running_loop().time() + 20
        while int(dirac_id) not in pilot.finished:
            assert asyncio.get_running_loop().time() < deadline, "the pilot never stopped the payload"
            await asyncio.sleep(0.1)
    assert (await backend.bulk_status([dirac_id]))[dirac_id].status is DiracStatus.KILLED
    assert await backend.kill(dirac_id, "again") is KillOutcome.ALREADY_FINAL


async def test_a_job_running_through_an_outage_of_diracx_ends_done(backend: DiracXBackend, diracx_server: DevServer,
                                                                   tmp_path: Path) -> None:
    """The pilot sends its reports again while DiracX is away, as DIRAC's job wrapper does: a job that runs and
    ends during the outage is Done once the server is back, not left Running for good."""
    async with running_pilot(diracx_server, tmp_path):
        dirac_id = await backend.submit(sleep_job(2))
        await wait_for_status(backend, dirac_id, DiracStatus.RUNNING)
        await asyncio.to_thread(diracx_server.stop_api)
        try:
            await asyncio.sleep(4)  # heartbeats, the output sandbox and Done all meet a server that is away
        finally:
            await asyncio.to_thread(diracx_server.start_api)
        await wait_for_status(backend, dirac_id, DiracStatus.DONE)
    assert await backend.client.output_sandboxes(int(dirac_id))


async def test_a_refused_kill_is_reported_with_the_status_dirac_kept(backend: DiracXBackend,
                                                                     diracx_server: DevServer) -> None:
    dirac_id = await backend.submit(sleep_job())
    async with aiohttp.ClientSession() as session:
        pilot = client_for(diracx_server, session, PILOT_GROUP)
        for status in ("Waiting", "Matched", "Running", "Completing", "Completed"):
            await pilot.set_status({int(dirac_id): {"Status": status, "MinorStatus": "test", "Source": "test"}},
                                   utcnow())
    with pytest.raises(PermanentBackendError, match="still Completed"):
        await backend.kill(dirac_id, "aborted by its owner")


async def test_a_jdl_dirac_refuses_is_a_permanent_error(diracx_server: DevServer) -> None:
    async with aiohttp.ClientSession() as session:
        backend = DiracXBackend(client_for(diracx_server, session, "esap_user"),
                                FacilityPlacement(platform="no-such-platform"), workflows_dir=WORKFLOWS,
                                gateway_url=None)
        with pytest.raises(PermanentBackendError, match="HTTP 400"):
            await backend.submit(hello_job())


async def test_an_outage_is_transient_and_loses_nothing(backend: DiracXBackend, diracx_server: DevServer) -> None:
    dirac_id = await backend.submit(sleep_job())
    diracx_server.stop_api()
    try:
        with pytest.raises(BackendError) as refused:
            await backend.bulk_status([dirac_id])
        assert not isinstance(refused.value, PermanentBackendError)
        with pytest.raises(BackendError):
            await backend.submit(sleep_job())
    finally:
        await asyncio.to_thread(diracx_server.start_api)
    assert (await backend.bulk_status([dirac_id]))[dirac_id].status is DiracStatus.RECEIVED
    assert await backend.kill(dirac_id, "test cleanup") is KillOutcome.KILLED


async def test_the_token_is_taken_again_before_it_expires(diracx_server: DevServer) -> None:
    now = [0.0]
    async with aiohttp.ClientSession() as session:
        client = client_for(diracx_server, session, "esap_user")
        client._clock = lambda: now[0]  # a clock the test moves
        await client.search(("JobID",), [])
        first = client._token
        await client.search(("JobID",), [])
        assert client.calls == 3  # one exchange, two searches
        now[0] += 3600
        await client.search(("JobID",), [])
        assert client.calls == 5 and client._token != first
