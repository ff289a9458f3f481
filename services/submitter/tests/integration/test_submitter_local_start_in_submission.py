"""The local executor starts a job while it is submitted: the JobSubmitted says Running, and the only status
published on its own is the end, with results."""

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_backends.local import LocalBackend
from esap_messages import (
    DiracStatus,
    JobStatusObserved,
    JobSubmitted,
    Message,
    StatusSource,
    SubmitJob,
    WorkflowRun,
    new_id,
)
from esap_submitter.metrics import SubmitterMetrics
from esap_submitter.services.observations import OwnObservations
from esap_submitter.services.submission import SubmissionService


async def test_a_job_started_at_submission_is_submitted_as_running_and_its_end_published(tmp_path: Path) -> None:
    published: list[Message] = []

    async def publish(messages: Sequence[Message]) -> None:
        published.extend(messages)

    observations = OwnObservations()
    observations.connect(publish)
    backend = LocalBackend(work_root=tmp_path, search_path=os.environ["PATH"], on_status=observations.observe)
    service = SubmissionService({"local": backend}, SubmitterMetrics(CollectorRegistry()),
                                claim_start=observations.claim_start)
    command = SubmitJob(job_id=new_id(), facility="local", backend="local",
                        workflow=WorkflowRun(slug="noop", command=("true",)), parameters={}, execution_duration=0,
                        callback_token=SecretStr("t" * 32))
    try:
        [submitted] = await service.submit(command, attempt=1)
        assert isinstance(submitted, JobSubmitted)
        assert submitted.status is DiracStatus.RUNNING and submitted.started_at is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not published:
            assert loop.time() < deadline, "the end of the job was not published"
            await asyncio.sleep(0.01)
        await observations.close()
    finally:
        await backend.close()
    [ended] = published
    assert isinstance(ended, JobStatusObserved) and ended.source is StatusSource.SUBMITTER
    assert ended.job_id == command.job_id and ended.status is DiracStatus.DONE and ended.exit_code == 0
    assert ended.started_at == submitted.started_at
    assert ended.results is not None and [r.name for r in ended.results] == ["stdout", "stderr"]
