"""Every metric operators rely on exists on the running services and moves when jobs run: the four services as
separate processes (tests/e2e's stack), a hello-world job run to COMPLETED after a blocking WAIT, a sleep job
aborted while it runs, a job ended by the monitor's poll while the submitter is stopped, undecodable messages
dead-lettered, and a message the broker redelivers. Each service's /metrics is scraped before, during and after.

Jobs by phase is the gauge catalog_jobs{phase}; every backend call (DiracX or local) is timed by
<service>_backend_call_duration_seconds{backend,operation,outcome} in the submitter and the monitor.
"""

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import aio_pika
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.deploy.inventory import service_registry
from tests.e2e.uws_client import create_job, wait_for_phase

from esap_messages import JobPhaseChanged, Phase, Topology, encode, new_id, utcnow
from esap_runtime.stack import SERVICES, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

Labels = tuple[tuple[str, str], ...]
Scrape = dict[str, dict[tuple[str, Labels], float]]

# (service, series, labels that must match): each must grow between the scrape before and the scrape after.
MOVING_COUNTERS: list[tuple[str, str, dict[str, str]]] = [
    # submissions and their outcomes
    ("gateway", "gateway_jobs_submitted_total", {}),
    ("catalog", "catalog_jobs_created_total", {}),
    ("submitter", "submitter_submissions_total", {"backend": "local", "outcome": "submitted"}),
    ("submitter", "submitter_kills_total", {"backend": "local", "outcome": "killed"}),
    # phase transitions
    ("catalog", "catalog_phase_transitions_total", {"to_phase": "QUEUED"}),
    ("catalog", "catalog_phase_transitions_total", {"to_phase": "EXECUTING"}),
    ("catalog", "catalog_phase_transitions_total", {"to_phase": "COMPLETED"}),
    ("catalog", "catalog_phase_transitions_total", {"to_phase": "ABORTED"}),
    # backend calls by backend and outcome; poll cycles
    ("monitor", "monitor_backend_calls_total", {"backend": "local", "outcome": "ok"}),
    ("monitor", "monitor_poll_cycle_duration_seconds_count", {"backend": "local"}),
    ("monitor", "monitor_backend_call_duration_seconds_count", {"backend": "local", "operation": "bulk_status"}),
    ("submitter", "submitter_backend_call_duration_seconds_count", {"backend": "local", "operation": "submit"}),
    ("submitter", "submitter_backend_call_duration_seconds_count", {"backend": "local", "operation": "kill"}),
    ("monitor", "monitor_status_changes_total", {"status": "Done"}),
    # the jobs' callbacks, both ends: taken while the job runs, late (refused) after its end
    ("submitter", "submitter_callbacks_total", {"outcome": "delivered"}),
    ("gateway", "gateway_callbacks_total", {"outcome": "accepted"}),
    ("submitter", "submitter_callbacks_total", {"outcome": "late"}),
    ("gateway", "gateway_callbacks_total", {"outcome": "late"}),
    # messages published and consumed
    ("gateway", "gateway_messages_published_total", {"type": "CreateJob"}),
    ("catalog", "catalog_messages_consumed_total", {"type": "CreateJob"}),
    ("catalog", "catalog_messages_published_total", {"type": "SubmitJob"}),
    ("catalog", "catalog_messages_published_total", {"type": "JobPhaseChanged"}),
    ("submitter", "submitter_messages_consumed_total", {"type": "SubmitJob"}),
    ("submitter", "submitter_messages_consumed_total", {"type": "KillJob"}),
    ("submitter", "submitter_messages_published_total", {"type": "JobSubmitted"}),
    ("monitor", "monitor_messages_consumed_total", {"type": "JobPhaseChanged"}),
    ("monitor", "monitor_messages_published_total", {"type": "JobStatusObserved"}),
    ("catalog", "catalog_message_batch_duration_seconds_count", {}),
    ("catalog", "catalog_batch_size_count", {}),
    # dead-lettered messages (undecodable ones, published by this test)
    ("catalog", "catalog_messages_dead_lettered_total", {"type": "Nonsense"}),
    ("submitter", "submitter_messages_dead_lettered_total", {"type": "Nonsense"}),
    ("monitor", "monitor_messages_dead_lettered_total", {"type": "Nonsense"}),
    # outbox lag
    ("catalog", "catalog_outbox_lag_seconds_count", {}),
    # HTTP latency by route, and the gateway's calls to the catalog
    ("gateway", "gateway_http_request_duration_seconds_count", {"method": "POST", "route": "/uws/jobs"}),
    ("gateway", "gateway_http_request_duration_seconds_count", {"method": "GET", "route": "/uws/jobs/{job_id}"}),
    ("catalog", "catalog_http_request_duration_seconds_count", {"route": "/internal/jobs/read-batch"}),
    ("submitter", "submitter_http_request_duration_seconds_count", {"route": "/metrics"}),
    ("monitor", "monitor_http_request_duration_seconds_count", {"route": "/metrics"}),
    ("gateway", "gateway_catalog_request_duration_seconds_count", {}),
]
# Gauges seen above their resting value while something is under way. catalog_outbox_pending is left out: it
# counts rows a sweep finds unpublished, and a healthy relay publishes them before any sweep.
# The gateway serves WAIT from its own waiters (woken by JobPhaseChanged); the catalog's waiters count only
# when the gateway falls back to the catalog's wait, so they are not required to move here.
OPEN_WAIT_GAUGES = [("gateway", "gateway_open_waits")]
RUNNING_JOB_GAUGES = [("submitter", "submitter_running_jobs"), ("monitor", "monitor_jobs_tracked")]


async def _scrape(stack: Stack, services: tuple[str, ...] = SERVICES) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as http:
        texts = await asyncio.gather(*(http.get(f"http://127.0.0.1:{stack.ports[s]}/metrics") for s in services))
    scraped: Scrape = {}
    for service, response in zip(services, texts, strict=True):
        response.raise_for_status()
        samples = scraped.setdefault(service, {})
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return scraped


def _total(scrape: Scrape, service: str, name: str, labels: dict[str, str] | None = None) -> float:
    wanted = set((labels or {}).items())
    return sum(v for (n, ls), v in scrape[service].items() if n == name and wanted <= set(ls))


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _publish_undecodable(stack: Stack) -> None:
    """One message no service can read, routed to the catalog and the monitor, and one to the submitter."""
    connection = await aio_pika.connect(stack.amqp_url)  # type: ignore[attr-defined]
    try:
        exchange = await (await connection.channel()).get_exchange(stack.namespace)  # type: ignore[attr-defined]
        for key in ("job.reported", "submitter.kill_job"):
            await exchange.publish(aio_pika.Message(b"{}", type="Nonsense"), routing_key=key)
    finally:
        await connection.close()


async def test_every_metric_exists_on_the_running_services(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for service in SERVICES:
            text = (await http.get(f"http://127.0.0.1:{stack.ports[service]}/metrics")).text
            exposed = {family.name for family in text_string_to_metric_families(text)}
            declared = {family.name for family in service_registry(service).collect()}
            assert declared <= exposed, f"{service} does not expose {sorted(declared - exposed)}"


async def test_every_metric_moves_when_jobs_run(stack: Stack, client: httpx.AsyncClient) -> None:
    before = await _scrape(stack)
    during: dict[tuple[str, str], float] = {}

    # A blocking WAIT on a PENDING job holds a request open in the gateway and in the catalog.
    hello = await create_job(client, workflow="hello-world", facility="local", Parameter1="7")
    waiting = asyncio.create_task(client.get(f"/uws/jobs/{hello}", params={"WAIT": "30"}))

    async def waits_open() -> bool:
        now = await _scrape(stack, ("gateway", "catalog"))
        during.update({(s, n): _total(now, s, n) for s, n in OPEN_WAIT_GAUGES})
        return all(during[key] >= 1 for key in OPEN_WAIT_GAUGES)

    await _until(waits_open, "the WAIT to be open in the gateway and the catalog")
    await client.post(f"/uws/jobs/{hello}/phase", data={"PHASE": "RUN"})
    assert (await waiting).status_code == 200
    await wait_for_phase(client, hello, {"COMPLETED"}, within=30)

    # A running local job is a process of the submitter and a job the monitor tracks; its start callback (sent
    # a moment after the start) is taken.
    sleeper = await create_job(client, workflow="sleep", facility="local", seconds="120", PHASE="RUN")
    await wait_for_phase(client, sleeper, {"EXECUTING"}, within=30)
    now = await _scrape(stack, ("submitter", "monitor"))
    during.update({(s, n): _total(now, s, n) for s, n in RUNNING_JOB_GAUGES})
    delivered = ("submitter", "submitter_callbacks_total", {"outcome": "delivered"})

    async def start_reported() -> bool:
        return _total(await _scrape(stack, ("submitter",)), *delivered) > _total(before, *delivered)

    await _until(start_reported, "the running job's start callback to be taken")
    await client.post(f"/uws/jobs/{sleeper}/phase", data={"PHASE": "ABORT"})
    await wait_for_phase(client, sleeper, {"ABORTED"}, within=30)

    # A job whose end the submitter cannot report (it is stopped, not killed) is ended by the monitor's poll.
    short = await create_job(client, workflow="sleep", facility="local", seconds="1", PHASE="RUN")
    await wait_for_phase(client, short, {"EXECUTING"}, within=30)
    submitter = stack.pids()["submitter"]
    os.kill(submitter, signal.SIGSTOP)
    try:
        job = await wait_for_phase(client, short, {"COMPLETED"}, within=30)
    finally:
        os.kill(submitter, signal.SIGCONT)
    assert job.results, "the monitor's observation carries the results"

    await _publish_undecodable(stack)

    async def dead_lettered() -> bool:
        now = await _scrape(stack, ("catalog", "submitter", "monitor"))
        return all(_total(now, s, f"{s}_messages_dead_lettered_total") for s in ("catalog", "submitter", "monitor"))

    await _until(dead_lettered, "the undecodable messages to be dead-lettered")
    after = await _scrape(stack)

    still = [f"{service} {name}{labels}" for service, name, labels in MOVING_COUNTERS
             if _total(after, service, name, labels) <= _total(before, service, name, labels)]
    assert still == [], f"these did not move: {still}"
    for service, name in OPEN_WAIT_GAUGES + RUNNING_JOB_GAUGES:
        assert during[(service, name)] > _total(before, service, name), f"{service} {name} did not move"

    async def counted_by_phase() -> bool:
        now = await _scrape(stack, ("catalog",))
        return all(_total(now, "catalog", "catalog_jobs", {"phase": p}) > _total(before, "catalog", "catalog_jobs",
                                                                                {"phase": p})
                   for p in ("COMPLETED", "ABORTED"))

    await _until(counted_by_phase, "jobs by phase to count the finished jobs")


async def test_a_message_the_broker_delivers_again_is_counted(stack: Stack) -> None:
    """The monitor is stopped, a message for it is taken and let go unacknowledged, and the restarted monitor
    receives it flagged as redelivered."""
    stack.services["monitor"].stop()
    message = JobPhaseChanged(job_id=new_id(), owner=None, workflow="noop", facility="local", backend="local",
                              phase=Phase.COMPLETED, previous_phase=Phase.EXECUTING, changed_at=utcnow())
    connection = await aio_pika.connect(stack.amqp_url)  # type: ignore[attr-defined]
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(stack.namespace)  # type: ignore[attr-defined]
        await exchange.publish(aio_pika.Message(encode(message), type=message.type_name(),
                                               message_id=str(message.message_id)),
                               routing_key=message.routing_key_for())
        queue = await channel.get_queue(Topology(stack.namespace).monitor.name)  # type: ignore[attr-defined]
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []
        while not taken or taken[-1].message_id != str(message.message_id):
            got = await queue.get(fail=False)
            assert got is not None, "the message did not reach the monitor's queue"
            taken.append(got)
        await channel.close()  # unacknowledged: the broker requeues them, flagged as redelivered
    finally:
        await connection.close()
    stack.start("monitor")

    async def redelivered() -> bool:
        now = await _scrape(stack, ("monitor",))
        return _total(now, "monitor", "monitor_messages_redelivered_total", {"type": "JobPhaseChanged"}) >= 1

    await _until(redelivered, "the monitor to count the redelivered message")
