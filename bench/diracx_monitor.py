"""Monitor benchmark against a real DiracX (the development server): --jobs DIRAC jobs tracked, polled in bulk.

Submits the jobs in batches (one POST /api/jobs/jdl per --submit-batch), feeds them to the monitor's own tracker
and poller with the DiracX backend, then runs --cycles full poll cycles; between cycles a test pilot identity moves
--changes jobs to another status, so some cycles publish changes. The first cycle reads every job by id; the
next ones ask only for jobs updated since (as the monitor does between full polls; --full-poll 0 reads everything
every cycle). Prints, per cycle, the DiracX calls made, the seconds taken and the changes published. Nothing is
asserted.
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.client import DiracXClient
from esap_backends.diracx.devserver import PILOT_GROUP, USER_GROUP, DevServer, ensure_venv
from esap_backends.diracx.testing import client_for
from esap_messages import DiracStatus, Message, Phase, utcnow
from esap_messages.api import ActiveJob
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
JDL = '[\n    JobName = "bench-{n}";\n    JobGroup = "esap";\n    Executable = "/bin/true";\n    CPUTime = 60;\n]'


async def submit_all(backend: DiracXBackend, jobs: int, batch: int, parallel: int) -> list[int]:
    """DiracX takes at most 20 JDLs per call; a few calls in flight (sqlite serialises writers anyway)."""
    starts = iter(range(0, jobs, batch))
    ids: list[int] = []

    async def worker() -> None:
        for first in starts:
            jdls = [JDL.format(n=n) for n in range(first, min(jobs, first + batch))]
            ids.extend(int(row["JobID"]) for row in await backend.client.submit_jdl(jdls))

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return sorted(ids)


async def move(pilot_client: DiracXClient, ids: Sequence[int], status: DiracStatus) -> None:
    for first in range(0, len(ids), 500):
        await pilot_client.set_status({i: {"Status": status.value, "MinorStatus": "bench", "Source": "bench"}
                                       for i in ids[first:first + 500]}, utcnow())


async def run(args: argparse.Namespace) -> None:
    python = ensure_venv((ROOT / "var" / "diracx-venv").resolve())
    state = Path(tempfile.mkdtemp(prefix="esap-diracx-bench-"))
    server = DevServer.start(python, state)
    try:
        async with aiohttp.ClientSession() as session:
            backend = DiracXBackend(client_for(server, session, USER_GROUP), FacilityPlacement(),
                                    workflows_dir=None, gateway_url=None, chunk_size=args.chunk,
                                    full_poll_seconds=args.full_poll)
            pilot = client_for(server, session, PILOT_GROUP)
            started = time.perf_counter()
            ids = await submit_all(backend, args.jobs, args.submit_batch, args.submit_parallel)
            elapsed = time.perf_counter() - started
            print(f"submitted {len(ids)} jobs in {elapsed:.1f} s ({len(ids) / elapsed:.0f} jobs/s, "
                  f"{args.submit_batch} per call)")
            tracker = Tracker(catalog_lag_seconds=0)
            tracker.resync([ActiveJob(job_id=uuid.uuid4(), facility="ctadirac", backend="diracx",
                                      backend_job_id=str(i), phase=Phase.QUEUED, dirac_status=DiracStatus.RECEIVED)
                            for i in ids], time.monotonic())
            published: list[int] = []

            async def publish(messages: Sequence[Message]) -> None:
                published.append(len(messages))

            poller = StatusPoller(tracker, {"diracx": backend}, publish, MonitorMetrics(CollectorRegistry()),
                                  interval=1.0, chunk_size=args.chunk, coalesce_seconds=0)
            mode = f"incremental, full every {args.full_poll:g} s" if args.full_poll > 0 else "full every cycle"
            print(f"tracking {len(tracker)} jobs; chunk {args.chunk} ids per search; {mode}")
            steps = [DiracStatus.WAITING, DiracStatus.MATCHED, DiracStatus.RUNNING, DiracStatus.DONE]
            for cycle in range(args.cycles):
                calls = backend.client.calls
                searches = (backend.status_search.full_searches, backend.status_search.incremental_searches)
                started = time.perf_counter()
                changes = await poller.poll(due_only=False)
                seconds = time.perf_counter() - started
                kind = ("by id" if backend.status_search.full_searches > searches[0] else "") + (
                    " updated since" if backend.status_search.incremental_searches > searches[1] else "")
                kind = kind.strip() or "answered from the last search"
                print(f"cycle {cycle + 1}: {backend.client.calls - calls} DiracX calls ({kind}), "
                      f"{seconds:.2f} s, {changes} changes published")
                if cycle < len(steps):
                    await move(pilot, ids[:args.changes], steps[cycle])
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--submit-batch", type=int, default=20)
    parser.add_argument("--submit-parallel", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--full-poll", type=float, default=60.0,
                        help="seconds between full polls; between them only updated jobs are asked for (0: always)")
    args = parser.parse_args()
    asyncio.run(run(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
