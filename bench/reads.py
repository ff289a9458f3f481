"""Reads benchmark: the two reads a UWS client makes most, on a catalog holding one owner's many jobs.

On a stack of its own (fresh database, bus namespace and work root), fills the catalog by SQL with --jobs ended
jobs of one owner (spread over a year, as a busy user's would be), then measures through the gateway:

- list: ``GET /uws/jobs?LAST=50`` (the owner's 50 newest), one connection, --list-requests in a row;
- get: ``GET /uws/jobs/{id}`` of one job, --connections connections each sending its next request as soon as its
  answer came, for --get-seconds.

Prints p50/p99 (and max) of the time to answer for each, the get workload's requests per second, the errors (any
answer but 200, any connection error) and the services' CPU per request. Figures are printed for reading and
comparing; nothing is asserted.
"""

import argparse
import asyncio
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime

import asyncpg
import psutil
from common import Exchange, bench_parser, own_stack, percentile, stack_arguments, write_errors

OWNER, TOKEN = "reader", "bench-reader"

FILL = """
INSERT INTO jobs (job_id, owner, workflow, facility, backend, phase, creation_time, start_time, end_time,
                  destruction, updated_at)
SELECT gen_random_uuid(), $1, 'noop', 'local', 'local', 'COMPLETED', t, t + interval '1 s', t + interval '2 s',
       t + interval '400 days', t + interval '2 s'
FROM (SELECT now() - (n * interval '31 s') AS t FROM generate_series(1, $2::int) AS n) AS times
"""


async def fill(database_url: str, jobs: int) -> str:
    """``jobs`` COMPLETED jobs of OWNER; the id of the newest."""
    connection = await asyncpg.connect(database_url)
    try:
        for start in range(0, jobs, 200_000):
            await connection.execute(FILL, OWNER, min(200_000, jobs - start))
        await connection.execute("VACUUM ANALYZE jobs")
        return str(await connection.fetchval("SELECT job_id FROM jobs WHERE owner = $1 "
                                             "ORDER BY creation_time DESC, job_id DESC LIMIT 1", OWNER))
    finally:
        await connection.close()


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()


async def timed(exchange: Exchange, raw: bytes, times: list[float], errors: list[str]) -> None:
    started = time.perf_counter()
    try:
        status, body, _ = await exchange.send(raw)
    except ConnectionError as exc:
        errors.append(str(exc))
        return
    times.append(time.perf_counter() - started)
    if status != 200:
        errors.append(f"{status} {body[:120]!r}")


async def list_workload(gateway: tuple[str, int], requests: int) -> tuple[list[float], list[str]]:
    exchange = await Exchange.open(*gateway)
    times: list[float] = []
    errors: list[str] = []
    raw = request("/uws/jobs?LAST=50")
    try:
        for _ in range(requests):
            await timed(exchange, raw, times, errors)
    finally:
        exchange.close()
    return times, errors


async def get_workload(gateway: tuple[str, int], job_id: str, connections: int,
                       seconds: float) -> tuple[list[float], list[str]]:
    times: list[float] = []
    errors: list[str] = []
    raw = request(f"/uws/jobs/{job_id}")
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        exchange = await Exchange.open(*gateway)
        try:
            while time.perf_counter() < deadline:
                await timed(exchange, raw, times, errors)
        finally:
            exchange.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return times, errors


class Cpu:
    """CPU seconds the services' processes spent between two looks."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        return {name: sum(p.cpu_times()[:2]) for name, p in self._processes.items()}

    def spent(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self._start[name] for name in now}


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:7.2f} ms"


def line(name: str, times: list[float], errors: list[str], cpu: dict[str, float], span: float) -> str:
    count = max(len(times), 1)
    per = "  ".join(f"{service} {seconds / count * 1000:.2f}" for service, seconds in cpu.items() if seconds > 0)
    return (f"  {name:5} {len(times):6} answers  {len(times) / span:7.0f}/s   p50 {ms(times, 50)}   "
            f"p99 {ms(times, 99)}   max {ms(times, 100)}   errors {len(errors)}\n"
            f"        CPU per request (ms): {per}\n")


async def run(args: argparse.Namespace) -> None:
    env = {"GATEWAY_STATIC_TOKENS": f'{{"{TOKEN}": "{OWNER}"}}'}
    async with AsyncExitStack() as cleanup:
        stack, _ = await cleanup.enter_async_context(own_stack(args, env=env, prefix="r"))
        filling = time.perf_counter()
        newest = await fill(stack.env["CATALOG_DATABASE_URL"], args.jobs)
        filled = time.perf_counter() - filling
        gateway = ("127.0.0.1", stack.ports["gateway"])
        await list_workload(gateway, 200)  # warm: connections, caches, the planner
        pids = stack.pids()

        cpu = Cpu(pids)
        started = time.perf_counter()
        list_times, list_errors = await list_workload(gateway, args.list_requests)
        list_span, list_cpu = time.perf_counter() - started, cpu.spent()

        cpu = Cpu(pids)
        started = time.perf_counter()
        get_times, get_errors = await get_workload(gateway, newest, args.connections, args.get_seconds)
        get_span, get_cpu = time.perf_counter() - started, cpu.spent()

    out = sys.stdout.write
    out(f"\nesap-batch reads benchmark ({datetime.now():%Y-%m-%d %H:%M}): one owner's {args.jobs:,} jobs "
        f"(filled by SQL in {filled:.0f} s)\n")
    out(line("list", list_times, list_errors, list_cpu, list_span).replace(
        "  list ", "  list ", 1))
    out("        (GET /uws/jobs?LAST=50, one connection)\n")
    out(line("get", get_times, get_errors, get_cpu, get_span))
    out(f"        (GET /uws/jobs/{{id}}, {args.connections} connections, {args.get_seconds:g} s)\n")
    write_errors(list_errors, get_errors)


def parse() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs of the one owner, filled by SQL")
    parser.add_argument("--list-requests", type=int, default=2000, help="lists of 50, one after the other")
    parser.add_argument("--connections", type=int, default=50, help="connections of the get workload")
    parser.add_argument("--get-seconds", type=float, default=20.0, help="length of the get workload")
    stack_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(run(parse()))
