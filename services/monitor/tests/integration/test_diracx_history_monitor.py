"""The monitor polling a real DiracX 0.7.0 (the development server, jobs moved by the test pilot): the final
status it publishes carries DIRAC's logging history of the job, Received -> Matched -> Running -> Done."""

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.devserver import USER_GROUP, DevServer
from esap_backends.diracx.testing import client_for, diracx_server, running_pilot  # noqa: F401  (a fixture)
from esap_messages import DiracStatus, JobStatusObserved, JobSubmitted, Message, SubmitJob, WorkflowRun, new_id
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker

WORKFLOWS = Path(__file__).resolve().parents[4] / "workflows"


async def test_the_final_status_carries_the_jobs_dirac_history(diracx_server: DevServer,  # noqa: F811
                                                               tmp_path: Path) -> None:
    spec = json.loads((WORKFLOWS / "hello-world.json").read_text())
    job = SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                    workflow=WorkflowRun.model_validate(spec["run"]), parameters={"Parameter1": "1"},
                    execution_duration=600, callback_token=SecretStr("t" * 40))
    published: list[JobStatusObserved] = []

    async def publish(messages: Sequence[Message]) -> None:
        published.extend(m for m in messages if isinstance(m, JobStatusObserved))

    async with aiohttp.ClientSession() as session:
        backend = DiracXBackend(client_for(diracx_server, session, USER_GROUP), FacilityPlacement(),
                                workflows_dir=WORKFLOWS, gateway_url=None, full_poll_seconds=60.0)
        tracker = Tracker(catalog_lag_seconds=5.0)
        tracker.learn_facilities([("ctadirac", "diracx")])
        poller = StatusPoller(tracker, {"diracx": backend}, publish, MonitorMetrics(CollectorRegistry()),
                              interval=0.2, chunk_size=5000, coalesce_seconds=0.0)
        async with running_pilot(diracx_server, tmp_path):
            dirac_id = await backend.submit(job)
            tracker.apply([JobSubmitted(job_id=job.job_id, facility="ctadirac", backend_job_id=dirac_id)], 0.0)
            deadline = asyncio.get_running_loop().time() + 60
            while not any(m.status is DiracStatus.DONE for m in published):
                if asyncio.get_running_loop().time() > deadline:
                    pytest.fail(f"no Done observation within 60 s: {[m.status for m in published]}")
                await poller.poll(due_only=False)
                await asyncio.sleep(0.2)
        await backend.close()

    final = published[-1]
    assert final.job_id == job.job_id and final.status is DiracStatus.DONE
    assert final.history is not None
    statuses = [entry.status for entry in final.history]
    assert statuses[0] == "Received"
    assert [s for s in statuses if s in {"Matched", "Running", "Done"}] == ["Matched", "Running", "Done"]
    assert statuses.index("Matched") < statuses.index("Running") < statuses.index("Done")
    assert final.history[-1].minor_status == "Execution Complete"
    assert [e.at for e in final.history] == sorted(e.at for e in final.history)
    assert all(m.history for m in published)  # every change carried the history so far
