"""A catalog process killed after consuming a batch but before committing it loses nothing: the broker
redelivers the unacked messages and the next process applies them."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from esap_catalog.config import Settings
from esap_messages import CreateJob, SubmitJob, new_id
from esap_runtime.bus import Bus
from esap_runtime.stack import free_port

from .conftest import Collector, StartCatalog, eventually


@pytest.fixture
def catalog_process(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "CATALOG_DATABASE_URL": settings.database_url.get_secret_value(),
           "CATALOG_AMQP_URL": settings.amqp_url.get_secret_value(), "CATALOG_BUS_NAMESPACE": settings.bus_namespace,
           "CATALOG_HTTP_PORT": str(port), "CATALOG_BATCH_LINGER_MS": "1"}
    log = (tmp_path / "catalog.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "esap-catalog")], env=env, stdout=log,
                               stderr=log, start_new_session=True)
    process.port = port  # type: ignore[attr-defined]
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


async def _waiting_on_lock(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query LIKE '%INSERT INTO inbox%'"))


async def test_a_crash_before_the_commit_loses_nothing(
        catalog_process: Any, start_catalog: StartCatalog, bus: Bus, db: asyncpg.Pool,
        queues: dict[str, Collector]) -> None:
    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{catalog_process.port}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(healthy, within=30)
    messages = [CreateJob(job_id=new_id(), workflow="noop", facility="local", run=True) for _ in range(5)]
    async with db.acquire() as blocker, blocker.transaction():
        # Hold the inbox so that the catalog's batch transaction stops after consuming, before committing.
        await blocker.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        for message in messages:
            await bus.publish(message)
        await eventually(lambda: _waiting_on_lock(db))
        catalog_process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(catalog_process.wait)
    assert await db.fetchval("SELECT count(*) FROM jobs") == 0
    async with start_catalog():
        await queues["submitter"].wait_for(SubmitJob, len(messages))
        stored = await db.fetch("SELECT job_id, phase FROM jobs")
        assert {(r["job_id"], r["phase"]) for r in stored} == {(m.job_id, "QUEUED") for m in messages}
