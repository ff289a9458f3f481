"""The internal HTTP API while the database is away, on a PostgreSQL cluster of this module's own: every request is
answered at once with 503 and Retry-After, the outage is logged once when it starts and once when it ends, and the
API answers again by itself when the database returns."""

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from esap_catalog.services.seeding import seed
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.migrator import migrate
from esap_catalog.storage.pool import create_pool
from esap_runtime.private_servers import PrivatePostgres
from esap_runtime.testing import create_database

REPO = Path(__file__).resolve().parents[4]
ROUTES = ["/internal/jobs", f"/internal/jobs/{uuid.uuid4()}", "/internal/workflows/hello-world",
          "/internal/facilities/search?q=dirac", "/internal/active-jobs"]


@pytest.fixture
async def database_url(private_postgres: PrivatePostgres) -> str:
    """Overrides the shared database: migrated and seeded on the private cluster, which this module stops."""
    url = await create_database(private_postgres.url, f"esap_outage_{uuid.uuid4().hex[:8]}")
    await migrate(url)
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        await seed(CatalogueStore(pool), REPO / "workflows", REPO / "facilities")
    finally:
        await pool.close()
    return url


async def test_requests_during_a_database_outage_are_refused_at_once_and_the_outage_logged_once(
    start_catalog, private_postgres: PrivatePostgres  # type: ignore[no-untyped-def]
) -> None:
    async with start_catalog() as catalog:
        assert (await catalog.http.get("/internal/jobs")).status_code == 200

        await asyncio.to_thread(private_postgres.stop, "fast")
        try:
            with capture_logs() as logs:
                answers = []
                for _ in range(3):
                    for route in ROUTES:
                        started = time.monotonic()
                        response = await catalog.http.get(route)
                        answers.append((route, response.status_code, response.headers.get("retry-after"),
                                        time.monotonic() - started))
        finally:
            await asyncio.to_thread(private_postgres.start)

        assert {(route, status, retry) for route, status, retry, _ in answers} == {
            (route, 503, "5") for route in ROUTES}
        assert max(seconds for *_, seconds in answers) < 1.0
        started_lines = [e for e in logs if e["event"].startswith("A dependency is unavailable")]
        assert len(started_lines) == 1 and started_lines[0]["dependency"] == "database"
        assert not [e for e in logs if e["log_level"] in ("error", "critical")]
        assert catalog.sample("catalog_requests_refused_total", dependency="database") == len(answers)

        with capture_logs() as logs:
            deadline = time.monotonic() + 20
            while (await catalog.http.get("/internal/jobs")).status_code != 200:
                assert time.monotonic() < deadline, "the API did not answer again once the database returned"
                await asyncio.sleep(0.2)
            while not [e for e in logs if e["event"] == "A dependency is available again."]:
                assert time.monotonic() < deadline, "the outage's end was not logged"
                await asyncio.sleep(0.2)
        back = next(e for e in logs if e["event"] == "A dependency is available again.")
        assert back["dependency"] == "database" and back["refused"] == len(answers)
        assert not catalog.factory.database_outage.down
