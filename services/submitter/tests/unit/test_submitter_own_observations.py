"""What the local executor sees itself is published as JobStatusObserved, also when seen before the bus is up."""

import asyncio
from collections.abc import Sequence
from uuid import uuid4

from esap_backends import BackendStatus
from esap_messages import DiracStatus, JobStatusObserved, Message, ResultFile, StatusSource
from esap_submitter.services.observations import OwnObservations

DONE = BackendStatus(status=DiracStatus.DONE, minor_status="Execution Complete", exit_code=0, results=(
    ResultFile(name="stdout", size=3, mime_type="text/plain", location="file:///tmp/x/stdout.txt"),))


async def test_observations_are_published_as_status_events_of_the_submitter() -> None:
    published: list[Message] = []

    async def publish(messages: Sequence[Message]) -> None:
        published.extend(messages)

    observations = OwnObservations()
    job_id = uuid4()
    observations.observe(job_id, BackendStatus(status=DiracStatus.RUNNING))  # before the bus: it waits
    assert published == []
    observations.connect(publish)
    observations.observe(job_id, DONE)
    await observations.close()

    assert [type(m) for m in published] == [JobStatusObserved, JobStatusObserved]
    by_status = {m.status: m for m in published if isinstance(m, JobStatusObserved)}
    running, done = by_status[DiracStatus.RUNNING], by_status[DiracStatus.DONE]
    assert running.job_id == done.job_id == job_id and running.source is done.source is StatusSource.SUBMITTER
    assert running.status is DiracStatus.RUNNING and running.results is None
    assert done.status is DiracStatus.DONE and done.results == DONE.results and done.exit_code == 0


async def test_a_failed_publish_is_logged_and_does_not_stop_later_ones() -> None:
    published: list[Message] = []
    calls = 0

    async def publish(messages: Sequence[Message]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the broker went away")
        published.extend(messages)

    observations = OwnObservations()
    observations.connect(publish)
    observations.observe(uuid4(), DONE)
    await asyncio.sleep(0)
    observations.observe(uuid4(), DONE)
    await observations.close()
    assert calls == 2 and len(published) == 1


async def test_a_start_claimed_during_its_submission_is_not_published_on_its_own() -> None:
    published: list[Message] = []

    async def publish(messages: Sequence[Message]) -> None:
        published.extend(messages)

    observations = OwnObservations()
    observations.connect(publish)
    claimed, unclaimed = uuid4(), uuid4()
    observations.observe(claimed, BackendStatus(status=DiracStatus.RUNNING))
    observations.observe(unclaimed, BackendStatus(status=DiracStatus.RUNNING))
    start = observations.claim_start(claimed)
    assert start is not None and start.status is DiracStatus.RUNNING
    assert observations.claim_start(claimed) is None
    await asyncio.sleep(0)  # the loop's next turn: what nobody claimed goes out
    await observations.close()
    assert [(m.job_id, m.status) for m in published if isinstance(m, JobStatusObserved)] == [
        (unclaimed, DiracStatus.RUNNING)]
