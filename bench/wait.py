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
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime

import aiohttp
from common import Exchange, bench_parser, own_stack, percentile, stack_arguments, tap_phase_changes, write_errors
from prometheus_client.parser import text_string_to_metric_families

from esap_messages import JobPhaseChanged

READ_ROUTE = "/internal/jobs/{id}"


class Changes:
    """Each job's QUEUED time as the catalog stamps it, and when the bench saw that change on the bus."""

    def __init__(self) -> None:
        self.stamped: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    def on_change(self, message: JobPhaseChanged) -> None:
        now = time.time()
        self.stamped.setdefault(str(message.job_id), message.changed_at.timestamp())
        self.seen.setdefault(str(message.job_id), now)


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
        await tap_phase_changes(args.amqp_url, namespace, (f"{JobPhaseChanged.routing_key}.QUEUED",),
                                changes.on_change, cleanup)
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
    write_errors(waits.errors, post_errors)


def parse() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=1000, help="PENDING jobs, one waiter each")
    parser.add_argument("--rate", type=float, default=100.0, help="jobs started per second")
    parser.add_argument("--wait", type=int, default=60, help="each waiter's WAIT, in seconds")
    parser.add_argument("--warm-up", type=int, default=100,
                        help="jobs waited on and started the same way before the measured ones, not measured")
    parser.add_argument("--workflow", default="noop")
    parser.add_argument("--concurrency", type=int, default=64, help="job creations in flight")
    stack_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(run(parse()))
