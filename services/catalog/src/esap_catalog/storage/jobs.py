"""The write side of jobs: what one batch transaction runs, each step one statement whatever the batch size.

Bulk statements pass columns as arrays and ``unnest`` them, so a batch of 500 messages costs the same handful
of round trips as a batch of one; what follows the jobs' update (history, outbox, notifications) is one statement.
Rows are converted to domain objects here (``job_from_record``) and never leave this module. Depends on asyncpg,
the domain and esap_messages.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from esap_catalog.domain.dispatch import HeldJob
from esap_catalog.domain.model import Attempt, DiracState, ErrorSummary, Job, PhaseChange
from esap_catalog.domain.notifications import Notice
from esap_messages import (
    BackendHistoryEntry,
    DiracStatus,
    ErrorType,
    FailureClass,
    Message,
    Phase,
    ResultFile,
    encode,
)
from esap_messages.registry import routing_key_of

_STATE = (
    ("parameters", "text"), ("execution_duration", "int4"), ("destruction", "timestamptz"),
    ("phase", "text"), ("start_time", "timestamptz"), ("end_time", "timestamptz"), ("backend_job_id", "text"),
    ("dirac_status", "text"), ("dirac_minor_status", "text"), ("dirac_application_status", "text"),
    ("dirac_site", "text"), ("status_observed_at", "timestamptz"), ("error_type", "text"),
    ("error_message", "text"), ("callback_token_hash", "bytea"), ("abort_requested_at", "timestamptz"),
    ("updated_at", "timestamptz"), ("attempt", "int4"), ("attempts", "text"), ("error_failure_class", "text"),
    ("held", "text"),
)
_JSONB = frozenset({"parameters", "attempts", "swept", "notify"})
_IDENTITY = (
    ("owner", "text"), ("run_id", "text"), ("workflow", "text"), ("facility", "text"), ("backend", "text"),
    ("creation_time", "timestamptz"), ("quote", "timestamptz"), ("parent_id", "uuid"), ("swept", "text"),
    ("children", "int4"), ("resubmit_of", "uuid"), ("notify", "text"),
)


def _unnest(columns: Sequence[tuple[str, str]]) -> str:
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, start=1))
    names = ", ".join(name for name, _ in columns)
    return f"unnest({arrays}) AS u({names})"


_JOB_COLUMNS = (("job_id", "uuid"), *_IDENTITY, *_STATE)
_SELECTED = ", ".join(name for name, _ in _JOB_COLUMNS)

# SQL assembled from the constant column lists above, never from input.
_LOCK = f"SELECT {_SELECTED} FROM jobs WHERE job_id = ANY($1::uuid[]) ORDER BY job_id FOR UPDATE"  # noqa: S608
_LOCK_CHILDREN = (
    f"SELECT {_SELECTED} FROM jobs WHERE parent_id = ANY($1::uuid[]) ORDER BY job_id FOR UPDATE"  # noqa: S608
)
_CHILD_COUNTS = """
SELECT parent_id, phase, count(*) AS n FROM jobs WHERE parent_id = ANY($1::uuid[]) GROUP BY parent_id, phase
"""
_INSERT = f"""
INSERT INTO jobs ({_SELECTED}, workflow_ref, facility_ref)
SELECT {", ".join(f"u.{n}::jsonb" if n in _JSONB else f"u.{n}" for n, _ in _JOB_COLUMNS)},
       w.slug, f.slug
FROM {_unnest(_JOB_COLUMNS)}
LEFT JOIN workflows w ON w.slug = u.workflow
LEFT JOIN facilities f ON f.slug = u.facility
ON CONFLICT (job_id) DO NOTHING
RETURNING job_id
"""  # noqa: S608
_UPDATE = f"""
UPDATE jobs AS j SET {", ".join(f"{n} = u.{n}{'::jsonb' if n in _JSONB else ''}" for n, _ in _STATE)}
FROM {_unnest((("job_id", "uuid"), *_STATE))}
WHERE j.job_id = u.job_id
"""  # noqa: S608
_INBOX = """
INSERT INTO inbox (message_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING message_id
"""
_DELETE_JOBS = """
WITH gone AS (DELETE FROM jobs WHERE job_id = ANY($1::uuid[]) RETURNING job_id)
INSERT INTO deleted_jobs (job_id) SELECT job_id FROM gone ON CONFLICT DO NOTHING
"""
_DELETE_RESULTS = "DELETE FROM job_results WHERE job_id = ANY($1::uuid[])"
_RESULTS = """
INSERT INTO job_results (job_id, result_id, size, mime_type, location)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::text[])
"""
# The phase history, the backend history, the outbox and the notifications: four tables, one round trip. (A
# data-modifying WITH runs whether or not anything reads it; an empty array inserts nothing.)
_RECORD = """
WITH history AS (
    INSERT INTO job_phase_history (job_id, phase, previous_phase, at, source, detail)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
), backend_history AS (
    INSERT INTO job_backend_history
        (job_id, status_time, entry_digest, status, minor_status, application_status, source)
    SELECT * FROM unnest($7::uuid[], $8::timestamptz[], $9::bytea[], $10::text[], $11::text[], $12::text[],
                         $13::text[])
    ON CONFLICT DO NOTHING
), outbox AS (
    INSERT INTO outbox (message_type, routing_key, body, schema_version)
    SELECT * FROM unnest($14::text[], $15::text[], $16::bytea[], $17::int4[])
)
SELECT pg_notify('esap_job_changed', id::text) FROM unnest($18::uuid[]) AS id
"""

_NOTICES = """
INSERT INTO notifications (id, job_id, owner, target, kind, phase, document, created_at, next_attempt_at)
SELECT u.id, u.job_id, u.owner, u.target, u.kind, u.phase, u.document::jsonb, u.created_at, u.created_at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
     AS u(id, job_id, owner, target, kind, phase, document, created_at)
ON CONFLICT DO NOTHING
"""
# Quotas and fair share (domain.dispatch): active = QUEUED and handed over, or EXECUTING; never a parent. The
# partial indexes of migration 0009 answer these; the counts are bounded by the quota and the facilities' limits.
_ACTIVE_WHERE = "held IS NULL AND children = 0 AND phase IN ('QUEUED', 'EXECUTING')"
_DISPATCH_LOCK = "SELECT pg_advisory_xact_lock(hashtext('esap.catalog.dispatch'))"
_USAGE = f"""
SELECT facility, COALESCE(owner, '') AS owner, count(*)::int AS n, 0 AS kind FROM jobs
WHERE {_ACTIVE_WHERE} AND (facility = ANY($1::text[]) OR COALESCE(owner, '') = ANY($2::text[]))
GROUP BY 1, 2
UNION ALL
SELECT f, '', 0, 1 FROM unnest($1::text[]) AS f
WHERE EXISTS (SELECT 1 FROM jobs WHERE held IS NOT NULL AND facility = f)
UNION ALL
SELECT '', o, 0, 2 FROM unnest($2::text[]) AS o
WHERE EXISTS (SELECT 1 FROM jobs WHERE held IS NOT NULL AND COALESCE(owner, '') = o)
"""  # noqa: S608
# The held jobs a release may pick, and the active counts it needs, in one round trip. The (facility, owner) pairs
# with held jobs are found by skipping through jobs_held_idx / jobs_held_owner_idx (one index probe per pair, not a
# scan of every held job: a 10,000-child sweep costs its owner's pair one probe), then each pair's oldest $3 jobs.
_HELD = f"""
WITH RECURSIVE seeds AS (
    SELECT unnest($1::text[]) AS facility
    UNION
    SELECT p.facility FROM unnest($2::text[]) AS o(o) CROSS JOIN LATERAL (
        WITH RECURSIVE places AS (
            (SELECT facility FROM jobs WHERE held IS NOT NULL AND COALESCE(owner, '') = o.o ORDER BY facility LIMIT 1)
            UNION ALL
            SELECT (SELECT j.facility FROM jobs j WHERE j.held IS NOT NULL AND COALESCE(j.owner, '') = o.o
                    AND j.facility > places.facility ORDER BY j.facility LIMIT 1)
            FROM places WHERE places.facility IS NOT NULL
        ) SELECT facility FROM places WHERE facility IS NOT NULL) p
), pairs AS (
    SELECT s.facility, (SELECT COALESCE(owner, '') FROM jobs WHERE held IS NOT NULL AND facility = s.facility
                        ORDER BY COALESCE(owner, '') LIMIT 1) AS o FROM seeds s
    UNION ALL
    SELECT p.facility, (SELECT COALESCE(j.owner, '') FROM jobs j WHERE j.held IS NOT NULL AND j.facility = p.facility
                        AND COALESCE(j.owner, '') > p.o ORDER BY COALESCE(j.owner, '') LIMIT 1)
    FROM pairs p WHERE p.o IS NOT NULL
), held AS (
    SELECT h.* FROM pairs p CROSS JOIN LATERAL (
        SELECT job_id, COALESCE(owner, '') AS owner, facility, creation_time FROM jobs
        WHERE held IS NOT NULL AND facility = p.facility AND COALESCE(owner, '') = p.o
        ORDER BY creation_time, job_id LIMIT $3) h
    WHERE p.o IS NOT NULL
)
SELECT job_id, owner, facility, creation_time, 0 AS n FROM held
UNION ALL
SELECT NULL::uuid, COALESCE(owner, ''), facility, NULL::timestamptz, count(*)::int
FROM jobs, (SELECT array_agg(DISTINCT facility) AS places, array_agg(DISTINCT owner) AS people FROM held) AS k
WHERE {_ACTIVE_WHERE} AND (facility = ANY(k.places) OR COALESCE(owner, '') = ANY(k.people))
GROUP BY COALESCE(owner, ''), facility
"""  # noqa: S608
_LOCK_HELD = (
    f"SELECT {_SELECTED} FROM jobs WHERE job_id = ANY($1::uuid[]) AND held IS NOT NULL AND phase = 'QUEUED' "  # noqa: S608
    "ORDER BY job_id FOR UPDATE SKIP LOCKED"
)
_WAITING = "SELECT DISTINCT facility FROM jobs WHERE held IS NOT NULL"
# Held jobs handed over: only what changes (no longer held, the new token's hash), their SubmitJobs into the outbox
# and their listeners notified, in one round trip.
_RELEASE = """
WITH released AS (
    UPDATE jobs AS j SET held = NULL, callback_token_hash = u.token_hash, updated_at = u.updated_at
    FROM unnest($1::uuid[], $2::bytea[], $3::timestamptz[]) AS u(job_id, token_hash, updated_at)
    WHERE j.job_id = u.job_id RETURNING j.job_id
), outbox AS (
    INSERT INTO outbox (message_type, routing_key, body, schema_version)
    SELECT * FROM unnest($4::text[], $5::text[], $6::bytea[], $7::int4[])
)
SELECT pg_notify('esap_job_changed', job_id::text) FROM released
"""

CHANNEL = "esap_job_changed"


def attempts_to_json(attempts: Iterable[Attempt]) -> str:
    return json.dumps([{"number": a.number, "backend_job_id": a.backend_job_id,
                        "start_time": a.start_time.isoformat() if a.start_time else None,
                        "end_time": a.end_time.isoformat() if a.end_time else None,
                        "failure_class": a.failure_class.value, "message": a.message} for a in attempts])


def attempts_from_json(value: str | list[dict[str, Any]]) -> tuple[Attempt, ...]:
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(Attempt(number=x["number"], backend_job_id=x["backend_job_id"],
                         start_time=datetime.fromisoformat(x["start_time"]) if x["start_time"] else None,
                         end_time=datetime.fromisoformat(x["end_time"]) if x["end_time"] else None,
                         failure_class=FailureClass(x["failure_class"]), message=x["message"]) for x in items)


def job_from_record(r: Mapping[str, Any]) -> Job:
    failure_class = FailureClass(r["error_failure_class"]) if r["error_failure_class"] else None
    error = (ErrorSummary(ErrorType(r["error_type"]), r["error_message"] or "", failure_class)
             if r["error_type"] else None)
    dirac = DiracState(
        DiracStatus(r["dirac_status"]) if r["dirac_status"] else None, r["dirac_minor_status"],
        r["dirac_application_status"], r["dirac_site"], r["status_observed_at"],
    )
    return Job(
        job_id=r["job_id"], owner=r["owner"], run_id=r["run_id"], workflow=r["workflow"], facility=r["facility"],
        backend=r["backend"], parameters=r["parameters"], phase=Phase(r["phase"]),
        creation_time=r["creation_time"], updated_at=r["updated_at"], start_time=r["start_time"],
        end_time=r["end_time"], execution_duration=r["execution_duration"], destruction=r["destruction"],
        backend_job_id=r["backend_job_id"], dirac=dirac, error=error,
        callback_token_hash=r["callback_token_hash"], abort_requested_at=r["abort_requested_at"],
        quote=r["quote"], parent_id=r["parent_id"], swept=r["swept"], children=r["children"],
        resubmit_of=r["resubmit_of"], attempt=r["attempt"], attempts=attempts_from_json(r["attempts"]),
        notify=_targets(r["notify"]),
        held=r["held"],
    )


def _targets(value: str | list[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(json.loads(value) if isinstance(value, str) else value)


def _state_row(job: Job) -> tuple[Any, ...]:
    error = job.error
    return (
        json.dumps(dict(job.parameters)), job.execution_duration, job.destruction,
        job.phase.value, job.start_time, job.end_time, job.backend_job_id,
        job.dirac.status.value if job.dirac.status else None, job.dirac.minor_status,
        job.dirac.application_status, job.dirac.site, job.dirac.observed_at,
        error.type.value if error else None, error.message if error else None, job.callback_token_hash,
        job.abort_requested_at, job.updated_at, job.attempt, attempts_to_json(job.attempts),
        error.failure_class.value if error and error.failure_class else None, job.held,
    )


def _identity_row(job: Job) -> tuple[Any, ...]:
    return (
        job.owner, job.run_id, job.workflow, job.facility, job.backend, job.creation_time, job.quote, job.parent_id,
        None if job.swept is None else json.dumps(dict(job.swept)), job.children, job.resubmit_of,
        json.dumps(list(job.notify)) if job.notify else None,
    )


def entry_digest(entry: BackendHistoryEntry) -> bytes:
    """What tells one backend history entry from another at the same time (the key's last part)."""
    texts = (entry.status, entry.minor_status, entry.application_status, entry.source)
    return hashlib.sha256("\x1f".join(texts).encode()).digest()


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column, the shape ``unnest`` takes."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


class JobStore:
    """The statements of one batch transaction, on the connection that holds the transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record_messages(self, message_ids: Sequence[UUID]) -> set[UUID]:
        """Remember the ids; returns those not seen before."""
        rows = await self._conn.fetch(_INBOX, list(message_ids))
        return {r["message_id"] for r in rows}

    async def lock(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        rows = await self._conn.fetch(_LOCK, list(job_ids))
        return {r["job_id"]: job_from_record(r) for r in rows}

    async def lock_children(self, parent_ids: Iterable[UUID]) -> dict[UUID, Job]:
        rows = await self._conn.fetch(_LOCK_CHILDREN, list(parent_ids))
        return {r["job_id"]: job_from_record(r) for r in rows}

    async def child_counts(self, parent_ids: Iterable[UUID]) -> dict[UUID, dict[Phase, int]]:
        counts: dict[UUID, dict[Phase, int]] = {}
        for r in await self._conn.fetch(_CHILD_COUNTS, list(parent_ids)):
            counts.setdefault(r["parent_id"], {})[Phase(r["phase"])] = r["n"]
        return counts

    async def insert(self, jobs: Sequence[Job]) -> set[UUID]:
        """Insert new jobs; returns the ids actually inserted (another writer may have been first)."""
        if not jobs:
            return set()
        rows = ((j.job_id, *_identity_row(j), *_state_row(j)) for j in jobs)
        inserted = await self._conn.fetch(_INSERT, *_columns(rows, len(_JOB_COLUMNS)))
        return {r["job_id"] for r in inserted}

    async def update(self, jobs: Sequence[Job]) -> None:
        if jobs:
            rows = ((j.job_id, *_state_row(j)) for j in jobs)
            await self._conn.execute(_UPDATE, *_columns(rows, len(_STATE) + 1))

    async def delete(self, job_ids: Iterable[UUID]) -> None:
        """Remove jobs with their results and history (the foreign keys cascade), leaving a tombstone."""
        ids = list(job_ids)
        if ids:
            await self._conn.execute(_DELETE_JOBS, ids)

    async def record(self, history: Sequence[PhaseChange],
                     backend_history: Mapping[UUID, Sequence[BackendHistoryEntry]],
                     outbox: Sequence[Message], changed: Iterable[UUID]) -> None:
        """Append the phase history and the backend history (an entry already stored, by a repeated observation,
        adds nothing), add the messages to the outbox and notify the changed jobs' listeners at commit: one
        statement, as they touch different tables. Before a deletion of the same batch, whose cascade then takes
        the new history with the job."""
        ids = list(changed)
        if not (history or backend_history or outbox or ids):
            return
        entries = ((e.job_id, e.phase.value, e.previous_phase.value if e.previous_phase else None, e.at,
                    e.source, e.detail) for e in history)
        backend = {(job_id, e.at, entry_digest(e)): (e.status, e.minor_status, e.application_status, e.source)
                   for job_id, stored in backend_history.items() for e in stored}
        messages = ((m.type_name(), routing_key_of(m), encode(m), m.schema_version) for m in outbox)
        await self._conn.execute(_RECORD, *_columns(entries, 6), *_columns((k + v for k, v in backend.items()), 7),
                                 *_columns(messages, 4), ids)

    async def add_notices(self, notices: Sequence[Notice]) -> None:
        """Store the notices of jobs that ended in this batch (one already stored, by a replay, adds nothing)."""
        if notices:
            rows = ((n.notice_id, n.job_id, n.owner, n.target, n.kind.value, n.phase.value, json.dumps(n.document),
                     n.created_at) for n in notices)
            await self._conn.execute(_NOTICES, *_columns(rows, 8))

    async def lock_dispatch(self) -> None:
        """Serialise the transactions that hand jobs over, until this one ends: each counts what the one before
        committed, so two batches never both take the last slot."""
        await self._conn.execute(_DISPATCH_LOCK)

    async def usage(self, facilities: Iterable[str], owners: Iterable[str]
                    ) -> tuple[list[tuple[str, str, int]], set[str], set[str]]:
        """Active jobs per (facility, owner) of these facilities or owners (owner '' is anonymous), the facilities
        among them where a job is held, and the owners among them with a held job."""
        pairs, waiting, waiting_owners = [], set(), set()
        for r in await self._conn.fetch(_USAGE, sorted(set(facilities)), sorted(set(owners))):
            if r["kind"] == 0:
                pairs.append((r["facility"], r["owner"], r["n"]))
            elif r["kind"] == 1:
                waiting.add(r["facility"])
            else:
                waiting_owners.add(r["owner"])
        return pairs, waiting, waiting_owners

    async def held(self, facilities: Iterable[str], owners: Iterable[str], per_owner: int
                   ) -> tuple[list[HeldJob], list[tuple[str, str, int]]]:
        """The oldest ``per_owner`` held jobs of each owner on each facility, of these facilities or owners, and the
        active jobs per (facility, owner) of their facilities and owners."""
        held, pairs = [], []
        for r in await self._conn.fetch(_HELD, sorted(set(facilities)), sorted(set(owners)), per_owner):
            if r["job_id"] is None:
                pairs.append((r["facility"], r["owner"], r["n"]))
            else:
                held.append(HeldJob(r["job_id"], r["owner"], r["facility"], r["creation_time"]))
        return held, pairs

    async def lock_held(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        """Those of these jobs still held, locked; one another transaction holds (an abort) is skipped."""
        rows = await self._conn.fetch(_LOCK_HELD, list(job_ids))
        return {r["job_id"]: job_from_record(r) for r in rows}

    async def release_held(self, jobs: Sequence[Job], outbox: Sequence[Message]) -> None:
        """Write held jobs as handed over (``held`` cleared, their new token's hash) with their messages."""
        if not jobs:
            return
        rows = ((j.job_id, j.callback_token_hash, j.updated_at) for j in jobs)
        messages = ((m.type_name(), routing_key_of(m), encode(m), m.schema_version) for m in outbox)
        await self._conn.execute(_RELEASE, *_columns(rows, 3), *_columns(messages, 4))

    async def waiting_facilities(self) -> set[str]:
        """Every facility where a job is held."""
        return {r["facility"] for r in await self._conn.fetch(_WAITING)}

    async def replace_results(self, results: Mapping[UUID, Sequence[ResultFile]]) -> None:
        if not results:
            return
        await self._conn.execute(_DELETE_RESULTS, list(results))
        rows = [(job_id, r.name, r.size, r.mime_type, r.location)
                for job_id, files in results.items() for r in {f.name: f for f in files}.values()]
        if rows:
            await self._conn.execute(_RESULTS, *_columns(rows, 5))

