"""The backend interface, in two sides: ``Submitting`` (submit, kill) and ``Observing`` (bulk status, changes since
a point in time, output retrieval). The submitter drives whole ``Backend``s (both sides: it reads a status back
after a kill); the monitor holds the observing side only.

Implementations: ``local`` (this host), ``diracx`` (a DiracX server, esap_backends.diracx) and ``dirac`` (classic
DIRAC through its Python API, esap_backends.dirac). Depends on esap_messages only.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from esap_messages import (
    FINAL_STATUSES,
    RESULT_STATUSES,
    DiracStatus,
    JobStatusObserved,
    ResultFile,
    StatusSource,
    SubmitJob,
    utcnow,
)


class BackendError(Exception):
    """A transient backend failure (timeout, refused connection, 5xx): try again later."""


class PermanentBackendError(BackendError):
    """The backend refused the request for good (bad job description, 4xx): retrying cannot help."""


class KillOutcome(StrEnum):
    KILLED = "killed"
    ALREADY_FINAL = "already_final"
    REFUSED = "refused"


@dataclass(frozen=True)
class BackendStatus:
    """One job as its backend sees it, in DIRAC's vocabulary."""

    status: DiracStatus
    minor_status: str = ""
    application_status: str = ""
    site: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    results: tuple[ResultFile, ...] = field(default=())

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def awaits_results(self) -> bool:
        """Ended with outputs to collect (Done or Failed) that this status does not carry yet."""
        return self.status in RESULT_STATUSES and not self.results

    def signature(self) -> tuple[str, str, str, str]:
        """What counts as a change worth reporting."""
        return (self.status.value, self.minor_status, self.application_status, self.site)


class Submitting(Protocol):
    """The submitting side of a backend: starts and kills jobs. Each method may raise BackendError (transient) or
    PermanentBackendError."""

    name: str

    async def submit(self, job: SubmitJob) -> str:
        """Start the job; return its backend job id. Idempotent: submitting the same job_id again returns the
        id already made and starts nothing new."""
        ...

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        """Kill the job and confirm it by reading its status back."""
        ...


class Observing(Protocol):
    """The observing side of a backend: what the monitor polls. Each method may raise BackendError (transient) or
    PermanentBackendError."""

    name: str

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        """Statuses of many jobs in one call; ids the backend does not know are left out. Results are not
        fetched here: a Done or Failed status may come without them (see fetch_results)."""
        ...

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        """Statuses of those of the jobs whose record changed at or after ``since`` (tz-aware), in as few calls as
        the backend allows (DIRAC: one search on LastUpdateTime, then statuses of the changed jobs only).

        May hold jobs that did not change (a backend that cannot tell answers for all of them), never leaves out
        one that did; ids the backend does not know are left out. ``since`` is read against the backend's clock at
        its precision (DIRAC keeps whole seconds): a caller keeps a margin for clock skew."""
        ...

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        """The output files of a job that ended Done or Failed, as results on this host (``file://`` locations):
        fetched from the backend on the first call, read from this host afterwards.

        Raises BackendError when they cannot be fetched now (ask again later), PermanentBackendError when they
        never can be (an unknown job, an unreadable sandbox). A job with no output sandbox, or a backend built
        without a results directory (the submitter's), has no files: ``()``."""
        ...


class Backend(Submitting, Observing, Protocol):
    """A place that runs jobs, both sides: what the submitter drives (it reads a status back after a kill)."""


class ManagedBackend(Backend, Protocol):
    """A backend its owner (the submitter) starts and stops."""

    async def recover(self) -> None:
        """Take up work left by a previous process: called once, before any submit or kill."""
        ...

    async def close(self) -> None:
        """Let go of resources; jobs already handed over keep running."""
        ...


ATTEMPT_SEPARATOR = "_"


def attempt_key(job_id: UUID, attempt: int) -> str:
    """Our name for one attempt of a job, which every backend puts on the backend job it makes (the local
    executor's directory, DIRAC's JobName), so that a redelivered SubmitJob finds its attempt's job and a retry
    never finds an earlier attempt's: the job id for the first attempt (as before retries existed),
    ``<job id>_<n>`` for attempt n > 1."""
    return str(job_id) if attempt <= 1 else f"{job_id}{ATTEMPT_SEPARATOR}{attempt}"


def job_id_of_key(key: str) -> UUID:
    """The job id in an ``attempt_key``; ValueError if it holds none."""
    return UUID(key.split(ATTEMPT_SEPARATOR, 1)[0])


def to_status_observed(job_id: UUID, status: BackendStatus, source: StatusSource,
                       observed_at: datetime | None = None, backend_job_id: str | None = None) -> JobStatusObserved:
    """The event saying what a backend reports of a job (results only with a final status)."""
    return JobStatusObserved(
        job_id=job_id, backend_job_id=backend_job_id, source=source, status=status.status,
        minor_status=status.minor_status[:512],
        application_status=status.application_status[:512], site=status.site[:128],
        observed_at=observed_at or utcnow(), started_at=status.started_at, ended_at=status.ended_at,
        exit_code=status.exit_code, results=status.results if status.is_final else None,
        error=status.error[:4000] if status.error is not None else None,
    )
