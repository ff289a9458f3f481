"""Job execution backends: what the submitter drives and the monitor polls.

Depends on esap_messages for the vocabulary; knows nothing of the bus or the database.
"""

from esap_backends.base import (
    Backend,
    BackendError,
    BackendStatus,
    KillOutcome,
    ManagedBackend,
    Observing,
    PermanentBackendError,
    Submitting,
    attempt_key,
    job_id_of_key,
    to_status_observed,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendStatus",
    "KillOutcome",
    "ManagedBackend",
    "Observing",
    "PermanentBackendError",
    "Submitting",
    "attempt_key",
    "job_id_of_key",
    "to_status_observed",
]
