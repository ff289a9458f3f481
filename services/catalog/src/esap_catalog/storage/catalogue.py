"""Workflows and facilities in PostgreSQL: idempotent upserts from definitions, and reads.

An upsert that would change nothing writes nothing (``updated_at`` stays), so seeding twice is a no-op.
Depends on asyncpg, the domain and esap_messages.api.
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeAlias

import asyncpg

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


class Upserted(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


WORKFLOW_FIELDS = ("name", "description", "keywords", "version", "workflow_type", "parameters", "run",
                    "facility_types", "steering_file", "runtime", "expected_run_seconds")
FACILITY_FIELDS = ("name", "description", "url", "facility_type", "backend", "runtime_engines", "max_parallel",
                    "status", "max_execution_duration", "expected_queue_seconds", "secrets", "max_retries")


# SQL assembled from the constant table and column names above, never from input.
def _upsert_sql(table: str, fields: tuple[str, ...]) -> str:
    columns = ", ".join(("slug", *fields))
    values = ", ".join(f"${i}" for i in range(1, len(fields) + 2))
    current = ", ".join(f"{table}.{f}" for f in fields)
    proposed = ", ".join(f"EXCLUDED.{f}" for f in fields)
    assignments = ", ".join(f"{f} = EXCLUDED.{f}" for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT (slug) DO UPDATE "  # noqa: S608
    sql += f"SET {assignments}, updated_at = now() WHERE ({current}) IS DISTINCT FROM ({proposed}) "
    return sql + "RETURNING (xmax = 0) AS inserted"


_UPSERT_WORKFLOW = _upsert_sql("workflows", WORKFLOW_FIELDS)
_UPSERT_FACILITY = _upsert_sql("facilities", FACILITY_FIELDS)
_WORKFLOWS = f"SELECT slug, {', '.join(WORKFLOW_FIELDS)} FROM workflows"  # noqa: S608
_FACILITIES = f"SELECT slug, {', '.join(FACILITY_FIELDS)} FROM facilities"  # noqa: S608


def workflow_from_record(r: Mapping[str, Any]) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(dict(r))


def facility_from_record(r: Mapping[str, Any]) -> FacilityDefinition:
    return FacilityDefinition.model_validate(dict(r))


def _outcome(row: Mapping[str, Any] | None) -> Upserted:
    if row is None:
        return Upserted.UNCHANGED
    return Upserted.INSERTED if row["inserted"] else Upserted.UPDATED


class CatalogueStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, workflows: Iterable[WorkflowDefinition],
                     facilities: Iterable[FacilityDefinition]) -> dict[str, Upserted]:
        """Write every definition in one transaction; returns what happened to each, by ``kind/slug``."""
        outcomes: dict[str, Upserted] = {}
        async with self._pool.acquire() as conn, conn.transaction():
            for facility in facilities:
                data = facility.model_dump(mode="json")
                row = await conn.fetchrow(_UPSERT_FACILITY, facility.slug, *(data[f] for f in FACILITY_FIELDS))
                outcomes[f"facility/{facility.slug}"] = _outcome(row)
            for workflow in workflows:
                data = workflow.model_dump(mode="json")
                row = await conn.fetchrow(_UPSERT_WORKFLOW, workflow.slug, *(data[f] for f in WORKFLOW_FIELDS))
                outcomes[f"workflow/{workflow.slug}"] = _outcome(row)
        return outcomes

    async def workflows(self, slugs: Iterable[str] | None = None, *,
                        executor: Executor | None = None) -> list[WorkflowDefinition]:
        """All workflows, or those named; on ``executor`` (e.g. a connection holding a transaction) if given."""
        rows = await _select(executor or self._pool, _WORKFLOWS, slugs)
        return [workflow_from_record(r) for r in rows]

    async def facilities(self, slugs: Iterable[str] | None = None, *,
                         executor: Executor | None = None) -> list[FacilityDefinition]:
        rows = await _select(executor or self._pool, _FACILITIES, slugs)
        return [facility_from_record(r) for r in rows]


async def _select(executor: Executor, select: str, slugs: Iterable[str] | None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record]
    if slugs is None:
        rows = await executor.fetch(f"{select} ORDER BY slug")
    else:
        rows = await executor.fetch(f"{select} WHERE slug = ANY($1::text[]) ORDER BY slug", list(slugs))
    return rows
