"""Health and metrics endpoints, the catalogue cache (TTL, shared misses) on a fake clock, and the catalog's
listen backlog against the connections the gateway may open to it at once."""

import asyncio

import pytest
from fastapi import FastAPI

from esap_gateway.adapters.catalog import CatalogUnavailableError
from esap_gateway.config import Settings
from esap_gateway.services.catalogue import CatalogueCache
from esap_runtime.ops import server_config

from ..conftest import Clock


async def test_health_reports_bus_and_catalog(client, catalog, publisher) -> None:
    healthy = await client.get("/healthz")
    catalog.down = True
    degraded = await client.get("/healthz")

    assert healthy.status_code == 200 and healthy.json()["checks"] == {"bus": True, "catalog": True}
    assert degraded.status_code == 503 and degraded.json()["checks"] == {"bus": True, "catalog": False}


async def test_metrics_carry_the_gateways_names_and_no_job_ids(client, make_job) -> None:
    job = make_job()
    await client.get(f"/uws/jobs/{job.job_id}")

    metrics = (await client.get("/metrics")).text

    for name in ("gateway_jobs_submitted_total", "gateway_callbacks_total", "gateway_open_waits",
                 "gateway_catalog_request_duration_seconds", "gateway_messages_published_total",
                 "gateway_http_request_duration_seconds"):
        assert f"# TYPE {name}" in metrics, name
    assert 'route="/uws/jobs/{job_id}"' in metrics
    assert str(job.job_id) not in metrics


async def test_unknown_routes_and_methods_answer_in_plain_text(client) -> None:
    missing = await client.get("/nowhere")
    wrong_method = await client.delete("/uws/jobs")

    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/plain")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"].startswith("text/plain")


async def test_the_cache_keeps_entries_for_its_ttl_including_unknown_ones(catalog) -> None:
    clock = Clock()
    cache = CatalogueCache(catalog, ttl=5, clock=clock)

    assert (await cache.workflow("noop")) is not None
    assert (await cache.workflow("missing")) is None
    clock.now += 4.9
    await cache.workflow("noop")
    await cache.workflow("missing")
    assert catalog.calls_to("get_workflow") == ["noop", "missing"]

    clock.now += 0.2
    await cache.workflow("noop")
    assert catalog.calls_to("get_workflow") == ["noop", "missing", "noop"]


async def test_concurrent_misses_share_one_catalog_request(catalog) -> None:
    cache = CatalogueCache(catalog, ttl=5, clock=Clock())

    found = await asyncio.gather(*(cache.facility("local") for _ in range(50)))

    assert all(f is not None and f.slug == "local" for f in found)
    assert catalog.calls_to("get_facility") == ["local"]


async def test_failures_are_not_cached(catalog) -> None:
    cache = CatalogueCache(catalog, ttl=5, clock=Clock())
    catalog.down = True
    with pytest.raises(CatalogUnavailableError):
        await cache.workflow("noop")
    catalog.down = False

    assert (await cache.workflow("noop")) is not None


async def test_requests_do_not_look_for_an_opentelemetry_provider(client, monkeypatch) -> None:
    from opentelemetry import _logs, metrics, trace

    looked: list[str] = []
    for module, name in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider"),
                         (_logs, "get_logger_provider")):
        monkeypatch.setattr(module, name, lambda name=name: looked.append(name))

    response = await client.get("/healthz")

    assert response.status_code == 200
    assert looked == []


def test_the_catalog_queues_every_connection_the_gateway_may_open_at_once(work_root) -> None:
    """1,000 clients that start waiting together make the gateway open that many connections to the catalog."""
    gateway = Settings(local_work_root=work_root)
    assert server_config(FastAPI(), gateway).backlog >= gateway.catalog_max_connections
