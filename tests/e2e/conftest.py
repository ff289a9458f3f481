"""Fixtures for end-to-end tests: the four services as separate processes, on a database, a bus namespace
and a work root of their own, with each service's log kept under test-artifacts/e2e/."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest

from esap_messages import Topology
from esap_runtime.bus import delete_topology
from esap_runtime.stack import Stack, free_ports
from esap_runtime.testing import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def stack(server_database_url: str, amqp_url: str, request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    database = f"esap_e2e_{suffix}"
    namespace = f"e{suffix}"
    database_url = await create_database(server_database_url, database)
    log_dir = ROOT / "test-artifacts" / "e2e" / request.module.__name__.rsplit(".", 1)[-1]
    log_dir.mkdir(parents=True, exist_ok=True)
    work_root = tmp_path_factory.mktemp("jobs")
    env = {
        "ESAP_ENVIRONMENT": "development",
        "ESAP_LOG_JSON": "true",
        "ESAP_AMQP_URL": amqp_url,
        "ESAP_BUS_NAMESPACE": namespace,
        "CATALOG_DATABASE_URL": database_url,
        "ESAP_LOCAL_WORK_ROOT": str(work_root),
        "ESAP_WORKFLOWS_DIR": str(ROOT / "workflows"),
        "ESAP_FACILITIES_DIR": str(ROOT / "facilities"),
        "MONITOR_POLL_INTERVAL_SECONDS": "0.5",
        "SUBMITTER_KILL_GRACE_SECONDS": "2",
        "GATEWAY_STATIC_TOKENS": '{"token-a": "alice", "token-b": "bob"}',
        "CATALOG_DESTRUCTION_SWEEP_SECONDS": "0.5",
        "CATALOG_PHASE_COUNT_SECONDS": "0.5",
        **getattr(request.module, "STACK_ENV", {}),  # what a module's tests need on top
    }
    running = Stack(env=env, ports=free_ports(), log_dir=log_dir)
    running.work_root = work_root  # type: ignore[attr-defined]
    running.namespace = namespace  # type: ignore[attr-defined]
    running.amqp_url = amqp_url  # type: ignore[attr-defined]
    try:
        running.setup()
        running.start()
        yield running
    finally:
        running.stop()
        connection = await aio_pika.connect(amqp_url)
        try:
            await delete_topology(await connection.channel(), Topology(namespace))
        finally:
            await connection.close()
        await drop_database(server_database_url, database)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as http:
        yield http


@pytest.fixture
def work_root(stack: Stack) -> Iterator[Path]:
    yield stack.work_root  # type: ignore[attr-defined]
