"""The read side of jobs, for the internal HTTP API: one query per request, rows turned into API views here.

Also the callback token checks, the one write outside the batch transaction: consuming a token is a single
compare-and-set statement. Depends on asyncpg and esap_messages (api and value types).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from esap_messages import (
    DEFAULT_LISTED_PHASES,
    FINAL_PHASES,
    BackendHistoryEntry,
    DiracStatus,
    ErrorType,
    FailureClass,
    Phase,
)
from esap_messages.api import (
    ActiveJob,
    AttemptView,
    ChildrenView,
    ChildView,
    DiracView,
    ErrorView,
    JobSummaryView,
    JobView,
    NotificationView,
    PhaseEntry,
    ResultView,
)

_JOB = """
SELECT j.job_id, j.run_id, j.owner, j.phase, j.workflow, j.facility, j.backend, j.parameters, j.creation_time, j.quote,
       j.start_time, j.end_time, j.execution_duration, j.destruction, j.backend_job_id, j.dirac_status,
       j.dirac_minor_status, j.dirac_application_status, j.dirac_site, j.error_type, j.error_message,
       j.abort_requested_at, j.attempt, j.attempts, j.error_failure_class, j.parent_id, j.swept, j.children,
       j.resubmit_of, j.notify, j.held,
       CASE WHEN j.notify IS NOT NULL THEN
           (SELECT json_agg(json_build_object('target', n.target, 'attempts', n.attempts, 'last_error', n.last_error,
                                              'delivered_at', n.delivered_at, 'failed_at', n.failed_at,
                                              'next_attempt_at', n.next_attempt_at))
            FROM notifications n WHERE n.job_id = j.job_id)
       END AS notifications,
       CASE WHEN j.children > 0 THEN
           (SELECT json_build_object(
                       'phases', COALESCE((SELECT json_object_agg(p.phase, p.n) FROM (
                           SELECT c.phase, count(*) AS n FROM jobs c WHERE c.parent_id = j.job_id GROUP BY c.phase
                       ) p), '{}'),
                       'submitted', (SELECT count(*) FROM jobs c
                                     WHERE c.parent_id = j.job_id AND c.backend_job_id IS NOT NULL)))
       END AS children_summary,
       COALESCE((SELECT json_agg(json_build_object('id', r.result_id, 'size', r.size, 'mime_type', r.mime_type,
                                                   'location', r.location) ORDER BY r.result_id)
                 FROM job_results r WHERE r.job_id = j.job_id), '[]') AS results,
       COALESCE((SELECT json_agg(json_build_object('phase', h.phase, 'at', h.at, 'source', h.source,
                                                   'detail', h.detail) ORDER BY h.id)
                 FROM job_phase_history h WHERE h.job_id = j.job_id), '[]') AS history,
       COALESCE((SELECT json_agg(json_build_object('status', b.status, 'minor_status', b.minor_status,
                                                   'application_status', b.application_status,
                                                   'at', b.status_time, 'source', b.source)
                                 ORDER BY b.status_time, b.id)
                 FROM job_backend_history b WHERE b.job_id = j.job_id), '[]') AS backend_history
FROM jobs j WHERE j.job_id = ANY($1::uuid[])
"""
_LIST = """
SELECT job_id, run_id, owner, phase, workflow, facility, creation_time, parent_id, children FROM jobs
WHERE phase = ANY($1::text[])"""
_SUMMARY = """
SELECT job_id, run_id, owner, phase, workflow, facility, creation_time, parent_id, children FROM jobs WHERE job_id = $1
"""
_CHILDREN = """
SELECT c.job_id, c.swept, c.phase, c.attempt,
       COALESCE((SELECT array_agg(r.result_id ORDER BY r.result_id) FROM job_results r WHERE r.job_id = c.job_id),
                '{}') AS results
FROM jobs c WHERE c.parent_id = $1 ORDER BY c.creation_time, c.job_id OFFSET $2 LIMIT $3
"""
_LIST_ORDER = " ORDER BY creation_time DESC, job_id DESC LIMIT $2"
_FILTERS = (("workflow", "text"), ("facility", "text"), ("run_id", "text"))
_DELETED = "SELECT EXISTS (SELECT 1 FROM deleted_jobs WHERE job_id = $1)"
_ACTIVE = """
SELECT job_id, facility, backend, backend_job_id, phase, dirac_status FROM jobs
WHERE phase IN ('QUEUED', 'EXECUTING') AND backend_job_id IS NOT NULL ORDER BY job_id
"""
_USAGE = """
SELECT count(*) FILTER (WHERE held IS NULL AND children = 0 AND phase IN ('QUEUED', 'EXECUTING')) AS active,
       count(*) FILTER (WHERE held IS NOT NULL) AS waiting
FROM jobs WHERE COALESCE(owner, '') = $1 AND (held IS NOT NULL OR (children = 0 AND phase IN ('QUEUED', 'EXECUTING')))
"""
_CALLBACK_STATES = """
SELECT job_id, phase, callback_token_hash, dirac_status FROM jobs WHERE job_id = ANY($1::uuid[])
"""
_CLEAR_CALLBACK_HASHES = """
UPDATE jobs j SET callback_token_hash = NULL
FROM unnest($1::uuid[], $2::bytea[]) AS t(job_id, token_hash)
WHERE j.job_id = t.job_id AND j.callback_token_hash = t.token_hash AND NOT (j.phase = ANY($3::text[]))
RETURNING j.job_id, j.phase
"""


@dataclass(frozen=True)
class JobFilter:
    """What a listing asks for. ``owner`` is compared when ``scoped`` (None then means anonymous jobs);
    ``before`` is a paging position: (creation_time, job_id) of the last job of the previous page."""

    phases: Sequence[Phase] = ()
    scoped: bool = False
    owner: str | None = None
    after: datetime | None = None
    workflow: str | None = None
    facility: str | None = None
    run_id: str | None = None
    before: tuple[datetime, UUID] | None = None
    parent: UUID | None = None
    """A campaign's children; None: parents and single jobs, never children."""


@dataclass(frozen=True)
class TokenState:
    phase: Phase
    token_hash: bytes | None
    dirac_status: DiracStatus | None = None


def _notifications(targets: list[str] | None, rows: list[dict[str, Any]] | None) -> list[NotificationView]:
    """Each target in the order given, with its delivery's state: waiting until the job ends."""
    if not targets:
        return []
    stored = {row["target"]: row for row in rows or ()}
    views = []
    for target in targets:
        row = stored.get(target)
        if row is None:
            views.append(NotificationView(target=target, state="waiting"))
            continue
        if row["delivered_at"] is not None:
            state = "delivered"
        elif row["failed_at"] is not None:
            state = "failed"
        elif row["last_error"] is not None:
            state = "failing"
        else:
            state = "pending"
        views.append(NotificationView(
            target=target, state=state, attempts=row["attempts"], last_error=row["last_error"],
            delivered_at=row["delivered_at"],
            next_attempt_at=row["next_attempt_at"] if state in ("pending", "failing") else None))
    return views


def job_view_from_record(r: Mapping[str, Any]) -> JobView:
    failure_class = FailureClass(r["error_failure_class"]) if r["error_failure_class"] else None
    error = (ErrorView(type=ErrorType(r["error_type"]), message=r["error_message"] or "", failure_class=failure_class)
             if r["error_type"] else None)
    return JobView(
        job_id=r["job_id"], run_id=r["run_id"], owner=r["owner"], phase=Phase(r["phase"]), workflow=r["workflow"],
        facility=r["facility"], backend=r["backend"], parameters=r["parameters"],
        creation_time=r["creation_time"], start_time=r["start_time"], end_time=r["end_time"],
        execution_duration=r["execution_duration"], destruction=r["destruction"], quote=r["quote"],
        backend_job_id=r["backend_job_id"],
        dirac=DiracView(status=DiracStatus(r["dirac_status"]) if r["dirac_status"] else None,
                        minor_status=r["dirac_minor_status"], application_status=r["dirac_application_status"],
                        site=r["dirac_site"]),
        error=error,
        results=[ResultView.model_validate(x) for x in r["results"]],
        history=[PhaseEntry.model_validate(x) for x in r["history"]],
        backend_history=[BackendHistoryEntry.model_validate(x) for x in r["backend_history"]],
        abort_requested_at=r["abort_requested_at"], parent_id=r["parent_id"], swept=r["swept"] or {},
        children=_children_view(r["children"], r["children_summary"]), resubmit_of=r["resubmit_of"],
        attempts=r["attempt"],
        past_attempts=[AttemptView.model_validate(x) for x in r["attempts"]],
        notifications=_notifications(r["notify"], r["notifications"]),
        waiting=r["held"],
    )


def _children_view(total: int, summary: Mapping[str, Any] | None) -> ChildrenView | None:
    if not total or summary is None:
        return None
    return ChildrenView(total=total, phases={Phase(p): n for p, n in summary["phases"].items()},
                        submitted=summary["submitted"])


def summary_from_record(r: Mapping[str, Any]) -> JobSummaryView:
    return JobSummaryView(job_id=r["job_id"], run_id=r["run_id"], owner=r["owner"], phase=Phase(r["phase"]),
                          workflow=r["workflow"], facility=r["facility"], creation_time=r["creation_time"],
                          parent_id=r["parent_id"], children=r["children"])


def active_from_record(r: Mapping[str, Any]) -> ActiveJob:
    return ActiveJob(job_id=r["job_id"], facility=r["facility"], backend=r["backend"],
                     backend_job_id=r["backend_job_id"], phase=Phase(r["phase"]),
                     dirac_status=DiracStatus(r["dirac_status"]) if r["dirac_status"] else None)


class JobViewStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def job(self, job_id: UUID) -> JobView | None:
        row = await self._pool.fetchrow(_JOB, [job_id])
        return job_view_from_record(row) if row else None

    async def jobs_by_id(self, job_ids: Sequence[UUID]) -> dict[UUID, JobView]:
        """The jobs of ``job_ids`` that exist, in one query."""
        return {row["job_id"]: job_view_from_record(row) for row in await self._pool.fetch(_JOB, list(job_ids))}

    async def jobs(self, where: JobFilter, limit: int) -> list[JobSummaryView]:
        wanted = [p.value for p in where.phases] if where.phases else [p.value for p in DEFAULT_LISTED_PHASES]
        # Fixed fragments only, so that each combination gets its own plan (and the owner index when it can).
        sql, args = _LIST, [wanted, limit]
        if where.parent is None:
            sql += " AND parent_id IS NULL"
        else:
            args.append(where.parent)
            sql += f" AND parent_id = ${len(args)}::uuid"
        if where.scoped and where.owner is None:
            sql += " AND owner IS NULL"
        elif where.scoped:
            args.append(where.owner)
            sql += f" AND owner = ${len(args)}"
        if where.after is not None:
            args.append(where.after)
            sql += f" AND creation_time > ${len(args)}::timestamptz"
        for name, kind in _FILTERS:
            value = getattr(where, name)
            if value is not None:
                args.append(value)
                sql += f" AND {name} = ${len(args)}::{kind}"
        if where.before is not None:
            args.extend(where.before)
            sql += f" AND (creation_time, job_id) < (${len(args) - 1}::timestamptz, ${len(args)}::uuid)"
        rows = await self._pool.fetch(sql + _LIST_ORDER, *args)
        return [summary_from_record(r) for r in rows]

    async def summary(self, job_id: UUID) -> JobSummaryView | None:
        """The job's list entry (owner, phase, number of children): one row, no history or results."""
        row = await self._pool.fetchrow(_SUMMARY, job_id)
        return summary_from_record(row) if row else None

    async def children(self, parent_id: UUID, offset: int = 0, limit: int | None = None) -> list[ChildView]:
        """A campaign's table of children, in the order they were swept (``limit`` of them from ``offset``)."""
        rows = await self._pool.fetch(_CHILDREN, parent_id, offset, limit)
        return [ChildView(job_id=r["job_id"], swept=r["swept"] or {}, phase=Phase(r["phase"]),
                          attempts=r["attempt"], results=list(r["results"])) for r in rows]

    async def deleted(self, job_id: UUID) -> bool:
        """True when the job existed and was removed."""
        return bool(await self._pool.fetchval(_DELETED, job_id))

    async def usage(self, owner: str) -> tuple[int, int]:
        """An owner's active jobs and held jobs ('' is anonymous), counted on the partial indexes."""
        row = await self._pool.fetchrow(_USAGE, owner)
        return (row["active"], row["waiting"]) if row else (0, 0)

    async def active_jobs(self) -> list[ActiveJob]:
        return [active_from_record(r) for r in await self._pool.fetch(_ACTIVE)]

    async def token_states(self, job_ids: Sequence[UUID]) -> dict[UUID, TokenState]:
        """Phase, token hash and last backend status of each job that exists, in one query."""
        rows = await self._pool.fetch(_CALLBACK_STATES, list(job_ids))
        return {r["job_id"]: TokenState(Phase(r["phase"]), r["callback_token_hash"],
                                        DiracStatus(r["dirac_status"]) if r["dirac_status"] else None)
                for r in rows}

    async def consume_tokens(self, hashes: Mapping[UUID, bytes]) -> dict[UUID, Phase]:
        """Clear each job's token if it is still this one and the job is not final, in one statement: the
        phases of the jobs whose token was consumed."""
        final = [p.value for p in FINAL_PHASES]
        rows = await self._pool.fetch(_CLEAR_CALLBACK_HASHES, list(hashes), list(hashes.values()), final)
        return {r["job_id"]: Phase(r["phase"]) for r in rows}

