"""Notifications: what a batch that ends a job with NOTIFY targets must store, and the document each target gets.

A job (a campaign: its parent; a child has no targets) is told of once, when it moves into COMPLETED, ERROR or
ABORTED: one ``Notice`` per target, written in the batch transaction that moves it, so that nothing is lost and the
phase change waits for no delivery. The notice's id (derived from the job and the target, so a replay makes the
same one) is the delivery's idempotency key. The document is made here, from the job as the batch leaves it, and
stored with the notice: a job archived or deleted before the delivery is still told of as it ended.
No I/O. Depends on esap_messages and the domain model only.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid5

from esap_catalog.domain.model import Job, PhaseChange
from esap_messages import Phase, ResultFile
from esap_messages.api import CAMPAIGN_TABLES
from esap_messages.notify import InvalidTargetError, TargetKind, parse_target

ENDING_PHASES = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED})
"""The phases a job is told of reaching (ARCHIVED, days later, is not news)."""


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: UUID
    job_id: UUID
    owner: str | None
    target: str
    kind: TargetKind
    phase: Phase
    document: Mapping[str, Any]
    created_at: datetime


def notice_id(job_id: UUID, target: str) -> UUID:
    return uuid5(job_id, "notify:" + target)


def notices(jobs: Mapping[UUID, Job], history: Iterable[PhaseChange],
            results: Mapping[UUID, Sequence[ResultFile]], base_url: str, now: datetime) -> list[Notice]:
    """The notices of every job of ``jobs`` (the batch's created and updated ones) that has targets and whose
    history in this batch enters an ending phase. Costs one pass over the jobs when none has targets."""
    if not any(job.notify for job in jobs.values()):
        return []
    ended = {e.job_id for e in history
             if e.phase in ENDING_PHASES and (e.previous_phase is None or e.previous_phase not in ENDING_PHASES)}
    found = []
    for job_id in ended:
        job = jobs.get(job_id)
        if job is None or not job.notify or job.phase not in ENDING_PHASES:
            continue
        document = job_document(job, results.get(job_id, ()), base_url)
        for text in dict.fromkeys(job.notify):
            try:
                target = parse_target(text)
            except InvalidTargetError:
                continue  # the gateway checked it; a target no longer understood is not sent
            found.append(Notice(notice_id(job_id, text), job_id, job.owner, text, target.kind, job.phase,
                                document, now))
    return found


def job_document(job: Job, results: Sequence[ResultFile], base_url: str) -> dict[str, Any]:
    """What a webhook receives (as JSON) and an e-mail says: the job, its end, its durations and its results."""
    url = f"{base_url.rstrip('/')}/uws/jobs/{job.job_id}"
    names = list(CAMPAIGN_TABLES) if job.children else sorted({r.name for r in results})
    return {
        "job_id": str(job.job_id),
        "url": url,
        "phase": job.phase.value,
        "run_id": job.run_id,
        "workflow": job.workflow,
        "facility": job.facility,
        "owner": job.owner,
        "campaign_children": job.children or None,
        "creation_time": _iso(job.creation_time),
        "start_time": _iso(job.start_time),
        "end_time": _iso(job.end_time),
        "queue_seconds": _seconds(job.creation_time, job.start_time),
        "run_seconds": _seconds(job.start_time, job.end_time),
        "error": None if job.error is None else {
            "type": job.error.type.value, "message": job.error.message,
            "failure_class": job.error.failure_class.value if job.error.failure_class else None},
        "results": [{"id": name, "url": f"{url}/results/{quote(name, safe='')}"} for name in names],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, (end - start).total_seconds()), 3)
