"""Every message type by name, and the one encoding used on the wire (JSON, type in the AMQP header).

Depends on pydantic only.
"""

from esap_messages.base import Message
from esap_messages.commands import AbortJob, CreateJob, DeleteJob, KillJob, RunJob, SubmitJob, UpdateJob
from esap_messages.events import (
    JobKillFailed,
    JobPhaseChanged,
    JobReported,
    JobStatusObserved,
    JobSubmissionFailed,
    JobSubmitted,
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type_name(): cls
    for cls in (
        CreateJob,
        RunJob,
        AbortJob,
        UpdateJob,
        DeleteJob,
        SubmitJob,
        KillJob,
        JobSubmitted,
        JobSubmissionFailed,
        JobStatusObserved,
        JobKillFailed,
        JobReported,
        JobPhaseChanged,
    )
}


class UnknownMessageTypeError(ValueError):
    """The message names a type this version does not know."""


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def decode(type_name: str | None, body: bytes) -> Message:
    """Parse a body of the named type; raises UnknownMessageTypeError or pydantic.ValidationError."""
    cls = MESSAGE_TYPES.get(type_name or "")
    if cls is None:
        raise UnknownMessageTypeError(f"unknown message type {type_name!r}")
    return cls.model_validate_json(body)


def routing_key_of(message: Message) -> str:
    if isinstance(message, JobPhaseChanged):
        return message.routing_key_for()
    return message.routing_key
