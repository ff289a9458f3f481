"""The bus on quorum queues, as k8s/base/rabbitmq configures RabbitMQ (default_queue_type = quorum): the topology
code, unchanged, declares quorum queues, declares them again without conflict (every service declares the whole
topology), and publishing, consuming, the retry queue's delayed redelivery and dead-lettering all work on them.

Runs against the test RabbitMQ in a virtual host of its own whose default queue type is the one the Kubernetes
configuration sets; making that virtual host needs rabbitmqctl beside the broker.
"""

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import pytest
import yaml
from prometheus_client import CollectorRegistry

from esap_messages import RunJob, Topology, new_id
from esap_runtime.bus import Bus, BusMetrics, Delivery, RetryLaterError

ROOT = Path(__file__).resolve().parents[2]
RABBITMQ_CONFIG = ROOT / "k8s" / "base" / "rabbitmq" / "config.yaml"

pytestmark = pytest.mark.timeout(120)


def _configured_queue_type() -> str:
    conf = yaml.safe_load(RABBITMQ_CONFIG.read_text())["data"]["rabbitmq.conf"]
    settings = dict(line.split(" = ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    return str(settings["default_queue_type"])


def _rabbitmqctl(*args: str) -> str:
    command = shutil.which("rabbitmqctl")
    if command is None:
        pytest.fail("rabbitmqctl is not installed beside the test RabbitMQ", pytrace=False)
    done = subprocess.run([command, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def quorum_url(amqp_url: str) -> Iterator[str]:
    """The test broker's URL, on a fresh virtual host whose default queue type is the configured one."""
    vhost = f"esap-quorum-{uuid.uuid4().hex[:8]}"
    user = urlsplit(amqp_url).username or "guest"
    _rabbitmqctl("add_vhost", vhost, "--default-queue-type", _configured_queue_type())
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield urlunsplit(urlsplit(amqp_url)._replace(path=f"/{quote(vhost, safe='')}"))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _queue_types(url: str) -> dict[str, str]:
    vhost = urlsplit(url).path.lstrip("/")
    rows = json.loads(_rabbitmqctl("list_queues", "-p", vhost, "name", "type", "--formatter", "json", "--quiet"))
    return {row["name"]: row["type"] for row in rows}


def test_kubernetes_makes_quorum_the_default_queue_type() -> None:
    assert _configured_queue_type() == "quorum"


async def test_the_topology_becomes_quorum_queues_and_the_bus_works_on_them(quorum_url: str) -> None:
    topology = Topology("esap")
    registry = CollectorRegistry()
    bus = await Bus.connect(quorum_url, topology, BusMetrics("quorum", registry))
    again = await Bus.connect(quorum_url, topology, BusMetrics("again", CollectorRegistry()))
    await again.close()
    handled: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def handler(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            handled.append((delivery.message.type_name(), delivery.attempt))
            if delivery.attempt == 1:
                raise RetryLaterError("not yet")
            done.set()

    try:
        expected = {name: "quorum" for spec in topology.queues() for name in (spec.name, spec.retry, spec.dead)}
        assert _queue_types(quorum_url) == expected
        await bus.consume(topology.catalog, handler)
        await bus.publish(RunJob(job_id=new_id()))
        await asyncio.wait_for(done.wait(), timeout=30)  # back from the retry queue after about 1 s
        await _publish_undecodable(quorum_url, topology)
        dead = await _get_one(quorum_url, topology.catalog.dead)
    finally:
        await bus.close()

    assert handled == [("RunJob", 1), ("RunJob", 2)]
    assert registry.get_sample_value("quorum_messages_retried_total", {"type": "RunJob"}) == 1
    assert registry.get_sample_value("quorum_messages_consumed_total", {"type": "RunJob"}) == 1
    assert dead.type == "Nonsense"


async def _publish_undecodable(url: str, topology: Topology) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange)
        await exchange.publish(aio_pika.Message(b"{}", type="Nonsense"), routing_key=RunJob.routing_key)
    finally:
        await connection.close()


async def _get_one(url: str, queue_name: str) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(url)
    try:
        queue = await (await connection.channel()).get_queue(queue_name)
        for _ in range(100):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                return message
            await asyncio.sleep(0.1)
        pytest.fail(f"nothing reached {queue_name}")
    finally:
        await connection.close()
