"""Every message type by name, and the one encoding used on the wire (JSON, type in the AMQP header).

A body is one message as a JSON object, or, when the AMQP header ``x-esap-batch`` holds a count, that many
messages of the named type as a JSON array: publishers put messages that go out together (same type, same routing
key) in one AMQP message, and consumers take each one as a delivery of its own. Depends on pydantic only.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from esap_messages.base import Message
from esap_messages.commands import CATALOG_COMMANDS, SUBMITTER_COMMANDS
from esap_messages.events import EVENTS_INTO_CATALOG, EVENTS_OUT_OF_CATALOG, JobPhaseChanged

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type_name(): cls
    for cls in (*CATALOG_COMMANDS, *SUBMITTER_COMMANDS, *EVENTS_INTO_CATALOG, *EVENTS_OUT_OF_CATALOG)
}


class UnknownMessageTypeError(ValueError):
    """The message names a type this version does not know."""


BATCH_HEADER = "x-esap-batch"
"""AMQP header holding how many messages a batched body carries."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """A message kept as its body, as ``encode`` wrote it, with what publishing it needs (the catalog's outbox
    stores messages so): it goes out byte for byte as it was written, without being parsed again."""

    type_name: str
    routing_key: str
    body: bytes
    schema_version: int
    occurred_at: datetime


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def join_bodies(bodies: Sequence[bytes]) -> bytes:
    """Encoded messages of one type as one batched body: a JSON array (sent with the BATCH_HEADER)."""
    return b"[" + b",".join(bodies) + b"]"


def decode(type_name: str | None, body: bytes) -> Message:
    """Parse a body of the named type; raises UnknownMessageTypeError or pydantic.ValidationError."""
    cls = MESSAGE_TYPES.get(type_name or "")
    if cls is None:
        raise UnknownMessageTypeError(f"unknown message type {type_name!r}")
    return cls.model_validate_json(body)


def decode_all(type_name: str | None, body: bytes, headers: Mapping[str, Any] | None = None) -> list[Message]:
    """Every message in a body, batched or not; raises as ``decode`` does, for the whole body."""
    if not headers or headers.get(BATCH_HEADER) is None:
        return [decode(type_name, body)]
    cls = MESSAGE_TYPES.get(type_name or "")
    if cls is None:
        raise UnknownMessageTypeError(f"unknown message type {type_name!r}")
    messages = _list_of(cls).validate_json(body)
    if len(messages) != headers[BATCH_HEADER]:
        raise ValueError(f"the batch announces {headers[BATCH_HEADER]} messages and holds {len(messages)}")
    return messages


@cache
def _list_of(cls: type[Message]) -> TypeAdapter[list[Message]]:
    return TypeAdapter(list[cls])  # type: ignore[valid-type]


def routing_key_of(message: Message) -> str:
    if isinstance(message, JobPhaseChanged):
        return message.routing_key_for()
    return message.routing_key
