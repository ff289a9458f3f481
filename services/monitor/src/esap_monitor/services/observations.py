"""Conversion of a backend's view of a job into the bus event the catalog consumes.

Depends on esap_messages and esap_backends' types only.
"""

from datetime import datetime
from uuid import UUID

from esap_backends import BackendStatus
from esap_messages import MAX_BACKEND_HISTORY, BackendHistoryEntry, JobStatusObserved, StatusSource


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def to_observation(job_id: UUID, status: BackendStatus, observed_at: datetime,
                   history: tuple[BackendHistoryEntry, ...] | None = None,
                   backend_job_id: str | None = None) -> JobStatusObserved:
    """A JobStatusObserved from the monitor; results only with a final status, texts clipped to the contract,
    the backend's history (its newest entries) when there is one."""
    return JobStatusObserved(
        job_id=job_id,
        backend_job_id=backend_job_id,
        source=StatusSource.MONITOR,
        status=status.status,
        minor_status=status.minor_status[:512],
        application_status=status.application_status[:512],
        site=status.site[:128],
        observed_at=observed_at,
        started_at=status.started_at,
        ended_at=status.ended_at,
        exit_code=status.exit_code,
        results=status.results if status.is_final else None,
        error=_clip(status.error, 4000),
        history=history[-MAX_BACKEND_HISTORY:] if history is not None else None,
    )
