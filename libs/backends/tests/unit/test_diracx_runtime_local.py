"""The local executor runs plain processes only: a job whose workflow names a container ends, before anything is
written or started, with a permanent error that says so (the planner keeps such jobs away from ``local``; this is
the backstop)."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.local.backend import LocalBackend
from esap_backends.local.launch import plan_launch
from esap_messages import SubmitJob, WorkflowRun, new_id
from esap_messages.model import ContainerEngine, ContainerRuntime

MC = ContainerRuntime(engine=ContainerEngine.DOCKER, image="registry.cta-observatory.org/esap-batch/cta-mc-prod6:1.0")


def job(runtime: ContainerRuntime | None) -> SubmitJob:
    return SubmitJob(job_id=new_id(), facility="local", backend="local", runtime=runtime,
                     workflow=WorkflowRun(slug="cta-mc-generation", command=("true",)), parameters={},
                     execution_duration=0, callback_token=SecretStr("t" * 32))


def test_a_container_job_is_refused_naming_the_engine_and_the_image() -> None:
    with pytest.raises(PermanentBackendError) as refused:
        plan_launch(job(MC))
    message = str(refused.value)
    assert "runs plain processes only" in message and "'cta-mc-generation' needs the docker runtime" in message
    assert "cta-mc-prod6:1.0" in message
    assert plan_launch(job(None)).argv == ("true",)


async def test_the_local_backend_refuses_it_before_writing_anything(tmp_path: Path) -> None:
    backend = LocalBackend(work_root=tmp_path / "work")
    with pytest.raises(PermanentBackendError, match="runs plain processes only"):
        await backend.submit(job(MC))
    assert not any((tmp_path / "work").rglob("*.json"))
