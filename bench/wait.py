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
import json
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
import httptools
from chain import percentile
from prometheus_client.parser import text_string_to_metric_families

from esap_messages import JobPhaseChanged, Topology, decode_all
from esap_runtime.bus import delete_topology
from esap_runtime.stack import Stack, free_ports
from esap_runtime.testing import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
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


class Exchange(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends one prepared request at a time; httptools parses the answer,
    whose arrival time is taken as soon as it is parsed. The bench shares the services' two cores, so its client is
    kept lean, as bench/chain.py's is: a general client spent several times more per request."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[tuple[int, bytes, float]] | None = None
        self._body: list[bytes] = []
        self._lost: Exception | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> "Exchange":
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unparsable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = ConnectionError(f"connection lost: {exc}")
        self._fail(self._lost)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), b"".join(self._body), time.time()))

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    async def send(self, request: bytes) -> tuple[int, bytes, float]:
        """The answer's status, body, and the time it arrived."""
        assert self._transport is not None
        if self._lost is not None:
            raise self._lost
        self._answer = asyncio.get_running_loop().create_future()
        self._body = []
        self._transport.write(request)
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@asynccontextmanager
async def own_stack(args: argparse.Namespace, *, env: dict[str, str] | None = None,
                    prefix: str = "w") -> AsyncIterator[tuple[Stack, str]]:
    """The four services on a fresh database and bus namespace (with ``env`` on top of the bench's settings);
    yields the stack and its namespace."""
    suffix = uuid.uuid4().hex[:8]
    namespace, database = f"{prefix}{suffix}", f"esap_bench_{prefix}{suffix}"
    work_root = ROOT / "var" / "bench" / suffix
    work_root.mkdir(parents=True)
    jobs_root = (args.work_root / suffix) if args.work_root else work_root / "jobs"
    database_url = await create_database(args.database_url, database)
    settings = {"ESAP_ENVIRONMENT": "development", "ESAP_LOG_LEVEL": args.log_level, "ESAP_AMQP_URL": args.amqp_url,
           "ESAP_BUS_NAMESPACE": namespace, "CATALOG_DATABASE_URL": database_url,
           "ESAP_LOCAL_WORK_ROOT": str(jobs_root), "ESAP_WORKFLOWS_DIR": str(ROOT / "workflows"),
           "ESAP_FACILITIES_DIR": str(ROOT / "facilities"), "ESAP_LOG_JSON": "true",
           "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",  # one client creating and starting a thousand jobs, on purpose
           **(env or {})}
    stack = Stack(env=settings, ports=free_ports(), log_dir=work_root)
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

    async def hold(self, gateway: tuple[str, int], job_id: str, seconds: int) -> None:
        host, port = gateway
        request = (f"GET /uws/jobs/{job_id}?WAIT={seconds} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   "Accept: application/json\r\n\r\n").encode()
        exchange = None
        try:
            exchange = await Exchange.open(host, port)
            async with asyncio.timeout(seconds + 30):
                status, body, self.answered[job_id] = await exchange.send(request)
        except OSError as exc:  # refused, lost, unparsable, or timed out (TimeoutError is an OSError)
            self.errors.append(f"WAIT {exc!r}")
            return
        finally:
            if exchange is not None:
                exchange.close()
        if status != 200:
            self.errors.append(f"WAIT {status} {body[:80]!r}")
            return
        self.phase[job_id] = json.loads(body)["phase"]


async def start_jobs(gateway: tuple[str, int], ids: list[str], rate: float) -> list[str]:
    """``POST /phase RUN`` for each job at ``rate`` per second, over keep-alive connections opened as needed; the
    errors."""
    host, port = gateway
    errors: list[str] = []
    idle: list[Exchange] = []

    async def one(job_id: str) -> None:
        request = (f"POST /uws/jobs/{job_id}/phase HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nPHASE=RUN").encode()
        exchange = idle.pop() if idle else None
        try:
            exchange = exchange or await Exchange.open(host, port)
            async with asyncio.timeout(60):
                status, body, _ = await exchange.send(request)
        except OSError as exc:
            if exchange is not None:
                exchange.close()
            errors.append(f"POST {exc!r}")
            return
        idle.append(exchange)
        if status != 303:
            errors.append(f"POST {status} {body[:80]!r}")

    first = time.time()
    tasks = []
    for i, job_id in enumerate(ids):
        delay = first + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(job_id)))
    await asyncio.gather(*tasks)
    for exchange in idle:
        exchange.close()
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
        client = await cleanup.enter_async_context(aiohttp.ClientSession(stack.gateway_url))
        gateway = ("127.0.0.1", stack.ports["gateway"])
        warm_errors = await warm_up(client, gateway, args)
        ids = await create_pending(client, args.jobs, args.workflow, args.concurrency)
        waits = Waits()
        holding = [asyncio.create_task(waits.hold(gateway, job_id, args.wait)) for job_id in ids]
        await parked(client, len(ids))
        started = time.time()
        post_errors = warm_errors + await start_jobs(gateway, ids, args.rate)
        await asyncio.gather(*holding)
        span = time.time() - started
    report(args, ids, changes, waits, post_errors, span)


async def warm_up(client: aiohttp.ClientSession, gateway: tuple[str, int], args: argparse.Namespace) -> list[str]:
    """--warm-up jobs waited on and started as the measured ones are, not measured: a stack's first requests pay
    for its connections, prepared statements and first-use imports (the first batch took 280 ms to reach the bus
    here), which a stack that has served for a while has long paid. Their errors count with the others."""
    if args.warm_up <= 0:
        return []
    ids = await create_pending(client, args.warm_up, args.workflow, args.concurrency)
    waits = Waits()
    holding = [asyncio.create_task(waits.hold(gateway, job_id, args.wait)) for job_id in ids]
    await parked(client, len(ids))
    errors = await start_jobs(gateway, ids, args.rate)
    await asyncio.gather(*holding)
    return errors + waits.errors


def report(args: argparse.Namespace, ids: list[str], changes: Changes, waits: Waits, post_errors: list[str],
           span: float) -> None:
    woken = [j for j in ids if waits.phase.get(j, "PENDING") != "PENDING"]
    stamped = after(changes.stamped, waits.answered, woken)
    seen = after(changes.seen, waits.answered, woken)
    bus = after(changes.stamped, changes.seen, woken)
    out = sys.stdout.write
    out(f"\nesap-batch WAIT benchmark ({datetime.now():%Y-%m-%d %H:%M}): {len(ids)} PENDING '{args.workflow}' "
        f"jobs, one ?WAIT={args.wait} each, started at {args.rate:g}/s ({span:.1f} s), after {args.warm_up} "
        "started the same way\n")
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
    parser.add_argument("--warm-up", type=int, default=100,
                        help="jobs waited on and started the same way before the measured ones, not measured")
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
