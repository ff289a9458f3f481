"""DiracBackend over a fake bridge: idempotent submission, one bulk call for many jobs, kills read back, and
DIRAC's S_OK/S_ERROR answers mapped to statuses, BackendError or PermanentBackendError."""

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends import BackendError, KillOutcome, PermanentBackendError
from esap_backends.dirac import DiracBackend
from esap_backends.dirac.testing import FakeBridge
from esap_backends.grid import FacilityPlacement
from esap_messages import DiracStatus, SubmitJob, WorkflowRun

JOB_ID = UUID("01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a")
NAME = f"esap-{JOB_ID}"


def job() -> SubmitJob:
    return SubmitJob(job_id=JOB_ID, facility="ctadirac", backend="dirac",
                     workflow=WorkflowRun(slug="sleep", command=("sleep", "{seconds}")),
                     parameters={"seconds": "5"}, execution_duration=60, callback_token=SecretStr("t" * 32))


def row(status: str, minor: str = "", app: str = "", site: str = "") -> dict[str, str]:
    return {"Status": status, "MinorStatus": minor, "ApplicationStatus": app, "Site": site}


def backend(bridge: FakeBridge, timeout_seconds: float = 5.0, chunk_size: int = 1000) -> DiracBackend:
    return DiracBackend(bridge.client(timeout_seconds=timeout_seconds), FacilityPlacement(job_group="esap"),
                        workflows_dir=None, gateway_url="http://gw", chunk_size=chunk_size)


async def test_a_new_job_is_looked_for_by_name_then_submitted(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"value": []}], "submit": [{"value": 4242}]})
    dirac = backend(bridge)
    try:
        assert await dirac.submit(job()) == "4242"
    finally:
        await dirac.close()
    assert [r["args"] for r in bridge.requests("find_by_name")] == [{"name": NAME, "job_group": "esap"}]
    calls = bridge.requests("submit")[0]["args"]["description"]["calls"]
    assert calls[0] == {"method": "setName", "args": [NAME], "kwargs": {}}
    assert calls[2]["kwargs"]["arguments"].count("http://gw/uws/jobs/") == 0  # inside the base64 spec only


async def test_a_redelivered_job_finds_the_job_already_made_and_submits_nothing(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"value": [77]}]})
    dirac = backend(bridge)
    try:
        assert await dirac.submit(job()) == "77"
    finally:
        await dirac.close()
    assert bridge.requests("submit") == []


async def test_the_same_job_twice_at_once_is_submitted_once(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"sleep": 0.3, "value": []}], "submit": [{"value": 5}]})
    dirac = backend(bridge)
    try:
        assert list(await asyncio.gather(dirac.submit(job()), dirac.submit(job()))) == ["5", "5"]
    finally:
        await dirac.close()
    assert len(bridge.requests("submit")) == 1


async def test_a_job_dirac_refuses_is_a_permanent_error_and_an_unreachable_dirac_a_transient_one(
        tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"value": []}], "submit": [
        {"error": {"message": "DIRAC refused setDestination: Specified site X is not in list of defined sites",
                   "kind": "refused"}},
        {"error": {"message": "Cannot connect to dips://wms.example:9132", "kind": "dirac"}},
    ]})
    dirac = backend(bridge)
    try:
        with pytest.raises(PermanentBackendError, match="not in list of defined sites"):
            await dirac.submit(job())
        with pytest.raises(BackendError, match="Cannot connect") as raised:
            await dirac.submit(job())
        assert not isinstance(raised.value, PermanentBackendError)
    finally:
        await dirac.close()


async def test_a_hung_submission_is_a_transient_error(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"value": []}], "submit": [{"hang": True}]})
    dirac = backend(bridge, timeout_seconds=0.5)
    try:
        with pytest.raises(BackendError, match="took over") as raised:
            await dirac.submit(job())
        assert not isinstance(raised.value, PermanentBackendError)
    finally:
        await dirac.close()


async def test_many_statuses_come_from_one_call_per_chunk(tmp_path: Path) -> None:
    rows = {"1": row("Running", "Application", "Executing", "LCG.CNAF.it"), "2": row("Done", "Execution Complete"),
            "3": row("Failed", "Application Finished With Errors", "exit 3"), "4": row("Teleported")}
    bridge = FakeBridge(tmp_path, {"bulk_status": [{"value": rows}]})
    dirac = backend(bridge, chunk_size=3)
    try:
        statuses = await dirac.bulk_status(["1", "2", "3", "4", "5", "not-a-dirac-id", "1"])
    finally:
        await dirac.close()
    assert [r["args"]["job_ids"] for r in bridge.requests("bulk_status")] == [[1, 2, 3], [4, 5]]
    assert set(statuses) == {"1", "2", "3"}  # an unknown status is logged, not reported
    assert statuses["1"].status is DiracStatus.RUNNING and statuses["1"].site == "LCG.CNAF.it"
    assert statuses["1"].application_status == "Executing"
    assert statuses["2"].status is DiracStatus.DONE and statuses["2"].error is None
    assert statuses["3"].error == "DIRAC: Application Finished With Errors; exit 3"


async def test_a_status_call_dirac_fails_is_transient(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"bulk_status": [{"error": {"message": "Database error", "kind": "dirac"}}]})
    dirac = backend(bridge)
    try:
        with pytest.raises(BackendError) as raised:
            await dirac.bulk_status(["1"])
        assert not isinstance(raised.value, PermanentBackendError)
    finally:
        await dirac.close()


async def test_a_kill_is_confirmed_by_reading_the_status_back(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"bulk_status": [{"value": {"9": row("Running")}}, {"value": {"9": row("Killed")}}],
                                   "kill": [{"value": [9]}]})
    dirac = backend(bridge)
    try:
        assert await dirac.kill("9", "user asked") is KillOutcome.KILLED
    finally:
        await dirac.close()
    assert [r["args"] for r in bridge.requests("kill")] == [{"job_id": 9}]


async def test_a_kill_dirac_ignores_is_refused_with_its_message(tmp_path: Path) -> None:
    refusal = {"message": "Some jobs failed deletion", "kind": "dirac", "FailedJobIDs": [9]}
    bridge = FakeBridge(tmp_path, {"bulk_status": [{"value": {"9": row("Matched", "Assigned")}}],
                                   "kill": [{"error": refusal}]})
    dirac = backend(bridge)
    try:
        with pytest.raises(PermanentBackendError, match=r"still Matched \(Assigned\).*Some jobs failed deletion"):
            await dirac.kill("9", "user asked")
    finally:
        await dirac.close()


async def test_a_kill_of_an_ended_job_changes_nothing(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"bulk_status": [{"value": {"9": row("Done")}}]})
    dirac = backend(bridge)
    try:
        assert await dirac.kill("9", "user asked") is KillOutcome.ALREADY_FINAL
    finally:
        await dirac.close()
    assert bridge.requests("kill") == []


async def test_a_kill_by_our_job_id_finds_the_dirac_job_first(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"find_by_name": [{"value": []}, {"value": [12]}],
                                   "bulk_status": [{"value": {"12": row("Waiting")}}, {"value": {"12": row("Killed")}}],
                                   "kill": [{"value": [12]}]})
    dirac = backend(bridge)
    try:
        with pytest.raises(BackendError, match="no job for"):
            await dirac.kill(str(JOB_ID), "user asked")
        assert await dirac.kill(str(JOB_ID), "user asked") is KillOutcome.KILLED
    finally:
        await dirac.close()
    assert bridge.requests("kill")[0]["args"] == {"job_id": 12}
