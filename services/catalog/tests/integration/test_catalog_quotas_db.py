"""Quotas on real PostgreSQL and RabbitMQ: jobs beyond an owner's quota stay QUEUED in esap-batch (held, with the
reason in the job's view), another owner's job goes at once, the usage route counts both, and a held job is handed
over (a SubmitJob, oldest first) when one of the owner's jobs ends; a held job aborted ends at once."""

from typing import Any

from esap_messages import AbortJob, CreateJob, DiracStatus, JobStatusObserved, StatusSource, new_id, utcnow
from esap_runtime.bus import Bus

from .conftest import GRACE, StartCatalog, eventually


def job(owner: str, **fields: Any) -> CreateJob:
    return CreateJob(job_id=new_id(), owner=owner, workflow="sleep", facility="local", run=True, **fields)


async def test_jobs_beyond_the_quota_wait_in_the_catalog_and_go_as_room_frees(start_catalog: StartCatalog,
                                                                            bus: Bus) -> None:
    async with start_catalog(quota_active_jobs=2) as catalog:
        alice = [job("alice") for _ in range(4)]
        for made in alice:
            await bus.publish(made)
        bob = job("bob")
        await bus.publish(bob)
        views = [(await catalog.http.get(f"/internal/jobs/{m.job_id}", params=GRACE)).json() for m in alice]
        assert [v["waiting"] for v in views] == [None, None, "waiting for quota: 2 of 2 active",
                                                 "waiting for quota: 2 of 2 active"]
        assert {v["phase"] for v in views} == {"QUEUED"}
        await catalog.http.get(f"/internal/jobs/{bob.job_id}", params=GRACE)
        usage = (await catalog.http.get("/internal/usage/alice")).json()
        assert usage == {"owner": "alice", "active": 2, "waiting": 2, "quota": 2}
        assert (await catalog.http.get("/internal/usage/bob")).json()["active"] == 1
        assert (await catalog.http.get("/internal/usage")).json() == {
            "owner": "", "active": 0, "waiting": 0, "quota": 2}

        await bus.publish(JobStatusObserved(job_id=alice[0].job_id, source=StatusSource.SUBMITTER,
                                            status=DiracStatus.DONE, observed_at=utcnow(), started_at=utcnow(),
                                            ended_at=utcnow()))

        async def third_released() -> bool:
            view = (await catalog.http.get(f"/internal/jobs/{alice[2].job_id}")).json()
            return view["waiting"] is None

        await eventually(third_released)
        assert (await catalog.http.get(f"/internal/jobs/{alice[3].job_id}")).json()["waiting"] is not None
        # Bob's job went in the batch that made it: held behind alice's on the same facility, then chosen at once.
        assert (await catalog.http.get(f"/internal/jobs/{bob.job_id}")).json()["waiting"] is None
        assert catalog.sample("catalog_jobs_dispatched_total", path="direct") + catalog.sample(
            "catalog_jobs_dispatched_total", path="released") == 4

        await bus.publish(AbortJob(job_id=alice[3].job_id, owner="alice"))

        async def aborted() -> bool:
            view = (await catalog.http.get(f"/internal/jobs/{alice[3].job_id}")).json()
            return view["phase"] == "ABORTED" and view["waiting"] is None

        await eventually(aborted)
        assert (await catalog.http.get("/internal/usage/alice")).json() == {
            "owner": "alice", "active": 2, "waiting": 0, "quota": 2}
