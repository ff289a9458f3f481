"""A workflow's container travels from its stored steering file to the submitter: the catalog, on real
PostgreSQL and RabbitMQ, puts the runtime of the stored workflow in SubmitJob, and none for a plain process."""

from typing import Any

from esap_messages import CreateJob, SubmitJob, new_id
from esap_messages.model import ContainerEngine, ContainerRuntime
from esap_runtime.bus import Bus

from .conftest import Catalog, Collector


def create(**fields: Any) -> CreateJob:
    values: dict[str, Any] = {"job_id": new_id(), "owner": "alice", "run": True}
    values.update(fields)
    return CreateJob.model_validate(values)


async def test_submit_job_carries_the_stored_workflows_container(
        catalog: Catalog, bus: Bus, queues: dict[str, Collector]) -> None:
    mc = create(workflow="cta-mc-generation", facility="ctadirac", parameters={"run_number": "1", "seed": "2"})
    corsika = create(workflow="concordia", facility="ctadirac")
    hello = create(workflow="hello-world", facility="local")
    for message in (mc, corsika, hello):
        await bus.publish(message)
    submits = {s.job_id: s for s in await queues["submitter"].wait_for(SubmitJob, count=3)}
    assert submits[mc.job_id].runtime == ContainerRuntime(
        engine=ContainerEngine.DOCKER, image="registry.cta-observatory.org/esap-batch/cta-mc-prod6:1.0")
    assert submits[corsika.job_id].runtime == ContainerRuntime(
        engine=ContainerEngine.SINGULARITY,
        image="docker://registry.cta-observatory.org/esap-batch/concordia-corsika:7.7550")
    assert submits[hello.job_id].runtime is None
