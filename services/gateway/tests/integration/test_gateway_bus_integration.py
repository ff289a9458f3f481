"""The gateway publishing through a real RabbitMQ: commands land in the catalog's queue, confirmed; an
unroutable command is answered 503. The catalog is the in-memory fake."""

from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import CreateJob, JobReported, Message, Phase, RunJob, Topology, decode_all


@pytest.fixture
async def bus_app(amqp_url: str, bus_namespace: str, catalog, work_root) -> AsyncIterator[FastAPI]:
    settings = Settings(amqp_url=SecretStr(amqp_url), bus_namespace=bus_namespace, local_work_root=work_root)
    app = create_app(settings, catalog=catalog)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def bus_client(bus_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bus_app), base_url="http://gw") as http:
        yield http


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def take(channel: aio_pika.abc.AbstractChannel, queue_name: str) -> list[Message]:
    """Everything in the queue now (publish returned after the confirm, so it is all there)."""
    queue = await channel.get_queue(queue_name, ensure=True)
    found = []
    while (raw := await queue.get(fail=False, no_ack=True)) is not None:
        for message in decode_all(raw.type, raw.body, raw.headers):
            wanted = (aio_pika.DeliveryMode.PERSISTENT if message.persistent
                      else aio_pika.DeliveryMode.NOT_PERSISTENT)
            assert raw.delivery_mode == wanted, type(message).__name__
            found.append(message)
    return found


async def test_create_and_run_reach_the_catalog_queue(bus_client, channel, bus_namespace, make_job) -> None:
    created = await bus_client.post("/uws/jobs", data={"WORKFLOW": "hello-world", "parameter1": "42",
                                                        "RUNID": "bus"})
    pending = make_job(phase=Phase.PENDING)
    run = await bus_client.post(f"/uws/jobs/{pending.job_id}/phase", data={"PHASE": "RUN"})

    assert (created.status_code, run.status_code) == (303, 303)
    create, run_job = await take(channel, Topology(bus_namespace).catalog.name)
    assert isinstance(create, CreateJob)
    assert str(create.job_id) == created.headers["location"].rsplit("/", 1)[-1]
    assert create.workflow == "hello-world" and create.run_id == "bus" and create.run is False
    assert create.parameters["Parameter1"] == "42"
    assert isinstance(run_job, RunJob) and run_job.job_id == pending.job_id


async def test_a_callback_reaches_the_catalog_and_the_monitor(bus_client, channel, bus_namespace, make_job,
                                                              catalog) -> None:
    job = make_job(phase=Phase.EXECUTING)
    catalog.tokens[job.job_id] = "s" * 43

    response = await bus_client.post(f"/uws/jobs/{job.job_id}/callback", json={"status": "Running"},
                                     headers={"Authorization": "Bearer " + "s" * 43})

    assert response.status_code == 204
    topology = Topology(bus_namespace)
    for queue in (topology.catalog.name, topology.monitor.name):
        [event] = await take(channel, queue)
        assert isinstance(event, JobReported) and event.job_id == job.job_id


async def test_an_unroutable_command_is_a_503_and_healthz_still_sees_the_bus(bus_client, channel,
                                                                            bus_namespace) -> None:
    await channel.queue_delete(Topology(bus_namespace).catalog.name)

    response = await bus_client.post("/uws/jobs", data={"WORKFLOW": "noop"})

    assert response.status_code == 503
    assert "broker" in response.text
    assert (await bus_client.get("/healthz")).json()["checks"]["bus"] is True
    metrics = (await bus_client.get("/metrics")).text
    assert "gateway_jobs_submitted_total 0.0" in metrics

