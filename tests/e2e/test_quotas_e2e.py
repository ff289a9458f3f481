"""Quotas and fair share through the four services as processes (issue 21, item 2): with ESAP_QUOTA_ACTIVE_JOBS=5, a
20-child sweep of alice never has more than 5 children at their backend at once, the others QUEUED in esap-batch
saying why; on a facility whose slots alice's sweep fills, bob's single job starts when the first slot frees, not
after her sweep."""

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.uws_client import create_job, read_job, wait_for_phase

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"Authorization": "Bearer token-a"}
BOB = {"Authorization": "Bearer token-b"}
SMALL = "local-small"
SMALL_SLOTS = 4


def _facilities() -> str:
    """The repository's facilities and one more: a local facility with 4 slots, for filling it up."""
    folder = Path(tempfile.mkdtemp(prefix="esap-quota-facilities-"))
    for path in (ROOT / "facilities").rglob("*.json"):
        target = folder / path.relative_to(ROOT / "facilities")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    small = json.loads((ROOT / "facilities" / "local.json").read_text())
    small.update(slug=SMALL, name="This host, 4 slots", max_parallel=SMALL_SLOTS)
    (folder / f"{SMALL}.json").write_text(json.dumps(small))
    return str(folder)


STACK_ENV = {"ESAP_QUOTA_ACTIVE_JOBS": "5", "ESAP_FACILITIES_DIR": _facilities(),
             # No jobs handed over beyond a facility's slots while one owner is alone there: its 4 slots are all
             # there is, and bob's job must get the first that frees.
             "CATALOG_DISPATCH_PREFETCH": "0"}


def seconds(first: float, n: int) -> str:
    """A SWEEP of ``n`` distinct sleep durations from ``first`` seconds, 0.01 s apart."""
    return "seconds=" + json.dumps([f"{first + i / 100:.2f}" for i in range(n)])


async def usage(client: httpx.AsyncClient, who: dict[str, str]) -> dict[str, int]:
    response = await client.get("/account/usage", headers=who)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_sweep_never_has_more_active_children_than_the_quota(client: httpx.AsyncClient) -> None:
    client.headers.update(ALICE)
    sweep = await create_job(client, WORKFLOW="sleep", FACILITY="local", SWEEP=seconds(1.0, 20), PHASE="RUN")
    most, saw_waiting, info = 0, False, ""
    deadline = time.monotonic() + 120
    while (job := await read_job(client, sweep)).phase not in {"COMPLETED", "ERROR", "ABORTED"}:
        assert time.monotonic() < deadline, "the sweep did not end within 120 s"
        now = await usage(client, ALICE)
        assert now["quota"] == 5
        most = max(most, now["active"])
        assert now["active"] <= 5, now
        if now["waiting"] and not info:
            listing = await client.get("/uws/jobs", params={"PARENT": sweep, "PHASE": "QUEUED", "LAST": "40"},
                                       headers={"accept": "application/json"})
            for row in listing.json()["jobs"]:
                child = (await client.get(f"/uws/jobs/{row['jobId']}",
                                          headers={"accept": "application/json"})).json()
                info = child["jobInfo"].get("waiting") or info
            saw_waiting = True
        await asyncio.sleep(0.2)
    assert job.phase == "COMPLETED"
    assert most == 5 and saw_waiting
    assert info == "waiting for quota: 5 of 5 active"
    assert await usage(client, ALICE) == {"owner": "alice", "active": 0, "waiting": 0, "quota": 5}


async def test_another_user_s_job_is_not_held_back_by_a_sweep_filling_the_facility(
        client: httpx.AsyncClient) -> None:
    client.headers.update(ALICE)
    campaign = await create_job(client, WORKFLOW="sleep", FACILITY=SMALL, SWEEP=seconds(4.0, 12), PHASE="RUN")

    async def full() -> bool:
        now = await usage(client, ALICE)
        return now["active"] == SMALL_SLOTS and now["waiting"] == 12 - SMALL_SLOTS

    deadline = time.monotonic() + 30
    while not await full():
        assert time.monotonic() < deadline, "alice's sweep did not fill the facility"
        await asyncio.sleep(0.1)

    client.headers.update(BOB)
    submitted = time.monotonic()
    single = await create_job(client, WORKFLOW="sleep", FACILITY=SMALL, seconds="0.5", PHASE="RUN")
    held = (await client.get(f"/uws/jobs/{single}", headers={"accept": "application/json"})).json()
    assert held["phase"] == "QUEUED"
    assert held["jobInfo"]["waiting"].startswith(f"waiting for a slot on {SMALL}: ")
    started = await wait_for_phase(client, single, {"EXECUTING", "COMPLETED"}, within=15)
    waited = time.monotonic() - submitted
    assert started.phase in {"EXECUTING", "COMPLETED"}
    # alice's first children end about 4 s after they started; her whole sweep takes three rounds of them.
    assert waited < 8, f"bob's job waited {waited:.1f} s"
    client.headers.update(ALICE)
    assert (await usage(client, ALICE))["waiting"] > 0, "bob's job started only after alice's sweep"
    await wait_for_phase(client, campaign, {"COMPLETED"}, within=60)
