"""Fixtures for the local executor's integration tests: a work root of its own, a recording callback client,
jobs from the repository's workflows, and a way to wait for a condition with a deadline (never a fixed sleep)."""

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends.local import LocalBackend
from esap_messages import FINAL_STATUSES, DiracStatus, SubmitJob, WorkflowRun, new_id
from esap_messages.api import CallbackReport, JobCallback, ReportOutcome

ROOT = Path(__file__).resolve().parents[4]
WORKFLOWS = ROOT / "workflows"
TOKEN = "job-token-" + "k" * 30

WaitUntil = Callable[..., Awaitable[None]]


class RecordingCallbacks:
    """A CallbackClient that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[UUID, str, CallbackReport]] = []

    async def report_many(self, reports: Sequence[JobCallback]) -> list[ReportOutcome]:
        self.reports.extend((r.job_id, r.token, r.report) for r in reports)
        return [ReportOutcome(job_id=r.job_id, accepted=True) for r in reports]

    def statuses(self, job_id: UUID) -> list[DiracStatus]:
        return [r.status for j, _, r in self.reports if j == job_id]


async def _wait_until(condition: Callable[[], bool | Awaitable[bool]], within: float = 30.0,
                      what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"{what} not met within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def wait_until() -> WaitUntil:
    return _wait_until


@pytest.fixture
def callbacks() -> RecordingCallbacks:
    return RecordingCallbacks()


@pytest.fixture
def work_root(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


def _job_ids(work_root: Path) -> list[str]:
    return [p.name for p in work_root.iterdir() if not p.name.startswith(".")] if work_root.exists() else []


@pytest.fixture
async def make_backend(work_root: Path) -> AsyncIterator[Callable[..., LocalBackend]]:
    """Builds LocalBackends on the test's work root; afterwards kills whatever still runs there."""
    made: list[LocalBackend] = []

    def make(**options: object) -> LocalBackend:
        options.setdefault("workflows_dir", WORKFLOWS)
        options.setdefault("kill_grace_seconds", 2.0)
        options.setdefault("search_path", os.environ["PATH"])
        backend = LocalBackend(work_root=work_root, **options)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield make
    cleaner = LocalBackend(work_root=work_root, kill_grace_seconds=0.5)
    ids = _job_ids(work_root)
    for job_id, status in (await cleaner.bulk_status(ids)).items():
        if status.status not in FINAL_STATUSES:
            await cleaner.kill(job_id, "test teardown")
    for backend in made:
        await backend.close()


def workflow(slug: str) -> WorkflowRun:
    spec = json.loads((WORKFLOWS / f"{slug}.json").read_text())
    return WorkflowRun.model_validate(spec["run"])


def python_job(script: str, *args: str, parameters: dict[str, str] | None = None,
               execution_duration: int = 0) -> SubmitJob:
    """A job running ``python -c script args...`` with this interpreter."""
    run = WorkflowRun(slug="script", command=(sys.executable, "-c", script, *args))
    return make_job(run, parameters or {}, execution_duration)


def make_job(run: WorkflowRun, parameters: dict[str, str], execution_duration: int = 0) -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="local", backend="local", workflow=run, parameters=parameters,
                     execution_duration=execution_duration, callback_token=SecretStr(TOKEN))


WAIT_FOR_GO = "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.02)\nprint('went')"
"""A payload that runs until the test creates the file ``go`` in its directory."""


@pytest.fixture
def jobs() -> type:
    """The job builders, for tests that cannot import this module."""

    class Jobs:
        TOKEN = TOKEN
        WAIT_FOR_GO = WAIT_FOR_GO
        workflow = staticmethod(workflow)
        python = staticmethod(python_job)
        make = staticmethod(make_job)

    return Jobs


from esap_backends.diracx.testing import diracx_server  # noqa: E402, F401  (a session fixture, shared)
