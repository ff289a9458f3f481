"""DiracXBackend's own rules over a fake DiracX client: batching, idempotent submission, kill verification, and
the mapping of DiracX answers to transient or permanent errors. No I/O."""

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from esap_backends import BackendError, KillOutcome, PermanentBackendError
from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.client import _checked
from esap_messages import SubmitJob, WorkflowRun, new_id


class FakeDiracX:
    """Keeps jobs in memory like DiracX: JobName, Status; refuses JDLs naming a job in ``refused``, and ignores a
    change from Completed (as DIRAC's state machine does)."""

    def __init__(self) -> None:
        self.jobs: dict[int, dict[str, Any]] = {}
        self.searches = 0
        self.submissions: list[int] = []
        self.calls = 0
        self.refused: set[str] = set()

    async def search(self, parameters: Sequence[str], search: Sequence[Mapping[str, Any]],
                     per_page: int = 10000) -> list[dict[str, Any]]:
        self.searches += 1
        (spec,) = search
        values = spec.get("values", [spec.get("value")])
        key = spec["parameter"]
        return [dict(job, JobID=i) for i, job in self.jobs.items() if (i if key == "JobID" else job[key]) in values]

    async def submit_jdl(self, jdls: Sequence[str]) -> list[dict[str, Any]]:
        self.submissions.append(len(jdls))
        if any(name in text for text in jdls for name in self.refused):
            raise PermanentBackendError("DiracX refused POST /api/jobs/jdl: HTTP 400: JDL syntax error")
        rows = []
        for text in jdls:
            job_id = len(self.jobs) + 1
            name = text.split('JobName = "', 1)[1].split('"', 1)[0]
            self.jobs[job_id] = {"JobName": name, "Status": "Received", "MinorStatus": "Job accepted"}
            rows.append({"JobID": job_id, "Status": "Received"})
        return rows

    async def set_status(self, changes: Mapping[int, Mapping[str, str]], at: datetime,
                         force: bool = False) -> dict[str, Any]:
        for job_id, fields in changes.items():
            if self.jobs[job_id]["Status"] != "Completed":
                self.jobs[job_id].update(fields)
        return {"success": {str(i): {} for i in changes}, "failed": {}}


def job() -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun(slug="x", command=("true",)), parameters={}, execution_duration=0,
                     callback_token=SecretStr("t" * 40))


def backend(fake: FakeDiracX) -> DiracXBackend:
    return DiracXBackend(fake, FacilityPlacement(), workflows_dir=None, gateway_url=None,  # type: ignore[arg-type]
                         coalesce_seconds=0.05)  # jobs "together": within 50 ms, even on a busy host


async def test_jobs_submitted_together_share_one_search_and_one_submission() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    ids = await asyncio.gather(*(made.submit(job()) for _ in range(10)))
    assert sorted(ids, key=int) == [str(i) for i in range(1, 11)]
    assert fake.searches == 1 and fake.submissions == [10]
    await made.close()


async def test_a_job_dirac_already_has_is_not_submitted_again() -> None:
    fake, submitted = FakeDiracX(), job()
    made = backend(fake)
    first = await made.submit(submitted)
    assert await backend(fake).submit(submitted) == first
    assert fake.submissions == [1]


async def test_the_same_job_twice_at_once_is_submitted_once() -> None:
    fake, submitted = FakeDiracX(), job()
    made = backend(fake)
    first, second = await asyncio.gather(made.submit(submitted), made.submit(submitted))
    assert first == second and fake.submissions == [1]


async def test_one_refused_jdl_fails_only_its_own_job() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    good, bad = job(), job()
    fake.refused.add(str(bad.job_id))
    outcomes = await asyncio.gather(made.submit(good), made.submit(bad), return_exceptions=True)
    assert outcomes[0] == "1"
    assert isinstance(outcomes[1], PermanentBackendError)


async def test_a_kill_dirac_ignores_is_reported_with_the_status_it_kept() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    dirac_id = await made.submit(job())
    fake.jobs[int(dirac_id)]["Status"] = "Completed"
    with pytest.raises(PermanentBackendError, match="still Completed"):
        await made.kill(dirac_id, "aborted")


async def test_kill_outcomes() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    dirac_id = await made.submit(job())
    assert await made.kill(dirac_id, "aborted") is KillOutcome.KILLED
    assert await made.kill(dirac_id, "aborted") is KillOutcome.ALREADY_FINAL


async def test_a_kill_before_the_submission_is_known_finds_the_job_by_name_or_waits() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    early = job()
    with pytest.raises(BackendError) as raised:
        await made.kill(str(early.job_id), "aborted")
    assert not isinstance(raised.value, PermanentBackendError)
    await made.submit(early)
    assert await made.kill(str(early.job_id), "aborted") is KillOutcome.KILLED


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (503, False), (429, False), (400, True),
                                                   (403, True), (404, True)])
def test_http_errors_map_to_transient_or_permanent(status: int, permanent: bool) -> None:
    with pytest.raises(BackendError) as raised:
        _checked("POST", "/api/jobs/jdl", status, {"detail": "JDL syntax error"})
    assert isinstance(raised.value, PermanentBackendError) is permanent
    assert "JDL syntax error" in str(raised.value)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class UpdatingDiracX(FakeDiracX):
    """Also answers searches for LastUpdateTime > t (and JobGroup), keeping a time per job."""

    def __init__(self) -> None:
        super().__init__()
        self.searched: list[str] = []

    async def search(self, parameters, search, per_page=10000):  # type: ignore[no-untyped-def]
        self.searches += 1
        first = search[0]
        self.searched.append(first["parameter"])
        if first["parameter"] == "LastUpdateTime":
            since = datetime.fromisoformat(first["value"]).replace(tzinfo=UTC)
            return [dict(job, JobID=i) for i, job in self.jobs.items()
                    if datetime.fromisoformat(job["LastUpdateTime"]) > since]
        return await super().search(parameters, search, per_page)

    def put(self, job_id: int, status: str, at: str) -> None:
        self.jobs[job_id] = {"JobName": f"j{job_id}", "Status": status, "LastUpdateTime": at}


def three_received_jobs(chunk_size: int) -> tuple[UpdatingDiracX, FakeClock, Any]:
    """A fake DiracX with jobs 1-3 Received, and a status search over it."""
    from esap_backends.diracx.backend import to_backend_status
    from esap_backends.diracx.polling import StatusSearch

    fake, clock = UpdatingDiracX(), FakeClock()
    for i in range(1, 4):
        fake.put(i, "Received", "2026-01-01T10:00:00Z")
    search = StatusSearch(fake, to_backend_status, chunk_size=chunk_size, job_group="esap",  # type: ignore[arg-type]
                          full_every=60, clock=clock)
    return fake, clock, search


async def test_incremental_polls_ask_only_for_what_changed_and_everything_now_and_then() -> None:
    fake, clock, search = three_received_jobs(chunk_size=2)
    first = await search.polled([1, 2, 3])
    assert {s.status.value for s in first.values()} == {"Received"} and fake.searched == ["JobID", "JobID"]
    fake.put(2, "Running", "2026-01-01T10:00:30Z")
    clock.now = 1
    second = await search.polled([1, 2, 3])
    assert fake.searched[-1] == "LastUpdateTime"
    assert second[2].status.value == "Running" and second[1].status.value == "Received"
    fake.put(4, "Received", "2026-01-01T09:00:00Z")  # new to the poller, and older than the watermark
    clock.now = 2
    third = await search.polled([1, 2, 3, 4])
    assert 4 in third and fake.searched[-1] == "JobID"
    clock.now = 100
    await search.polled([1, 2, 3, 4])
    assert search.full_searches == 3  # at first, for the unknown job, then everything again
    clock.now = 101
    before = fake.searched.count("LastUpdateTime")
    await search.polled([1, 2])
    await search.polled([3, 4])  # the other chunk of the same cycle
    assert fake.searched.count("LastUpdateTime") == before + 1
    clock.now = 1000
    assert set(await search.polled([1])) == {1}  # the others were forgotten, not reported


async def test_changes_since_leaves_the_incremental_polls_watermark_alone() -> None:
    fake, clock, search = three_received_jobs(chunk_size=10)
    await search.polled([1, 2, 3])
    fake.put(2, "Running", "2026-01-01T10:00:30Z")
    fake.put(3, "Matched", "2026-01-01T10:05:00Z")
    since = datetime(2026, 1, 1, 10, 4, 59, 900000, tzinfo=UTC)
    changed = await search.updated_since(since, [1, 2, 3])
    assert {i: s.status.value for i, s in changed.items()} == {3: "Matched"}
    assert await search.updated_since(since, [1, 2]) == {}
    clock.now = 1
    polled = await search.polled([1, 2, 3])  # the poll's own watermark still sees job 2's older change
    assert (polled[2].status.value, polled[3].status.value) == ("Running", "Matched")


async def test_results_come_only_from_fetch_results_and_need_a_results_directory() -> None:
    fake = FakeDiracX()
    made = backend(fake)
    dirac_id = await made.submit(job())
    fake.jobs[int(dirac_id)]["Status"] = "Done"
    assert (await made.bulk_status([dirac_id]))[dirac_id].results == ()
    assert await made.fetch_results(dirac_id) == ()  # built without a results directory: the submitter's
    with pytest.raises(PermanentBackendError):
        await made.fetch_results("../1")
