"""Whole-chain benchmark: short jobs through gateway -> catalog -> submitter -> local executor -> monitor.

Two phases on a stack of its own (fresh database, bus namespace and work root), or on a running gateway:
1. throughput: --jobs jobs POSTed at --rate jobs/s (0 = as fast as possible) with --concurrency requests in
   flight; prints jobs/s accepted by the gateway, jobs/s completed through the whole chain, POST latency, the
   jobs in flight (accepted, not ended: wherever they wait, queues, consumers' prefetch or the executor) and how
   fast that number grows while submitting, and the CPU each process spent per completed job;
2. latency: --latency-jobs jobs at --latency-rate jobs/s; prints submit -> EXECUTING and submit -> COMPLETED,
   and the median of each hop between the phases the catalog stamps.
Throughout, each service's resident memory is sampled (idle before the run, and peak). Figures are printed for
reading and comparing; nothing is asserted.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aio_pika
import aiohttp
import asyncpg
import psutil
from common import ROOT, HttpConnection, bench_parser, own_stack, percentile, stack_arguments, tap_phase_changes
from prometheus_client.parser import text_string_to_metric_families

from esap_messages import JobPhaseChanged, Topology
from esap_runtime.stack import SERVICES, Stack


def reference_loop() -> float:
    """Seconds one core takes for a fixed pure-Python loop: figures from two machines compare through it."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def payload_alone(workflow: str, runs: int = 300) -> float:
    """CPU seconds one run of the workflow's command costs on this machine without esap-batch (process creation
    and exec included): the part of a job's CPU no service can save."""
    command = json.loads((ROOT / "workflows" / f"{workflow}.json").read_text())["run"]["command"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs


def file_creation(root: Path, files: int = 300) -> float:
    """CPU seconds one empty file costs to create in ``root``, before any job runs. Each job creates seven; on ext4
    without a journal, inodes deleted in the last minutes make it ten to thirty times dearer (docs/ARCHITECTURE.md,
    "The work root's file system"). The files stay, with the run's job directories: deleting them would make the
    next allocations dearer still."""
    probe = root / ".bench-probe"
    probe.mkdir(parents=True)
    before = time.process_time()
    for n in range(files):
        os.close(os.open(probe / str(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return (time.process_time() - before) / files


class Recorder:
    """Submit times, and phase times from the catalog's JobPhaseChanged events."""

    def __init__(self) -> None:
        self.submitted: dict[str, float] = {}
        self.queued: dict[str, float] = {}
        self.executing: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.post_latency: list[float] = []
        self.all_done = asyncio.Event()
        self.expected = 0

    def on_change(self, event: JobPhaseChanged) -> None:
        job = str(event.job_id)
        at = event.changed_at.timestamp()
        if event.phase.value == "QUEUED":
            self.queued.setdefault(job, at)
        elif event.phase.value == "EXECUTING":
            self.executing.setdefault(job, at)
        elif event.phase.value == "COMPLETED":
            self.completed.setdefault(job, at)
            self.executing.setdefault(job, at)
        elif event.phase.value in ("ERROR", "ABORTED"):
            self.failed[job] = event.phase.value
        if len(self.completed) + len(self.failed) >= self.expected:
            self.all_done.set()

    @property
    def in_flight(self) -> int:
        """Jobs accepted by the gateway and not ended yet, wherever they wait (queues, prefetch, executor)."""
        return max(0, len(self.submitted) - len(self.completed) - len(self.failed))


# The throughput phase taps only the ends (a third of the messages to route and decode on the same cores), the
# latency phase every phase.
ENDS = tuple(f"job.phase_changed.{phase}" for phase in ("COMPLETED", "ERROR", "ABORTED"))
EVERY_PHASE = ("job.phase_changed.*",)


async def backlog(amqp_url: str, namespace: str) -> dict[str, int]:
    """Messages waiting in each service's queue."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        depths = {}
        for spec in Topology(namespace).queues():
            queue = await channel.declare_queue(spec.name, passive=True)
            depths[spec.name.rsplit(".", 1)[-1]] = queue.declaration_result.message_count or 0
        return depths
    finally:
        await connection.close()


def family(pid: int) -> list[psutil.Process]:
    """A service's process and its direct children: the submitter's job launcher counts as the submitter's."""
    process = psutil.Process(pid)
    return [process, *process.children()]


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time used so far by each service (with its helper processes), the job processes they reaped ("jobs"),
    RabbitMQ and PostgreSQL."""
    used: dict[str, float] = {"jobs": 0.0}
    for name, pid in pids.items():
        used[name] = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            for process in family(pid):
                with contextlib.suppress(psutil.NoSuchProcess):
                    t = process.cpu_times()
                    used[name] += t.user + t.system
                    used["jobs"] += t.children_user + t.children_system
    for process in psutil.process_iter(["name", "cpu_times"]):
        label = {"beam.smp": "rabbitmq", "postgres": "postgresql"}.get(process.info["name"] or "")
        if label and process.info["cpu_times"] is not None:
            t = process.info["cpu_times"]
            used[label] = used.get(label, 0.0) + t.user + t.system
    return used


def machine_cpu() -> tuple[float, dict[int, tuple[str, float]]]:
    """CPU seconds the whole machine spent busy so far (interrupts included, time stolen by a hypervisor not), and
    each process' name and CPU seconds, by pid (a kernel worker's name changes with its work queue). What the
    services, the jobs, RabbitMQ, PostgreSQL and this bench leave over is work done for them elsewhere (the
    kernel's threads writing their files back, network interrupts)."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + t.irq + t.softirq
    own = {}
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if times is not None:
            own[process.pid] = (process.info["name"] or "?", times.user + times.system)
    return busy, own


def elsewhere(before: tuple[float, dict[int, tuple[str, float]]], after: tuple[float, dict[int, tuple[str, float]]],
              counted: float, skip: set[int]) -> tuple[float, float, list[tuple[str, float]]]:
    """Busy CPU seconds between two ``machine_cpu`` readings, the part of it not in ``counted``, and the processes
    outside ``skip`` (the services, this bench) and RabbitMQ and PostgreSQL that spent the most of that part."""
    busy = after[0] - before[0]
    others: dict[str, float] = {}
    for pid, (name, seconds) in after[1].items():
        if pid in skip or name in ("beam.smp", "postgres"):
            continue
        spent = seconds - before[1].get(pid, (name, 0.0))[1]
        if spent > 0:
            label = name.split("-", 1)[0] if name.startswith("kworker/") else name  # its queue changes
            others[label] = others.get(label, 0.0) + spent
    return busy, busy - counted, sorted(others.items(), key=lambda item: -item[1])[:3]


WORK_COUNTERS = {"published": "_messages_published_total", "consumed": "_messages_consumed_total",
                 "http": "_http_request_duration_seconds_count"}


async def work_done(client: aiohttp.ClientSession, stack: Stack, database_url: str) -> dict[str, dict[str, float]]:
    """Counts of the work each service did so far, from its /metrics (bus messages published and consumed, HTTP
    requests served), and the bench database's committed transactions. Unlike CPU time, a busy host cannot
    inflate them: they compare two versions exactly."""
    counts: dict[str, dict[str, float]] = {}
    for name, service in stack.services.items():
        async with client.get(f"{service.url}/metrics") as response:
            text = await response.text()
        totals = dict.fromkeys(WORK_COUNTERS, 0.0)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                for kind, suffix in WORK_COUNTERS.items():
                    if sample.name == f"{name}{suffix}" and sample.labels.get("route") != "/metrics":
                        totals[kind] += sample.value
        counts[name] = totals
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await asyncio.sleep(1.1)  # other backends flush their statistics at most once a second
        commits = await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    finally:
        await conn.close()
    counts["postgresql"] = {"transactions": float(commits or 0)}
    return counts


def resident_mib(pid: int) -> float:
    """A service's resident memory, its helper processes' included."""
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        for process in family(pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
    return total / 2**20


async def sample_memory(pids: dict[str, int], peak: dict[str, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name, pid in pids.items():
            peak[name] = max(peak.get(name, 0.0), resident_mib(pid))
        await asyncio.sleep(0.2)


POST_TIMEOUT_SECONDS = 60.0


class PostConnection(HttpConnection[tuple[int, str]]):
    """A connection that POSTs one prepared request at a time; its answers are the status and the Location."""

    def __init__(self, request: bytes) -> None:
        super().__init__()
        self._request = request
        self._location = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"location":
            self._location = value

    def _result(self) -> tuple[int, str]:
        return self._parser.get_status_code(), self._location.decode()

    async def post(self) -> tuple[int, str]:
        """The status and Location of the answer to the prepared request."""
        self._location = b""
        answer = self._send(self._request)
        async with asyncio.timeout(POST_TIMEOUT_SECONDS):
            return await answer


def creation_request(host: str, port: int, workflow: str) -> bytes:
    body = urlencode({"workflow": workflow, "facility": "local", "PHASE": "RUN"}).encode()
    return (f"POST /uws/jobs HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def drive(gateway_url: str, recorder: Recorder, *, jobs: int, rate: float, concurrency: int,
                workflow: str) -> tuple[float, float, int]:
    """POST jobs at the given rate over ``concurrency`` keep-alive connections; returns (first send, last
    accepted, errors)."""
    url = urlsplit(gateway_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    request = creation_request(host, port, workflow)
    idle: asyncio.Queue[PostConnection | None] = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(None)  # opened on first use
    errors = 0
    first = time.time()
    last = first

    async def one() -> None:
        nonlocal errors, last
        connection = await idle.get()
        sent = time.time()
        try:
            if connection is None:
                connection = await PostConnection.open(host, port, request)
            status, location = await connection.post()
        except OSError:  # refused, lost, unparsable, or timed out (TimeoutError is an OSError)
            if connection is not None:
                connection.close()
            idle.put_nowait(None)
            errors += 1
            return
        idle.put_nowait(connection)
        done = time.time()
        if status != 303:
            errors += 1
            return
        recorder.post_latency.append(done - sent)
        recorder.submitted[location.rsplit("/", 1)[-1]] = sent
        last = max(last, done)

    tasks = []
    for i in range(jobs):
        if rate > 0:
            delay = first + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    while not idle.empty():
        if (connection := idle.get_nowait()) is not None:
            connection.close()
    return first, last, errors


def deltas(recorder: Recorder, phase_times: dict[str, float]) -> list[float]:
    return [phase_times[j] - t for j, t in recorder.submitted.items() if j in phase_times]


def between(earlier: dict[str, float], later: dict[str, float]) -> list[float]:
    return [later[j] - t for j, t in earlier.items() if j in later]


def backlog_growth(samples: list[tuple[float, int]], first: float, last: float) -> float:
    """Slope (jobs/s) of the jobs in flight over the second half of the submission: near 0 when the chain keeps
    up, the shortfall against the offered rate when it does not."""
    middle = first + (last - first) / 2
    window = [(t, n) for t, n in samples if middle <= t <= last]
    if len(window) < 2 or window[-1][0] == window[0][0]:
        return 0.0
    return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:8.1f} ms"


async def run_phase(gateway_url: str, recorder: Recorder, args: argparse.Namespace, *, jobs: int,
                    rate: float, amqp_url: str, namespace: str) -> dict[str, Any]:
    recorder.expected = jobs
    recorder.all_done.clear()
    samples: list[tuple[float, int]] = []
    done_flag = asyncio.Event()

    async def watch_backlog() -> None:
        while not done_flag.is_set():
            samples.append((time.time(), recorder.in_flight))
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch_backlog())
    first, last, errors = await drive(gateway_url, recorder, jobs=jobs, rate=rate, concurrency=args.concurrency,
                                      workflow=args.workflow)
    recorder.expected = len(recorder.submitted)
    try:
        await asyncio.wait_for(recorder.all_done.wait(), timeout=args.drain_timeout)
    except TimeoutError:
        sys.stderr.write(f"drain timed out: {len(recorder.completed)} of {recorder.expected} completed\n")
    done_flag.set()
    await watcher
    ended = max(recorder.completed.values(), default=time.time())
    return {"first": first, "last": last, "errors": errors, "ended": ended, "in_flight": samples,
            "final_backlog": await backlog(amqp_url, namespace)}


async def main(args: argparse.Namespace) -> None:
    reference = reference_loop()
    payload = payload_alone(args.workflow)
    peak: dict[str, float] = {}
    stop_sampling = asyncio.Event()
    async with AsyncExitStack() as cleanup:
        stack, namespace = await cleanup.enter_async_context(
            own_stack(args, prefix="b", environment=args.environment, keep_database=args.keep_database,
                      keep_jobs=args.keep_jobs))
        database_url, jobs_root = stack.env["CATALOG_DATABASE_URL"], Path(stack.env["ESAP_LOCAL_WORK_ROOT"])
        file_cost = file_creation(jobs_root)
        await asyncio.sleep(3)
        idle = {n: resident_mib(p) for n, p in stack.pids().items()}
        sampler = asyncio.create_task(sample_memory(stack.pids(), peak, stop_sampling))
        recorder = Recorder()
        await tap_phase_changes(args.amqp_url, namespace, ENDS, recorder.on_change, cleanup)
        async with aiohttp.ClientSession(stack.gateway_url, timeout=aiohttp.ClientTimeout(total=60)) as client:
            work_before = await work_done(client, stack, database_url)
            cpu_before = cpu_seconds(stack.pids())
            machine_before, machine_from = machine_cpu(), time.monotonic()
            client_before = sum(psutil.Process().cpu_times()[:2])
            throughput = await run_phase(stack.gateway_url, recorder, args, jobs=args.jobs, rate=args.rate,
                                         amqp_url=args.amqp_url, namespace=namespace)
            cpu_after = cpu_seconds(stack.pids())
            machine_after, machine_span = machine_cpu(), time.monotonic() - machine_from
            client_cpu = sum(psutil.Process().cpu_times()[:2]) - client_before
            skip = {p.pid for pid in stack.pids().values() for p in family(pid)} | {os.getpid()}
            work_after = await work_done(client, stack, database_url)
            accepted = Recorder()
            accepted.submitted, accepted.post_latency = dict(recorder.submitted), list(recorder.post_latency)
            through = dict(recorder.completed)
            latency = Recorder()
            await tap_phase_changes(args.amqp_url, namespace, EVERY_PHASE, latency.on_change, cleanup)
            await run_phase(stack.gateway_url, latency, args, jobs=args.latency_jobs, rate=args.latency_rate,
                            amqp_url=args.amqp_url, namespace=namespace)
        stop_sampling.set()
        await sampler
    work_root = stack.log_dir

    n_ok = len(accepted.submitted)
    accept_span = throughput["last"] - throughput["first"]
    chain_span = throughput["ended"] - throughput["first"]
    out = sys.stdout.write
    out(f"\nesap-batch whole-chain benchmark ({datetime.now():%Y-%m-%d %H:%M}, {psutil.cpu_count()} cores; "
        f"this machine runs the reference loop in {reference:.2f} s)\n")
    out(f"throughput phase: {args.jobs} '{args.workflow}' jobs, target rate {args.rate or 'max'}/s, "
        f"concurrency {args.concurrency}\n")
    out(f"  accepted by the gateway   {n_ok / accept_span:8.1f} jobs/s  ({n_ok} accepted, "
        f"{int(throughput['errors'])} refused)\n")
    out(f"  completed, whole chain    {len(through) / chain_span:8.1f} jobs/s  ({len(through)} completed, "
        f"{len(recorder.failed)} failed)\n")
    out(f"  POST latency              p50 {ms(accepted.post_latency, 50)}   p99 {ms(accepted.post_latency, 99)}\n")
    flight = throughput["in_flight"]
    out(f"  jobs in flight            peak {max((n for _, n in flight), default=0)}, growing "
        f"{backlog_growth(flight, throughput['first'], throughput['last']):.1f} jobs/s while submitting "
        f"(accepted, not ended); queues after drain {sum(throughput['final_backlog'].values())} messages\n")
    per_job = {n: (cpu_after[n] - cpu_before.get(n, 0.0)) / max(1, len(through)) * 1000 for n in cpu_after}
    total_ms = sum(per_job.values())
    out("  CPU per completed job     " + ", ".join(f"{n} {ms_:.2f} ms" for n, ms_ in per_job.items())
        + f" (total {total_ms:.2f} ms; postgresql counts every database on the server)\n")
    work = []
    for name, after in work_after.items():
        parts = [f"{(v - work_before[name][k]) / max(1, len(through)):.2f} {k}" for k, v in after.items()
                 if v - work_before[name][k] > 0]
        work.append(f"{name} " + " ".join(parts) if parts else f"{name} none")
    out("  work per completed job    " + "; ".join(work) + " (messages, HTTP requests served, transactions)\n")
    out(f"  the command alone         {payload * 1000:.2f} ms per run of '{args.workflow}' without esap-batch "
        "(the part of 'jobs' no service can save)\n")
    out(f"  a file created            {file_cost * 1e6:.0f} us of CPU in the work root before the run (10-30 here "
        "normally; far above: the file system is slow just now, see docs/ARCHITECTURE.md)\n")
    out(f"  this bench's own client   {client_cpu / max(1, len(through)) * 1000:.2f} ms per job (POSTs and the "
        "phase tap, on the same cores; not in the total)\n")
    busy, rest, others = elsewhere(machine_before, machine_after, (total_ms / 1000 * len(through)) + client_cpu,
                                   skip)
    out(f"  elsewhere                 {rest / max(1, len(through)) * 1000:.2f} ms per job in no process above; most "
        "in " + ", ".join(f"{name} {seconds / max(1, len(through)) * 1000:.2f}" for name, seconds in others)
        + f" (the rest: interrupts); the machine was {busy / machine_span / psutil.cpu_count() * 100:.0f}% busy\n")
    out(f"  CPU-bound ceiling         {psutil.cpu_count() * 1000 / total_ms:8.1f} jobs/s  "
        f"({psutil.cpu_count()} cores / CPU per job, were nothing else running)\n")
    out(f"latency phase: {args.latency_jobs} jobs at {args.latency_rate}/s\n")
    to_exec, to_done = deltas(latency, latency.executing), deltas(latency, latency.completed)
    out(f"  submit -> EXECUTING       p50 {ms(to_exec, 50)}   p99 {ms(to_exec, 99)}   (n={len(to_exec)})\n")
    out(f"  submit -> COMPLETED       p50 {ms(to_done, 50)}   p99 {ms(to_done, 99)}   (n={len(to_done)})\n")
    hops = [("submit -> QUEUED", latency.submitted, latency.queued),
            ("QUEUED -> EXECUTING", latency.queued, latency.executing),
            ("EXECUTING -> COMPLETED", latency.executing, latency.completed)]
    out("  by hop, p50: " + ", ".join(f"{name} {percentile(between(a, b), 50) * 1000:.1f} ms" for name, a, b in hops)
        + " (phase times as the catalog stamps them)\n")
    out("resident memory (MiB)        idle     peak\n")
    for name in SERVICES:
        out(f"  {name:<26} {idle.get(name, 0):6.1f}   {peak.get(name, 0):6.1f}\n")
    out(f"  {'all four':<26} {sum(idle.values()):6.1f}   {sum(peak.values()):6.1f}\n")
    kept = "kept" if args.keep_jobs else "removed (--keep-jobs keeps them)"
    out(f"(service logs: {work_root}; the job directories, in {jobs_root}, were {kept})\n")


def parse() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=600.0, help="jobs/s in the throughput phase; 0 = max")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workflow", default="noop")
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=20.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    stack_arguments(parser, log_level_help="the services' log level (INFO logs every job)")
    parser.add_argument("--keep-database", action="store_true", help="keep the run's database to look into")
    parser.add_argument("--keep-jobs", action="store_true", help="keep the run's job directories to look into")
    parser.add_argument("--environment", default="development",
                        help="production refuses RabbitMQ's guest account, which the local default uses")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
