"""The envelope every bus message shares: identity, time, schema version, routing key.

Depends on pydantic and uuid_utils (time-ordered message ids) only.
"""

from datetime import UTC, datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from uuid_utils.compat import uuid7


def new_id() -> UUID:
    """A time-ordered identifier (UUIDv7): sorts by creation, and tells when it was made."""
    return uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are refused."""


class Message(BaseModel):
    """Base of every message on the bus.

    Subclasses set ``routing_key`` (where the message goes) and ``schema_version`` (bumped, with a new
    snapshot in ``schemas/``, on any change a consumer could notice).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    routing_key: ClassVar[str]
    schema_version: ClassVar[int] = 1
    persistent: ClassVar[bool] = True
    """False for hints whose loss a later poll or resync repairs: the broker keeps them in memory only."""
    mandatory: ClassVar[bool] = True
    """False for notifications that may have no subscriber at all: the broker drops one that no queue is bound to
    instead of refusing it. A command or an event someone must act on stays mandatory, so it cannot vanish."""

    message_id: UUID = Field(default_factory=new_id, description="Unique per message; consumers dedupe on it.")
    occurred_at: UtcDatetime = Field(default_factory=utcnow, description="When the sender made the message.")

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__
