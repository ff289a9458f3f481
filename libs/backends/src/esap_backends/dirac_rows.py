"""A DIRAC job's attributes as both DIRAC backends read them: a DiracX search row and a classic DIRAC job summary
hold the same names (Status, MinorStatus, ApplicationStatus, Site, StartExecTime, EndExecTime), times as naive
UTC text. Depends on the backend interface, esap_messages and structlog only.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from esap_backends.base import BackendStatus
from esap_messages import DiracStatus

log = structlog.get_logger("esap.backends.dirac")


def to_backend_status(row: Mapping[str, Any], dirac_id: object = None) -> BackendStatus | None:
    """The row as a BackendStatus; None (logged) for a status esap-batch does not know."""
    try:
        status = DiracStatus(str(row.get("Status")))
    except ValueError:
        log.warning("DIRAC status unknown to esap-batch, job not reported.",
                    dirac_job_id=dirac_id if dirac_id is not None else row.get("JobID"), status=row.get("Status"))
        return None
    minor, application = str(row.get("MinorStatus") or ""), str(row.get("ApplicationStatus") or "")
    return BackendStatus(
        status=status, minor_status=minor, application_status=application, site=str(row.get("Site") or ""),
        started_at=dirac_time(row.get("StartExecTime")), ended_at=dirac_time(row.get("EndExecTime")),
        error=failure_text(minor, application) if status is DiracStatus.FAILED else None,
    )


def failure_text(minor: str, application: str) -> str:
    """What DIRAC says of a failed job, for the user's error summary."""
    parts = [part for part in (minor, application) if part]
    return "DIRAC: " + "; ".join(parts) if parts else "DIRAC reports the job Failed"


def dirac_time(value: object) -> datetime | None:
    """A DIRAC time (naive UTC, ISO 8601 or with a space) as an aware datetime; None when unset or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
