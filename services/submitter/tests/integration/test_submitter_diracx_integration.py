"""The submitter app against the real RabbitMQ and a real DiracX: a redelivered SubmitJob makes no second DIRAC
job, a KillJob ends Killed, and a kill DIRAC refuses is reported with what DIRAC kept."""

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends.diracx.devserver import ADMIN_GROUP, PILOT_GROUP, DevServer
from esap_backends.diracx.testing import client_for, diracx_server  # noqa: F401
from esap_messages import DiracStatus, JobKillFailed, JobStatusObserved, JobSubmitted, KillJob, utcnow
from esap_submitter.config import Settings
from esap_submitter.main import create_app


@pytest.fixture
def diracx_settings(settings: Settings, diracx_server: DevServer) -> Settings:  # noqa: F811
    return settings.model_copy(update={"diracx_url": diracx_server.url,
                                       "diracx_api_key": SecretStr(diracx_server.api_key)})


async def dirac_jobs_named(server: DevServer, name: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        return await client_for(server, session, ADMIN_GROUP).search(
            ("JobID", "Status"), [{"parameter": "JobName", "operator": "eq", "value": name}])


async def test_a_redelivered_submit_makes_no_second_dirac_job_and_a_kill_ends_killed(
        diracx_settings, bus, catalog_queue, jobs, diracx_server: DevServer) -> None:  # noqa: F811
    job = jobs.submit("hello-world", {"Parameter1": "x"}, backend="diracx")
    app = create_app(diracx_settings)
    async with app.router.lifespan_context(app):
        await bus.publish(job)
        first = await catalog_queue.next(JobSubmitted, job.job_id)
        await bus.publish(job)  # the same message again, as a redelivery would bring it
        second = await catalog_queue.next(JobSubmitted, job.job_id)
        assert first.backend_job_id == second.backend_job_id
        assert len(await dirac_jobs_named(diracx_server, f"esap-{job.job_id}")) == 1

        await bus.publish(KillJob(job_id=job.job_id, facility="ctadirac", backend="diracx",
                                  backend_job_id=first.backend_job_id))
        observed = await catalog_queue.next(JobStatusObserved, job.job_id)
        assert observed.status is DiracStatus.KILLED


async def test_a_kill_dirac_refuses_is_reported_not_hidden(diracx_settings, bus, catalog_queue, jobs,
                                                           diracx_server: DevServer) -> None:  # noqa: F811
    job = jobs.submit("hello-world", {}, backend="diracx")
    app = create_app(diracx_settings)
    async with app.router.lifespan_context(app):
        await bus.publish(job)
        submitted = await catalog_queue.next(JobSubmitted, job.job_id)
        async with aiohttp.ClientSession() as session:
            pilot = client_for(diracx_server, session, PILOT_GROUP)
            for status in ("Waiting", "Matched", "Running", "Completing", "Completed"):
                await pilot.set_status({int(submitted.backend_job_id): {"Status": status, "MinorStatus": "test",
                                                                         "Source": "test"}}, utcnow())
        await bus.publish(KillJob(job_id=job.job_id, facility="ctadirac", backend="diracx",
                                  backend_job_id=submitted.backend_job_id))
        failed = await catalog_queue.next(JobKillFailed, job.job_id)
        assert "still Completed" in failed.message
