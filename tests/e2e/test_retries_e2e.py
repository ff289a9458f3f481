"""Automatic retries with the four services as separate processes: a local payload killed by a signal from
outside esap-batch (SIGKILL, as the kernel's OOM killer or an operator would) is retried as a second attempt and
completes, with both attempts in its history; a payload that exits 1 is not retried."""

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.uws_client import create_job, wait_for_phase

from esap_backends.local.layout import read_state
from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the launcher's subshell runs the payload as its child)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


async def payload_pid(job_dir: Path, within: float = 15.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = read_state(job_dir)
        if state is not None and state.pid is not None and (children := children_of(state.pid)):
            return children[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no payload process under {job_dir}")


async def job_json(client: httpx.AsyncClient, job_id: str) -> dict:
    response = await client.get(f"/uws/jobs/{job_id}", headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_payload_killed_from_outside_is_retried_and_completes(stack: Stack, client: httpx.AsyncClient,
                                                                     work_root: Path) -> None:
    job_id = await create_job(client, workflow="sleep", facility="local", seconds="4", PHASE="RUN")
    await wait_for_phase(client, job_id, {"EXECUTING"}, within=30)

    os.kill(await payload_pid(work_root / job_id), signal.SIGKILL)

    await wait_for_phase(client, job_id, {"COMPLETED"}, within=60)
    job = await job_json(client, job_id)
    info = job["jobInfo"]
    assert info["attempts"] == 2 and info["backendJobId"] == f"{job_id}_2"
    [past] = info["pastAttempts"]
    assert past["number"] == 1 and past["backendJobId"] == job_id and past["failureClass"] == "transient"
    assert "signal 9" in past["message"] and past["startTime"] and past["endTime"]
    assert job["errorSummary"] is None
    assert (work_root / f"{job_id}_2" / ".exit_code").read_text() == "0"

    xml = (await client.get(f"/uws/jobs/{job_id}")).text
    assert "<esap:attempts>2</esap:attempts>" in xml and 'failureClass="transient"' in xml
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.ports['catalog']}") as catalog:
        view = (await catalog.get(f"/internal/jobs/{job_id}")).json()  # the phase history is the catalog's
    phases = [(h["phase"], h["detail"]) for h in view["history"]]
    assert [phase for phase, _ in phases] == ["QUEUED", "EXECUTING", "QUEUED", "EXECUTING", "COMPLETED"]
    assert phases[2][1].startswith("attempt 2 of 3 after: killed by signal 9 (SIGKILL)")


async def test_a_payload_that_exits_1_is_not_retried(client: httpx.AsyncClient, work_root: Path) -> None:
    job_id = await create_job(client, workflow="sleep", facility="local", seconds="not-a-number", PHASE="RUN")

    await wait_for_phase(client, job_id, {"ERROR"}, within=30)

    job = await job_json(client, job_id)
    assert job["errorSummary"]["type"] == "fatal" and job["errorSummary"]["failureClass"] == "fatal"
    assert job["jobInfo"]["attempts"] == 1 and job["jobInfo"]["pastAttempts"] == []
    assert not (work_root / f"{job_id}_2").exists()
