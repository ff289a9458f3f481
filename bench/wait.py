"""WAIT benchmark: many clients blocked in ``GET /uws/jobs/{id}?WAIT=60`` while their jobs are started.

On a stack of its own (fresh database, bus namespace and work root): creates --jobs PENDING jobs, holds one
``?WAIT=60`` per job (all at once), then starts the jobs (``POST /uws/jobs/{id}/phase PHASE=RUN``) at --rate
jobs/s. Prints how long each waiter took to be answered after its job's change (the QUEUED time the catalog
stamps, and the moment the bench saw that change on the bus), the errors (any answer other than 303 to a POST or
200 to a WAIT, and any connection error) and how many waiters were woken by the change rather than by the
timeout. Figures are printed for reading and comparing; nothing is asserted.
"""

import argparse
import asyncio
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path

import aio_pika
import aiohttp
from chain import percentile
from prometheus_client.parser import text_string_to_metric_families

from esap_messages import JobPhaseChanged, Topology, decode_all
from esap_runtime.bus import delete_topology
from esap_runtime.stack import Stack, free_ports
from esap_runtime.testing import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
JSON = {"Accept": "application/json"}
READ_ROUTE = "/internal/jobs/{id}"


class Changes:
    """Each job's QUEUED time as the catalog stamps it, and when the bench saw that change on the bus."""

    def __init__(self) -> None:
        self.stamped: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    async def tap(self, amqp_url: str, namespace: str, stack: AsyncExitStack) -> None:
        connection = await aio_pika.connect(amqp_url)
        stack.push_async_callback(connection.close)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await channel.get_exchange(Topology(namespace).exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=f"{JobPhaseChanged.routing_key}.QUEUED")

        async def on_message(raw: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.time()
            for message in decode_all(raw.type, raw.body, raw.headers):
                if isinstance(message, JobPhaseChanged):
                    self.stamped.setdefault(str(message.job_id), message.changed_at.timestamp())
                    self.seen.setdefault(str(message.job_id), now)

        await queue.consume(on_message, no_ack=True)


@asynccontextmanager
async def own_stack(args: argparse.Namespace) -> AsyncIterator[tuple[Stack, str]]:
    """The four services on a fresh database and bus namespace; yields the stack and its namespace."""
    suffix = uuid.uuid4().hex[:8]
    namespace, database = f"w{suffix}", f"esap_wait_{suffix}"
    work_root = ROOT / "var" / "bench" / suffix
    work_root.mkdir(parents=True)
    jobs_root = (args.work_root / suffix) if args.work_root else work_root / "jobs"
    database_url = await create_database(args.database_url, database)
    env = {"ESAP_ENVIRONMENT": "development", "ESAP_LOG_LEVEL": args.log_level, "ESAP_AMQP_URL": args.amqp_url,
           "ESAP_BUS_NAMESPACE": namespace, "CATALOG_DATABASE_URL": database_url,
           "ESAP_LOCAL_WORK_ROOT": str(jobs_root), "ESAP_WORKFLOWS_DIR": str(ROOT / "workflows"),
           "ESAP_FACILITIES_DIR": str(ROOT / "facilities"), "ESAP_LOG_JSON": "true"}
    stack = Stack(env=env, ports=free_ports(), log_dir=work_root)
    try:
        await asyncio.to_thread(stack.setup)
        await asyncio.to_thread(stack.start)
        yield stack, namespace
    finally:
        await asyncio.to_thread(stack.stop)
        connection = await aio_pika.connect(args.amqp_url)
        await delete_topology(await connection.channel(), Topology(namespace))
        await connection.close()
        await drop_database(args.database_url, database)
        # A directory of files per job: thousands of runs' worth would fill the disk.
        await asyncio.to_thread(shutil.rmtree, jobs_root, True)
        sys.stderr.write(f"service logs: {work_root}\n")


async def create_pending(client: aiohttp.ClientSession, jobs: int, workflow: str, concurrency: int) -> list[str]:
    """Ids of ``jobs`` new PENDING jobs (created ``concurrency`` at a time)."""
    ids: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate, client.post("/uws/jobs", data={"workflow": workflow, "facility": "local"},
                                     allow_redirects=False) as response:
            if response.status == 303:
                ids.append(response.headers["Location"].rsplit("/", 1)[-1])

    await asyncio.gather(*(one() for _ in range(jobs)))
    return ids


async def gateway_gauges(client: aiohttp.ClientSession) -> tuple[float, float]:
    """The WAITs open at the gateway, and the job reads it has sent to the catalog so far."""
    async with client.get("/metrics") as response:
        text = await response.text()
    waiting = reads = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_open_waits":
                waiting = sample.value
            elif (sample.name == "gateway_catalog_request_duration_seconds_count"
                  and sample.labels.get("route") == READ_ROUTE):
                reads = sample.value
    return waiting, reads


async def parked(client: aiohttp.ClientSession, waiters: int, seconds: float = 30.0) -> None:
    """Once ``waiters`` WAITs are open and the gateway's job reads have stopped (each waiter has read its job and
    parked), or ``seconds`` ran out."""
    last = -1.0
    for _ in range(round(seconds / 0.1)):
        waiting, reads = await gateway_gauges(client)
        if waiting >= waiters and reads == last:
            return
        last = reads
        await asyncio.sleep(0.1)


class Waits:
    """One ``?WAIT=`` per job: when each was answered, with which phase, and the errors."""

    def __init__(self) -> None:
        self.answered: dict[str, float] = {}
        self.phase: dict[str, str] = {}
        self.errors: list[str] = []

    async def hold(self, client: aiohttp.ClientSession, job_id: str, seconds: int) -> None:
        try:
            async with client.get(f"/uws/jobs/{job_id}", params={"WAIT": str(seconds)}, headers=JSON) as response:
                body = await response.read()
                self.answered[job_id] = time.time()
                if response.status != 200:
                    self.errors.append(f"WAIT {response.status} {body[:80]!r}")
                    return
                self.phase[job_id] = (await response.json())["phase"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(f"WAIT {exc!r}")


async def start_jobs(client: aiohttp.ClientSession, ids: list[str], rate: float) -> list[str]:
    """``POST /phase RUN`` for each job at ``rate`` per second; the errors."""
    errors: list[str] = []

    async def one(job_id: str) -> None:
        try:
            async with client.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "RUN"},
                                   allow_redirects=False) as response:
                body = await response.read()
                if response.status != 303:
                    errors.append(f"POST {response.status} {body[:80]!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors.append(f"POST {exc!r}")

    first = time.time()
    tasks = []
    for i, job_id in enumerate(ids):
        delay = first + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(job_id)))
    await asyncio.gather(*tasks)
    return errors


def after(earlier: dict[str, float], later: dict[str, float], jobs: list[str]) -> list[float]:
    return [later[j] - earlier[j] for j in jobs if j in earlier and j in later]


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:7.1f} ms"


async def run(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as cleanup:
        stack, namespace = await cleanup.enter_async_context(own_stack(args))
        changes = Changes()
        await changes.tap(args.amqp_url, namespace, cleanup)
        # As many connections as waiters plus the POSTs in flight: the bench must not be the queue it measures.
        connector = aiohttp.TCPConnector(limit=0)
        client = await cleanup.enter_async_context(aiohttp.ClientSession(
            stack.gateway_url, connector=connector, timeout=aiohttp.ClientTimeout(total=args.wait + 30)))
        ids = await create_pending(client, args.jobs, args.workflow, args.concurrency)
        waits = Waits()
        holding = [asyncio.create_task(waits.hold(client, job_id, args.wait)) for job_id in ids]
        await parked(client, len(ids))
        started = time.time()
        post_errors = await start_jobs(client, ids, args.rate)
        await asyncio.gather(*holding)
        span = time.time() - started
    report(args, ids, changes, waits, post_errors, span)


def report(args: argparse.Namespace, ids: list[str], changes: Changes, waits: Waits, post_errors: list[str],
           span: float) -> None:
    woken = [j for j in ids if waits.phase.get(j, "PENDING") != "PENDING"]
    stamped = after(changes.stamped, waits.answered, woken)
    seen = after(changes.seen, waits.answered, woken)
    bus = after(changes.stamped, changes.seen, woken)
    out = sys.stdout.write
    out(f"\nesap-batch WAIT benchmark ({datetime.now():%Y-%m-%d %H:%M}): {len(ids)} PENDING '{args.workflow}' "
        f"jobs, one ?WAIT={args.wait} each, started at {args.rate:g}/s ({span:.1f} s)\n")
    out(f"  change -> answer          p50 {ms(stamped, 50)}   p99 {ms(stamped, 99)}   max {ms(stamped, 100)}   "
        "(QUEUED as the catalog stamps it)\n")
    out(f"  bus -> answer             p50 {ms(seen, 50)}   p99 {ms(seen, 99)}   max {ms(seen, 100)}   "
        "(the change seen on the bus by the bench)\n")
    out(f"  change -> bus             p50 {ms(bus, 50)}   p99 {ms(bus, 99)}\n")
    out(f"  woken by the change       {len(woken)} of {len(ids)} waiters\n")
    out(f"  errors                    {len(waits.errors)} of {len(ids)} WAITs, {len(post_errors)} of {len(ids)} "
        "POSTs\n")
    for error in sorted(set(waits.errors + post_errors))[:10]:
        out(f"    {error}\n")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="PENDING jobs, one waiter each")
    parser.add_argument("--rate", type=float, default=100.0, help="jobs started per second")
    parser.add_argument("--wait", type=int, default=60, help="each waiter's WAIT, in seconds")
    parser.add_argument("--workflow", default="noop")
    parser.add_argument("--concurrency", type=int, default=64, help="job creations in flight")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--log-level", default="WARNING", help="the services' log level")
    parser.add_argument("--work-root", type=Path, default=None,
                        help="where the run's job directories go (in a directory of the run's own); default: "
                             "var/bench/<run>/jobs")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(run(parse()))
