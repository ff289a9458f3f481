"""One fault round: a stack of the four services of its own (a database and a bus namespace of its own on the
module's private RabbitMQ node and PostgreSQL cluster, its own work root and ledger), steady loads of ledger jobs,
the fault's marks (when it began, when it was repaired), and what the round shows afterwards (``Outcome``).

A round starts from nothing rather than sharing a stack with the round before: a round that fails leaves jobs
stuck or a backlog behind, and the next round's counts would then mix its own fault with the one before.
A stack costs a few seconds to set up; its services' logs and metrics stay under test-artifacts/faults/<round>/.
"""

import asyncio
import contextlib
import json
import shlex
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from tests.faults.load import SteadyLoad
from tests.faults.outcome import FINAL, Outcome, Window

from esap_messages import Topology
from esap_runtime.private_servers import PrivatePostgres, PrivateRabbitMQ
from esap_runtime.stack import SERVICES, Stack, free_ports
from esap_runtime.testing import create_database

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "faults"


def ledger_workflow(ledger: Path) -> dict[str, object]:
    """A workflow whose payload appends its job's id to ``ledger`` as it starts, then sleeps ``seconds``: each line
    is one run of the payload, so a job run twice shows twice. One short line in one O_APPEND write: lines of
    concurrent jobs never mix."""
    script = (f'echo "$ESAP_JOB_ID" >> {shlex.quote(str(ledger))}; s=$ESAP_PARAM_SECONDS; '
              '[ -z "$s" ] || [ "$s" = 0 ] || exec sleep "$s"')
    return {
        "slug": "ledger",
        "name": "Ledger",
        "description": "Writes its job id to the fault suite's ledger, then sleeps for the given seconds.",
        "keywords": ["test"],
        "version": "1.0.0",
        "workflow_type": "process",
        "parameters": [{"name": "seconds", "type": "string", "default": "0", "description": "How long to sleep."}],
        "run": {"slug": "ledger", "command": ["sh", "-c", script], "files": [], "outputs": []},
        "facility_types": ["local", "diracx"],
        "expected_run_seconds": 1,
    }


class Round:
    """A stack of its own under one fault; ``finish`` says what came of it."""

    def __init__(self, name: str, stack: Stack, database_url: str, amqp_url: str, namespace: str, ledger: Path,
                 log_dir: Path, drain_bound: float) -> None:
        self.name = name
        self.stack = stack
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.namespace = namespace
        self.ledger = ledger
        self.log_dir = log_dir
        self.drain_bound = drain_bound
        self.loads: list[SteadyLoad] = []
        self.windows: list[Window] = []
        self.gateway_down: list[Window] = []
        self.killed: set[str] = set()
        self.pids_before = stack.pids()

    def load(self, rate: float, **fields: str) -> SteadyLoad:
        """Start posting ledger jobs with ``fields`` (WORKFLOW, FACILITY and PHASE given) at ``rate`` per second."""
        load = SteadyLoad(self.stack.gateway_url,
                          {"WORKFLOW": "ledger", "FACILITY": "local", "PHASE": "RUN", "RUNID": self.name, **fields},
                          rate)
        load.start()
        self.loads.append(load)
        return load

    async def burst(self, count: int, **fields: str) -> list[str]:
        """Post ``count`` ledger jobs at once; the ids of those accepted."""
        load = SteadyLoad(self.stack.gateway_url,
                          {"WORKFLOW": "ledger", "FACILITY": "local", "PHASE": "RUN", "RUNID": self.name, **fields},
                          rate=0)
        self.loads.append(load)
        answers = await asyncio.gather(*(load.post() for _ in range(count)))
        return [a.job_id for a in answers if a.accepted and a.job_id is not None]

    async def wait_for_phase(self, job_ids: list[str], phase: str, within: float) -> None:
        """Until every one of the jobs is in ``phase``; AssertionError if not within ``within`` seconds."""
        ids = [uuid.UUID(j) for j in job_ids]
        await self._wait_for(len(ids), "SELECT count(*) FROM jobs WHERE job_id = ANY($1::uuid[]) AND phase = $2",
                             ids, phase, within=within)

    async def wait_for_count(self, phase: str, count: int, within: float) -> None:
        """Until at least ``count`` jobs are in ``phase``; AssertionError if not within ``within`` seconds."""
        await self._wait_for(count, "SELECT count(*) FROM jobs WHERE phase = $1", phase, within=within)

    async def _wait_for(self, count: int, query: str, *args: object, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            connection = await asyncpg.connect(self.database_url, timeout=5)
            try:
                there = await connection.fetchval(query, *args)
            finally:
                await connection.close()
            if there >= count:
                return
            assert loop.time() < deadline, f"{there} of {count} jobs after {within:.0f} s: {args}"
            await asyncio.sleep(0.2)

    @contextlib.asynccontextmanager
    async def fault(self) -> AsyncIterator[Window]:
        """Marks the block as the fault, from its first act to its repair."""
        loop = asyncio.get_running_loop()
        window = Window(began=loop.time())
        self.windows.append(window)
        try:
            yield window
        finally:
            window.repaired = loop.time()

    async def kill_and_restart(self, service: str, down: float) -> None:
        """SIGKILL of one service, ``down`` seconds without it, then a start (returns once it is healthy)."""
        async with self.fault() as window:
            self.killed.add(service)
            await asyncio.to_thread(self.stack.kill, service)
            await asyncio.sleep(down)
            await asyncio.to_thread(self.stack.start, service)
        if service == "gateway":
            self.gateway_down.append(window)

    async def finish(self) -> Outcome:
        """Stop the loads, wait for the backlog to drain (at most ``drain_bound`` after the last repair), then
        read the jobs, the ledger, the processes and the dead-letter queues."""
        answers = [a for load in self.loads for a in await load.stop()]
        accepted = [a.job_id for a in answers if a.accepted and a.job_id is not None]
        repaired = max((w.repaired or 0.0 for w in self.windows), default=asyncio.get_running_loop().time())
        drained_at = await self._drain(accepted, repaired + self.drain_bound)
        phases = await self._phases()
        after = self.stack.pids()
        restarted = [n for n in SERVICES if n not in self.killed and after.get(n) != self.pids_before.get(n)]
        outcome = Outcome(
            name=self.name, answers=answers, phases=phases, ledger=self._read_ledger(), windows=self.windows,
            drain=None if drained_at is None else max(0.0, drained_at - repaired), drain_bound=self.drain_bound,
            restarted=restarted, gateway_down=self.gateway_down, dead_lettered=await self._dead_lettered())
        await self._keep_metrics()
        (self.log_dir / "answers.jsonl").write_text("".join(json.dumps(a.__dict__) + "\n" for a in answers))
        return outcome

    async def _drain(self, accepted: list[str], deadline: float) -> float | None:
        """When every accepted job was in a final phase; None if not by ``deadline``."""
        loop = asyncio.get_running_loop()
        ids = [uuid.UUID(j) for j in accepted]
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                connection = await asyncpg.connect(self.database_url, timeout=2)
                try:
                    done = await connection.fetchval(
                        "SELECT count(*) FROM jobs WHERE job_id = ANY($1::uuid[]) AND phase = ANY($2::text[])",
                        ids, list(FINAL))
                finally:
                    await connection.close()
                if done == len(ids):
                    return loop.time()
            if loop.time() > deadline:
                return None
            await asyncio.sleep(0.25)

    async def _phases(self) -> dict[str, str]:
        """Every job's phase; the jobs' rows are kept in the round's folder as well, for the diagnosis."""
        connection = await asyncpg.connect(self.database_url, timeout=5)
        try:
            rows = await connection.fetch(
                "SELECT job_id::text AS id, phase, facility, backend_job_id, dirac_status, creation_time, start_time, "
                "end_time, updated_at, error_message FROM jobs ORDER BY creation_time")
        finally:
            await connection.close()
        (self.log_dir / "jobs.jsonl").write_text("".join(json.dumps(dict(r), default=str) + "\n" for r in rows))
        return {r["id"]: r["phase"] for r in rows}

    def _read_ledger(self) -> Counter[str]:
        if not self.ledger.exists():
            return Counter()
        return Counter(line.strip() for line in self.ledger.read_text().splitlines() if line.strip())

    async def _dead_lettered(self) -> dict[str, int]:
        connection = await aio_pika.connect(self.amqp_url, timeout=10)
        counts: dict[str, int] = {}
        try:
            channel = await connection.channel()
            for spec in Topology(self.namespace).queues():
                queue = await channel.declare_queue(spec.dead, passive=True)
                count = queue.declaration_result.message_count or 0
                if count:
                    counts[spec.dead] = count
        finally:
            await connection.close()
        return counts

    async def _keep_metrics(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            for name, service in self.stack.services.items():
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{service.url}/metrics")
                    (self.log_dir / f"{name}.metrics.txt").write_text(response.text)


@dataclass
class Servers:
    """The module's private servers and what every round's stack shares."""

    rabbitmq: PrivateRabbitMQ
    postgres: PrivatePostgres
    scratch: Path


@contextlib.asynccontextmanager
async def open_round(name: str, servers: Servers, *, drain_bound: float,
                     env: Mapping[str, str] | None = None) -> AsyncIterator[Round]:
    """A fresh stack for one round; stopped when the block ends."""
    log_dir = ARTIFACTS / name
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    scratch = servers.scratch / name
    scratch.mkdir(parents=True)
    ledger = scratch / "ledger"
    workflows = scratch / "workflows"
    shutil.copytree(ROOT / "workflows", workflows)
    (workflows / "ledger.json").write_text(json.dumps(ledger_workflow(ledger), indent=2))
    suffix = uuid.uuid4().hex[:8]
    namespace = f"f{suffix}"
    database_url = await create_database(servers.postgres.url, f"faults_{suffix}")
    stack_env = {
        "ESAP_ENVIRONMENT": "development",
        "ESAP_LOG_JSON": "true",
        "ESAP_AMQP_URL": servers.rabbitmq.url,
        "ESAP_BUS_NAMESPACE": namespace,
        "CATALOG_DATABASE_URL": database_url,
        "ESAP_LOCAL_WORK_ROOT": str(scratch / "jobs"),
        "ESAP_WORKFLOWS_DIR": str(workflows),
        "ESAP_FACILITIES_DIR": str(ROOT / "facilities"),
        "MONITOR_POLL_INTERVAL_SECONDS": "0.5",
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",  # one anonymous client offering 25 jobs a second, on purpose
        **(env or {}),
    }
    stack = Stack(env=stack_env, ports=free_ports(), log_dir=log_dir)
    try:
        await asyncio.to_thread(stack.setup)
        await asyncio.to_thread(stack.start)
        yield Round(name, stack, database_url, servers.rabbitmq.url, namespace, ledger, log_dir, drain_bound)
    finally:
        await asyncio.to_thread(stack.stop)
