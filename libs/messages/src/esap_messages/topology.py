"""The bus topology, declared once: one durable topic exchange, and per consumer a durable queue with a
retry queue (delayed redelivery) and a dead-letter queue (messages that cannot be handled).

A ``namespace`` prefixes every name, so that test runs and deployments can share a broker.
Depends on nothing but the standard library and this package's messages (whose routing keys it binds).
"""

from dataclasses import dataclass, field
from typing import Any

from esap_messages.commands import CATALOG_COMMANDS, SUBMITTER_COMMANDS
from esap_messages.events import EVENTS_INTO_CATALOG, CommandSettled, JobPhaseChanged, JobReported, JobSubmitted
from esap_messages.model import FINAL_PHASES

MAX_ATTEMPTS = 5
"""How often a message is tried before it is dead-lettered (carried in the x-esap-attempt header)."""

ATTEMPT_HEADER = "x-esap-attempt"


@dataclass(frozen=True)
class QueueSpec:
    """One consumer's queue: its bindings and the names of its retry and dead-letter queues."""

    name: str
    bindings: tuple[str, ...]
    retired: tuple[str, ...] = ()
    """Bindings an earlier version made: removed when the topology is declared, so that a broker which ran that
    version stops routing them."""
    retry: str = field(init=False)
    dead: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "retry", f"{self.name}.retry")
        object.__setattr__(self, "dead", f"{self.name}.dead")

    def arguments(self) -> dict[str, Any]:
        """Main queue: rejected messages go to the dead-letter queue."""
        return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dead}

    def retry_arguments(self) -> dict[str, Any]:
        """Retry queue: a message waits its per-message expiration, then returns to the main queue."""
        return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.name}


@dataclass(frozen=True)
class Topology:
    namespace: str = "esap"

    @property
    def exchange(self) -> str:
        return self.namespace

    @property
    def catalog(self) -> QueueSpec:
        keys = (*CATALOG_COMMANDS, *EVENTS_INTO_CATALOG)
        return QueueSpec(f"{self.namespace}.catalog", tuple(k.routing_key for k in keys))

    @property
    def submitter(self) -> QueueSpec:
        return QueueSpec(f"{self.namespace}.submitter", tuple(k.routing_key for k in SUBMITTER_COMMANDS))

    @property
    def monitor(self) -> QueueSpec:
        """The monitor starts tracking a job at JobSubmitted and stops at its final phase; the phases between
        would only repeat what the submitter and its own polls told it (two messages per job fewer)."""
        finals = tuple(f"{JobPhaseChanged.routing_key}.{phase.value}" for phase in sorted(FINAL_PHASES))
        keys = (JobSubmitted.routing_key, JobReported.routing_key, *finals)
        return QueueSpec(f"{self.namespace}.monitor", keys, retired=(f"{JobPhaseChanged.routing_key}.*",))

    def queues(self) -> tuple[QueueSpec, ...]:
        return (self.catalog, self.submitter, self.monitor)

    @property
    def gateway_subscription(self) -> tuple[str, ...]:
        """The bindings of each gateway's own subscription: an exclusive, auto-delete queue of a server-chosen
        name, no part of the durable topology (missing a message costs a waiting request time, never state): every
        phase change (WAIT) and every command's settlement (the 303 of the request that made it)."""
        return (f"{JobPhaseChanged.routing_key}.*", CommandSettled.routing_key)
