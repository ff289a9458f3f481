"""Catalogue search and planning statistics in PostgreSQL: ranked full-text search with filters and paging, and
the recent queue and run times of each facility.

Full-text search uses the generated ``search`` columns (name weighted A, keywords or engines B, description C)
and ``websearch_to_tsquery``, so users may write quoted phrases, ``or`` and ``-word``. Planning statistics are
medians over the latest jobs of a recent window, read with one statement for every facility at once.
Depends on asyncpg, the domain and esap_messages.api; rows never leave this module.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition
from esap_catalog.storage.catalogue import (
    FACILITY_FIELDS,
    WORKFLOW_FIELDS,
    facility_from_record,
    workflow_from_record,
)


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    """What every search takes: free text (None: match all, unranked) and a page."""

    text: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, kw_only=True)
class WorkflowQuery(SearchQuery):
    keyword: str | None = None
    workflow_type: str | None = None
    runtime_engine: str | None = None
    facility_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class FacilityQuery(SearchQuery):
    facility_type: str | None = None
    runtime_engine: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class FacilityTimes:
    """One facility's planning statistics for a workflow: median queue and run seconds over the window's latest
    jobs (None: none there), how many runs the run time is the median of, and its jobs queued or executing now."""

    slug: str
    queue_seconds: float | None
    run_seconds: float | None
    samples: int
    active: int


_RANK = ("CASE WHEN $1::text IS NULL THEN 0 "
         "ELSE ts_rank_cd(search, websearch_to_tsquery('english', $1::text)) END")
_MATCH = "($1::text IS NULL OR search @@ websearch_to_tsquery('english', $1::text))"

# SQL assembled from constant column lists, never from input.
_SEARCH_WORKFLOWS = f"""
SELECT slug, {", ".join(WORKFLOW_FIELDS)}, count(*) OVER () AS total FROM workflows
WHERE {_MATCH}
  AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM unnest(keywords) k WHERE lower(k) = lower($2::text)))
  AND ($3::text IS NULL OR workflow_type = $3::text)
  AND ($4::text IS NULL OR runtime->>'engine' = lower($4::text))
  AND ($5::text IS NULL OR lower($5::text) = ANY (facility_types))
ORDER BY {_RANK} DESC, name, slug
LIMIT $6 OFFSET $7
"""  # noqa: S608
_SEARCH_FACILITIES = f"""
SELECT slug, {", ".join(FACILITY_FIELDS)}, count(*) OVER () AS total FROM facilities
WHERE {_MATCH}
  AND ($2::text IS NULL OR facility_type = lower($2::text))
  AND ($3::text IS NULL OR lower($3::text) = ANY (runtime_engines))
  AND ($4::text IS NULL OR status = lower($4::text))
ORDER BY {_RANK} DESC, name, slug
LIMIT $5 OFFSET $6
"""  # noqa: S608
_TIMES = """
SELECT f.slug, q.queue_seconds, r.run_seconds, r.samples, a.active
FROM facilities f
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.wait) AS queue_seconds
    FROM (SELECT extract(epoch FROM j.start_time - j.creation_time)::float8 AS wait FROM jobs j
          WHERE j.facility = f.slug AND j.start_time IS NOT NULL AND j.start_time > now() - $2::interval
          ORDER BY j.start_time DESC LIMIT $3) s) q
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.took) AS run_seconds, count(*)::int AS samples
    FROM (SELECT extract(epoch FROM j.end_time - j.start_time)::float8 AS took FROM jobs j
          WHERE j.workflow = $1 AND j.facility = f.slug AND j.phase = 'COMPLETED' AND j.end_time IS NOT NULL
            AND j.start_time IS NOT NULL AND j.end_time > now() - $2::interval
          ORDER BY j.end_time DESC LIMIT $3) s) r
CROSS JOIN LATERAL (
    SELECT count(*)::int AS active FROM jobs j
    WHERE j.facility = f.slug AND j.phase IN ('QUEUED', 'EXECUTING')) a
ORDER BY f.slug
"""


def _total(rows: list[asyncpg.Record]) -> int:
    return int(rows[0]["total"]) if rows else 0


def _without_total(r: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "total"}


class CatalogueSearchStore:
    def __init__(self, pool: asyncpg.Pool, *, window: timedelta, samples: int) -> None:
        self._pool = pool
        self._window = window
        self._samples = samples

    async def workflows(self, q: WorkflowQuery) -> tuple[list[WorkflowDefinition], int]:
        """One page of matching workflows, best rank first, and how many match in all."""
        rows = await self._pool.fetch(_SEARCH_WORKFLOWS, q.text, q.keyword, q.workflow_type, q.runtime_engine,
                                      q.facility_type, q.limit, q.offset)
        return [workflow_from_record(_without_total(r)) for r in rows], _total(rows)

    async def facilities(self, q: FacilityQuery) -> tuple[list[FacilityDefinition], int]:
        rows = await self._pool.fetch(_SEARCH_FACILITIES, q.text, q.facility_type, q.runtime_engine, q.status,
                                      q.limit, q.offset)
        return [facility_from_record(_without_total(r)) for r in rows], _total(rows)

    async def times(self, workflow: str) -> list[FacilityTimes]:
        """Every facility's recent queue time, this workflow's run time there, and its active jobs."""
        async with self._pool.acquire() as conn, conn.transaction():
            # The planner overestimates the LATERAL limits badly enough to JIT-compile a query that runs in
            # milliseconds (JIT alone cost ~200 ms on 300,000 jobs); off for this transaction only.
            await conn.execute("SET LOCAL jit = off")
            rows = await conn.fetch(_TIMES, workflow, self._window, self._samples)
        return [FacilityTimes(r["slug"], r["queue_seconds"], r["run_seconds"], r["samples"], r["active"])
                for r in rows]
