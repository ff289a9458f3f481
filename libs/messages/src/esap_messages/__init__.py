"""Message contracts of the esap-batch bus: every message, its routing key, and the topology.

This package depends on pydantic (and uuid_utils, for the ids) only. No service logic, no I/O.
"""

from esap_messages.base import Message, new_id, utcnow
from esap_messages.commands import AbortJob, CreateJob, DeleteJob, KillJob, RunJob, SubmitJob, UpdateJob
from esap_messages.events import (
    CommandRefusal,
    CommandSettled,
    JobKillFailed,
    JobPhaseChanged,
    JobReported,
    JobStatusObserved,
    JobSubmissionFailed,
    JobSubmitted,
)
from esap_messages.model import (
    ACTIVE_PHASES,
    FINAL_PHASES,
    MAX_BACKEND_HISTORY,
    BackendHistoryEntry,
    DiracStatus,
    ErrorType,
    Phase,
    ResultFile,
    StatusSource,
    WorkflowRun,
)
from esap_messages.registry import (
    BATCH_HEADER,
    MESSAGE_TYPES,
    Encoded,
    decode,
    decode_all,
    encode,
    join_bodies,
)
from esap_messages.topology import QueueSpec, Topology

__all__ = [
    "ACTIVE_PHASES",
    "BATCH_HEADER",
    "FINAL_PHASES",
    "MAX_BACKEND_HISTORY",
    "MESSAGE_TYPES",
    "AbortJob",
    "BackendHistoryEntry",
    "CommandRefusal",
    "CommandSettled",
    "CreateJob",
    "DeleteJob",
    "DiracStatus",
    "Encoded",
    "ErrorType",
    "JobKillFailed",
    "JobPhaseChanged",
    "JobReported",
    "JobStatusObserved",
    "JobSubmissionFailed",
    "JobSubmitted",
    "KillJob",
    "Message",
    "Phase",
    "QueueSpec",
    "ResultFile",
    "RunJob",
    "StatusSource",
    "SubmitJob",
    "Topology",
    "UpdateJob",
    "WorkflowRun",
    "decode",
    "decode_all",
    "encode",
    "join_bodies",
    "new_id",
    "utcnow",
]
