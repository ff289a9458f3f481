"""Monitor benchmark against a real DiracX (the development server): --jobs DIRAC jobs tracked, polled in bulk.

Seeding: the first --api-jobs jobs are submitted through the API (one POST /api/jobs/jdl of --submit-batch JDLs
per call, DiracX taking at most 20), which measures the submission rate; the rest are copies of the first job,
written straight into the development server's job and job-logging databases (the bench started that server and
owns it; the API would need some 9 minutes for 100,000 jobs on a 2-core machine). Copies are complete jobs to
DiracX: searched, and moved by a pilot's status changes, like the others.

Then the monitor's own tracker and poller, with the DiracX backend, run poll cycles: a first full cycle (every job
read by id), --cycles incremental cycles (only jobs updated since the last answer; before each, a test pilot
identity moves --changes jobs, spread over all of them, to the next status), and a full re-poll cycle (the
search's clock is moved --full-poll seconds on, rather than waited for). Prints, per cycle, the DiracX calls
made, the seconds taken and the changes published, and the process's memory (it holds what a monitor holds:
the tracker, the backend and its search state). Nothing is asserted.
"""

import argparse
import asyncio
import contextlib
import resource
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from common import own_diracx
from prometheus_client import CollectorRegistry

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.client import DiracXClient
from esap_backends.diracx.devserver import PILOT_GROUP, USER_GROUP, DevServer
from esap_backends.diracx.testing import client_for
from esap_messages import DiracStatus, Message, Phase, utcnow
from esap_messages.api import ActiveJob
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker

JDL = '[\n    JobName = "bench-{n}";\n    JobGroup = "esap";\n    Executable = "/bin/true";\n    CPUTime = 60;\n]'
NAME_PREFIX = "bench-"
SQLITE_URL = "sqlite+aiosqlite:///"
STEPS = (DiracStatus.WAITING, DiracStatus.MATCHED, DiracStatus.RUNNING, DiracStatus.DONE)


async def submit_all(client: DiracXClient, jobs: int, batch: int, parallel: int) -> list[int]:
    """DiracX takes at most 20 JDLs per call; a few calls in flight (sqlite serialises writers anyway)."""
    starts = iter(range(0, jobs, batch))
    ids: list[int] = []

    async def worker() -> None:
        for first in starts:
            jdls = [JDL.format(n=n) for n in range(first, min(jobs, first + batch))]
            ids.extend(int(row["JobID"]) for row in await client.submit_jdl(jdls))

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return sorted(ids)


def sqlite_path(server: DevServer, variable: str) -> Path:
    url = server.env[variable]
    if not url.startswith(SQLITE_URL):
        raise SystemExit(f"{variable} is not a sqlite database ({url}); seed through the API (--api-jobs)")
    return Path(url.removeprefix(SQLITE_URL))


def clone(database: Path, table: str, template: int, first: int, last: int, name_offset: int) -> None:
    """Copy the template job's rows of ``table`` for JobIDs first..last (one statement, one transaction)."""
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as db, db:
        columns = [f'"{row[1]}"' for row in db.execute(f'PRAGMA table_info("{table}")')]
        values = ["seq.n" if c == '"JobID"' else f"'{NAME_PREFIX}' || (seq.n - :offset)" if c == '"JobName"'
                  else f"t.{c}" for c in columns]
        db.execute(
            "WITH RECURSIVE seq(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM seq WHERE n < :last) "
            f'INSERT INTO "{table}" ({", ".join(columns)}) '
            f'SELECT {", ".join(values)} FROM seq CROSS JOIN "{table}" AS t WHERE t."JobID" = :template',
            {"first": first, "last": last, "template": template, "offset": name_offset})


def seed_database(server: DevServer, template: int, count: int, named_from: int) -> list[int]:
    """``count`` copies of the template job in the server's own databases; their JobIDs."""
    jobs = sqlite_path(server, "DIRACX_DB_URL_JOBDB")
    with contextlib.closing(sqlite3.connect(jobs, timeout=60)) as db:
        first = int(db.execute('SELECT max("JobID") FROM "JobJDLs"').fetchone()[0]) + 1
    last = first + count - 1
    offset = first - named_from
    for table in ("JobJDLs", "Jobs"):  # Jobs refers to JobJDLs
        clone(jobs, table, template, first, last, offset)
    clone(sqlite_path(server, "DIRACX_DB_URL_JOBLOGGINGDB"), "LoggingInfo", template, first, last, offset)
    return list(range(first, last + 1))


async def seed(server: DevServer, client: DiracXClient, args: argparse.Namespace) -> list[int]:
    through_api = max(1, min(args.jobs, args.api_jobs))
    started = time.perf_counter()
    ids = await submit_all(client, through_api, args.submit_batch, args.submit_parallel)
    elapsed = time.perf_counter() - started
    print(f"submitted {len(ids)} jobs through the API in {elapsed:.1f} s ({len(ids) / elapsed:.0f} jobs/s, "
          f"{args.submit_batch} per call, {args.submit_parallel} calls in flight)")
    if args.jobs > through_api:
        started = time.perf_counter()
        # In a thread: the event loop must go on serving the client's connections (a keep-alive connection the
        # server closes meanwhile is then dropped, not reused for the first poll).
        ids += await asyncio.to_thread(seed_database, server, ids[0], args.jobs - through_api, through_api)
        print(f"seeded {args.jobs - through_api} more jobs directly into the development server's job databases "
              f"(copies of job {ids[0]}; the bench owns that server) in {time.perf_counter() - started:.1f} s")
    return ids


class CallCounter:
    """Counts the client's calls by kind (bench instrumentation: wraps the client's one entry point)."""

    def __init__(self, client: DiracXClient) -> None:
        self.kinds: Counter[str] = Counter()
        self._call = client.call
        client.call = self._counted  # type: ignore[method-assign]

    async def _counted(self, method: str, path: str, **options: Any) -> Any:
        body = options.get("body")
        parameters = body.get("parameters", ()) if isinstance(body, dict) else ()
        search = body.get("search", []) if isinstance(body, dict) else []
        if "LoggingInfo" in parameters:
            kind = "history"
        elif path == "/api/jobs/search":
            kind = "by id" if any(s.get("parameter") == "JobID" for s in search) else "updated since"
        else:
            kind = f"{method} {path}"
        self.kinds[kind] += 1
        return await self._call(method, path, **options)

    def since(self, before: Counter[str]) -> str:
        spent = self.kinds - before
        return ", ".join(f"{n} {kind}" for kind, n in sorted(spent.items())) or "none"


async def move(pilot_client: DiracXClient, ids: Sequence[int], status: DiracStatus) -> None:
    for first in range(0, len(ids), 500):
        await pilot_client.set_status({i: {"Status": status.value, "MinorStatus": "bench", "Source": "bench"}
                                       for i in ids[first:first + 500]}, utcnow())


def rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


async def poll_cycles(server: DevServer, session: aiohttp.ClientSession, backend: DiracXBackend,
                      ids: list[int], args: argparse.Namespace) -> None:
    baseline = rss_mib()
    tracker = Tracker(catalog_lag_seconds=0)
    tracker.resync([ActiveJob(job_id=uuid.uuid4(), facility="ctadirac", backend="diracx",
                              backend_job_id=str(i), phase=Phase.QUEUED, dirac_status=DiracStatus.RECEIVED)
                    for i in ids], time.monotonic())
    # The resync held the event loop for seconds: let it see the keep-alive connections the server closed
    # meanwhile, so that the first poll does not write to one of them.
    await asyncio.sleep(0.05)
    published: list[int] = []

    async def publish(messages: Sequence[Message]) -> None:
        published.append(len(messages))

    poller = StatusPoller(tracker, {"diracx": backend}, publish, MonitorMetrics(CollectorRegistry()),
                          interval=1.0, chunk_size=args.chunk, coalesce_seconds=0)
    search = backend.status_search
    counter = CallCounter(backend.client)
    skew = 0.0
    # The full re-poll is due --full-poll seconds after the first cycle: the bench moves the search's clock on
    # instead of waiting.
    search._clock = lambda: time.monotonic() + skew
    mode = f"incremental, full every {args.full_poll:g} s" if args.full_poll > 0 else "full every cycle"
    print(f"tracking {len(tracker)} jobs; chunk {args.chunk} ids per search; {mode}")
    pilot = client_for(server, session, PILOT_GROUP)
    spread = ids[::max(1, len(ids) // max(1, args.changes))][:args.changes]
    labels = ["first full", *(f"incremental {n + 1}" for n in range(args.cycles)), "full re-poll"]
    for cycle, label in enumerate(labels):
        if label == "full re-poll":
            skew = args.full_poll
        elif cycle > 0:
            await move(pilot, spread, STEPS[(cycle - 1) % len(STEPS)])
        calls, before = backend.client.calls, Counter(counter.kinds)
        started = time.perf_counter()
        changes = await poller.poll(due_only=False)
        seconds = time.perf_counter() - started
        print(f"cycle {cycle + 1} ({label}): {backend.client.calls - calls} DiracX calls ({counter.since(before)}), "
              f"{seconds:.2f} s, {changes} changes published; memory {rss_mib():.0f} MiB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    print(f"monitor memory: {rss_mib():.0f} MiB resident ({rss_mib() - baseline:+.0f} MiB since before tracking "
          f"{len(tracker)} jobs), peak {peak:.0f} MiB")


async def run(args: argparse.Namespace) -> None:
    with own_diracx() as server:
        async with aiohttp.ClientSession() as session:
            backend = DiracXBackend(client_for(server, session, USER_GROUP), FacilityPlacement(),
                                    workflows_dir=None, gateway_url=None, chunk_size=args.chunk,
                                    full_poll_seconds=args.full_poll)
            ids = await seed(server, backend.client, args)
            await poll_cycles(server, session, backend, ids, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10000, help="DIRAC jobs tracked")
    parser.add_argument("--api-jobs", type=int, default=2000,
                        help="jobs submitted through the API; the rest are copied in the server's job database")
    parser.add_argument("--submit-batch", type=int, default=20)
    parser.add_argument("--submit-parallel", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=4, help="incremental cycles between the two full ones")
    parser.add_argument("--changes", type=int, default=1000, help="jobs moved before each incremental cycle")
    parser.add_argument("--full-poll", type=float, default=60.0,
                        help="seconds between full polls; between them only updated jobs are asked for (0: always)")
    args = parser.parse_args()
    asyncio.run(run(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
