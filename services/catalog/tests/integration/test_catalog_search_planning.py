"""Catalogue search (PostgreSQL full-text search: ranking, filters, paging), planning statistics from recent jobs,
and a job's quote, against real PostgreSQL and RabbitMQ."""

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg

from esap_catalog.domain.catalogue import WorkflowDefinition
from esap_catalog.storage.catalogue import CatalogueStore
from esap_messages import CreateJob, new_id, utcnow
from esap_runtime.bus import Bus

from .conftest import GRACE, REPO, Catalog, eventually


async def workflows(catalog: Catalog, **params: Any) -> dict[str, Any]:
    response = await catalog.http.get("/internal/workflows/search", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_search_is_ranked_name_before_keywords_before_description(catalog: Catalog, db: asyncpg.Pool) -> None:
    hello = json.loads((REPO / "workflows" / "hello-world.json").read_text())
    variants = {
        "in-description": {"name": "Timing", "keywords": ["radio"], "description": "Folds pulsar data."},
        "in-name": {"name": "Pulsar search", "keywords": ["radio"], "description": "Looks for periodic signals."},
        "in-keywords": {"name": "Periodicity", "keywords": ["pulsar"], "description": "Finds periods."},
    }
    await CatalogueStore(db).upsert([
        WorkflowDefinition.model_validate({**hello, **fields, "slug": slug}) for slug, fields in variants.items()
    ], [])
    found = await workflows(catalog, q="pulsar")
    assert [w["slug"] for w in found["workflows"]] == ["in-name", "in-keywords", "in-description"]
    assert found["total"] == 3
    corsika = await workflows(catalog, q="CORSIKA")
    assert {w["slug"] for w in corsika["workflows"]} == {"concordia", "cta-mc-generation"}
    # Stemmed, and every word must match: "simulations" finds "simulation"; "monte carlo" only one of them.
    assert {w["slug"] for w in (await workflows(catalog, q="Monte Carlo simulations"))["workflows"]} == {
        "cta-mc-generation"}
    either = await workflows(catalog, q="benchmark or corsika")
    assert {w["slug"] for w in either["workflows"]} == {"noop", "concordia", "cta-mc-generation"}
    assert (await workflows(catalog, q="nothing-like-this"))["total"] == 0


async def test_search_filters_and_pages(catalog: Catalog) -> None:
    assert {w["slug"] for w in (await workflows(catalog, keyword="cta"))["workflows"]} == {"cta-mc-generation"}
    assert {w["slug"] for w in (await workflows(catalog, workflow_type="simulation"))["workflows"]} == {
        "concordia", "cta-mc-generation"}
    assert {w["slug"] for w in (await workflows(catalog, runtime_engine="singularity"))["workflows"]} == {
        "concordia"}
    local = {w["slug"] for w in (await workflows(catalog, facility_type="local"))["workflows"]}
    assert local == {"hello-world", "noop", "sleep", "table"}
    first = await workflows(catalog, limit=2)
    second = await workflows(catalog, limit=2, offset=2)
    assert first["total"] == second["total"] == 6
    assert len(first["workflows"]) == 2 and not {w["slug"] for w in first["workflows"]} & {
        w["slug"] for w in second["workflows"]}
    facilities = (await catalog.http.get("/internal/facilities/search", params={"q": "singularity"})).json()
    assert {f["slug"] for f in facilities["facilities"]} == {"ctadirac", "rosetta-inaf-oats"}
    online = (await catalog.http.get("/internal/facilities/search", params={"status": "online"})).json()
    assert {f["slug"] for f in online["facilities"]} == {"ctadirac", "local"}
    dirac = (await catalog.http.get("/internal/facilities/search", params={"facility_type": "diracx"})).json()
    assert [f["slug"] for f in dirac["facilities"]] == ["ctadirac"]


async def _job(db: asyncpg.Pool, *, workflow: str, facility: str, phase: str, queued: float, ran: float | None,
               ago: float = 60) -> None:
    created = utcnow() - timedelta(seconds=ago)
    start = created + timedelta(seconds=queued)
    end = start + timedelta(seconds=ran) if ran is not None else None
    await db.execute(
        "INSERT INTO jobs (job_id, workflow, facility, backend, phase, creation_time, start_time, end_time, "
        "updated_at) VALUES ($1, $2, $3, 'local', $4, $5, $6, $7, now())",
        uuid4(), workflow, facility, phase, created, start, end)


async def test_planning_statistics_are_medians_of_recent_jobs(catalog: Catalog, db: asyncpg.Pool) -> None:
    for queued, ran in ((1, 10), (3, 20), (5, 30)):
        await _job(db, workflow="hello-world", facility="local", phase="COMPLETED", queued=queued, ran=ran)
    await _job(db, workflow="sleep", facility="local", phase="EXECUTING", queued=7, ran=None)
    await _job(db, workflow="hello-world", facility="local", phase="COMPLETED", queued=1, ran=999,
               ago=400 * 3600)  # older than the window: ignored
    response = await catalog.http.get("/internal/planning/hello-world")
    assert response.status_code == 200
    by_slug = {s["facility"]["slug"]: s for s in response.json()["facilities"]}
    assert set(by_slug) == {"ctadirac", "local", "rosetta-inaf-oats"}
    local = by_slug["local"]
    assert local["queue_seconds"] == 4.0  # median of 1, 3, 5, 7 (any workflow)
    assert local["run_seconds"] == 20.0 and local["samples"] == 3 and local["active"] == 1
    assert by_slug["ctadirac"]["queue_seconds"] is None and by_slug["ctadirac"]["run_seconds"] is None
    assert (await catalog.http.get("/internal/planning/nope")).status_code == 404


async def test_a_job_keeps_its_quote(catalog: Catalog, bus: Bus) -> None:
    quote = (utcnow() + timedelta(minutes=5)).replace(microsecond=0)
    message = CreateJob(job_id=new_id(), owner="alice", workflow="sleep", facility="local", quote=quote)
    await bus.publish(message)

    async def read() -> dict[str, Any] | None:
        response = await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)
        return dict(response.json()) if response.status_code == 200 else None

    job = await eventually(read)
    assert job["quote"] is not None and job["quote"].startswith(quote.strftime("%Y-%m-%dT%H:%M:%S"))
