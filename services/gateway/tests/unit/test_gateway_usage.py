"""Quotas at the gateway over the fakes: GET /account/usage answers the caller's own usage, and a job held in
esap-batch says why in its jobInfo, in XML (valid UWS 1.1) and JSON."""

from pathlib import Path

import pytest

from esap_gateway.config import Settings
from esap_messages import Phase

ALICE = {"Authorization": "Bearer token-a"}
WAITING = "waiting for quota: 1000 of 1000 active"


@pytest.fixture
def settings(work_root: Path) -> Settings:
    return Settings(local_work_root=work_root, static_tokens='{"token-a": "alice", "token-b": "bob"}')


async def test_account_usage_is_the_caller_s_own(client, catalog, make_job) -> None:
    make_job(owner="alice", phase=Phase.EXECUTING)
    make_job(owner="alice", phase=Phase.QUEUED, waiting=WAITING)
    make_job(owner="bob", phase=Phase.EXECUTING)
    response = await client.get("/account/usage", headers=ALICE)
    assert response.status_code == 200
    assert response.json() == {"owner": "alice", "active": 1, "waiting": 1, "quota": 1000}
    assert catalog.calls_to("usage") == ["alice"]


async def test_a_waiting_job_says_why_in_its_job_info(client, make_job, uws_schema) -> None:
    job = make_job(owner="alice", phase=Phase.QUEUED, waiting=WAITING)
    xml = await client.get(f"/uws/jobs/{job.job_id}", headers=ALICE)
    uws_schema.validate(xml.content)
    assert f"<esap:waiting>{WAITING}</esap:waiting>".encode() in xml.content
    json = await client.get(f"/uws/jobs/{job.job_id}", headers={**ALICE, "accept": "application/json"})
    assert json.json()["jobInfo"]["waiting"] == WAITING
