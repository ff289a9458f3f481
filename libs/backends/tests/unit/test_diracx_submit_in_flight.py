"""DiracXBackend's submission calls in flight at once, over a fake DiracX that holds every call until the test lets
it go: a campaign's jobs go in batches of 20, a bounded number of calls at a time, no job in two calls, every
job answered, a redelivery sharing the submission under way. No I/O."""

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_messages import SubmitJob, WorkflowRun, new_id

IN_FLIGHT = 2


class HeldDiracX:
    """Keeps jobs in memory like DiracX (JobName by JobID) and refuses JDLs naming a job in ``refused``. Holds
    each submission call until ``gate`` opens; measures the calls under way at once and checks that no JobName
    is in two of them."""

    def __init__(self) -> None:
        self.jobs: dict[int, str] = {}
        self.submissions: list[int] = []
        self.refused: set[str] = set()
        self.gate = asyncio.Event()
        self.under_way: list[set[str]] = []
        self.most_at_once = 0

    async def search(self, parameters: Sequence[str], search: Sequence[Mapping[str, Any]],
                     per_page: int = 10000) -> list[dict[str, Any]]:
        (spec,) = search
        assert spec["parameter"] == "JobName"
        return [{"JobID": i, "JobName": name} for i, name in self.jobs.items() if name in spec["values"]]

    async def submit_jdl(self, jdls: Sequence[str]) -> list[dict[str, Any]]:
        names = [text.split('JobName = "', 1)[1].split('"', 1)[0] for text in jdls]
        assert not any(set(names) & other for other in self.under_way), "a job in two calls at once"
        self.under_way.append(set(names))
        self.most_at_once = max(self.most_at_once, len(self.under_way))
        try:
            await self.gate.wait()
        finally:
            self.under_way.remove(set(names))
        self.submissions.append(len(jdls))
        if any(name in text for text in jdls for name in self.refused):
            raise PermanentBackendError("DiracX refused POST /api/jobs/jdl: HTTP 400: JDL syntax error")
        rows = []
        for name in names:
            self.jobs[len(self.jobs) + 1] = name
            rows.append({"JobID": len(self.jobs), "Status": "Received"})
        return rows


def job() -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun(slug="x", command=("true",)), parameters={}, execution_duration=0,
                     callback_token=SecretStr("t" * 40))


def backend(fake: HeldDiracX, on_batch: Any = None) -> DiracXBackend:
    # A long coalescing delay: full batches go at once, only the last, partial one waits it out.
    return DiracXBackend(fake, FacilityPlacement(), workflows_dir=None, gateway_url=None,  # type: ignore[arg-type]
                         coalesce_seconds=0.05, in_flight=IN_FLIGHT, on_batch=on_batch)


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


async def test_95_jobs_go_in_5_calls_at_most_k_at_once_and_every_job_is_answered() -> None:
    fake, calls = HeldDiracX(), []
    made = backend(fake, on_batch=lambda name, jobs: calls.append((name, jobs)))
    jobs = [job() for _ in range(95)]
    everything = asyncio.gather(*(made.submit(j) for j in jobs))
    await until(lambda: len(fake.under_way) == IN_FLIGHT)
    await asyncio.sleep(0.01)  # time enough for a third call, were one allowed
    assert len(fake.under_way) == IN_FLIGHT
    fake.gate.set()

    ids = await everything

    assert sorted(fake.submissions, reverse=True) == [20, 20, 20, 20, 15]
    assert fake.most_at_once == IN_FLIGHT
    assert sorted(map(int, ids)) == list(range(1, 96))
    assert sorted(jobs for _, jobs in calls) == [15, 20, 20, 20, 20] and {name for name, _ in calls} == {"diracx"}
    await made.close()


async def test_a_redelivery_during_the_flight_shares_the_submission() -> None:
    fake = HeldDiracX()
    made = backend(fake)
    jobs = [job() for _ in range(45)]
    everything = asyncio.gather(*(made.submit(j) for j in jobs))
    await until(lambda: len(fake.under_way) == IN_FLIGHT)
    in_a_call, waiting = jobs[0], jobs[-1]  # the first batch is under way; the last batch waits for a slot
    again = asyncio.gather(made.submit(in_a_call), made.submit(waiting))
    await asyncio.sleep(0.01)
    fake.gate.set()

    ids, (first_again, last_again) = await asyncio.wait_for(asyncio.gather(everything, again), 5)

    assert (first_again, last_again) == (ids[0], ids[-1])
    assert sum(fake.submissions) == 45 and len(fake.jobs) == 45
    assert len(set(fake.jobs.values())) == 45
    await made.close()


async def test_a_refused_jdl_among_calls_in_flight_fails_only_its_own_job() -> None:
    fake = HeldDiracX()
    made = backend(fake)
    jobs = [job() for _ in range(45)]
    fake.refused.add(str(jobs[25].job_id))
    fake.gate.set()

    outcomes = await asyncio.gather(*(made.submit(j) for j in jobs), return_exceptions=True)

    assert isinstance(outcomes[25], PermanentBackendError)
    assert all(isinstance(o, str) for i, o in enumerate(outcomes) if i != 25)
    assert len(fake.jobs) == 44
    await made.close()


async def test_jobs_dirac_already_has_are_found_not_submitted_again() -> None:
    fake = HeldDiracX()
    fake.gate.set()
    jobs: list[SubmitJob] = [job() for _ in range(30)]
    first = await asyncio.gather(*(backend(fake).submit(j) for j in jobs[:10]))

    ids = await asyncio.gather(*(backend(fake).submit(j) for j in jobs))

    assert ids[:10] == first and len(fake.jobs) == 30


async def test_jobs_arriving_one_by_one_while_a_call_is_under_way_go_out_in_full_batches() -> None:
    fake = HeldDiracX()
    made = backend(fake)
    first = asyncio.ensure_future(made.submit(job()))
    await until(lambda: len(fake.under_way) == 1)  # a lone job goes out after the coalescing delay
    trickle = []
    for _ in range(45):  # a submitter's workers handing over jobs one at a time, slower than the delay
        trickle.append(asyncio.ensure_future(made.submit(job())))
        await asyncio.sleep(0.003)
    await until(lambda: len(fake.under_way) == IN_FLIGHT)
    assert sorted(len(names) for names in fake.under_way) == [1, 20]  # not a call per trickling job
    fake.gate.set()
    await asyncio.gather(first, *trickle)

    assert sorted(fake.submissions) == [1, 5, 20, 20]
    await made.close()
