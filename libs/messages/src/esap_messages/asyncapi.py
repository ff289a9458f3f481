"""The AsyncAPI 3.0 document of the bus, generated from the message contracts and the topology.

Every exchange, routing key, queue and message schema comes from this package (``MESSAGE_TYPES``, ``Topology``);
the only facts written here are which service publishes each message type. Run ``python -m esap_messages.asyncapi``
to rewrite the committed ``libs/messages/asyncapi.json``; a test regenerates it and fails on any difference.
Depends on pydantic and this package only; no I/O beyond writing that file.
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from esap_messages.base import Message
from esap_messages.events import JobPhaseChanged
from esap_messages.model import Phase
from esap_messages.registry import BATCH_HEADER, MESSAGE_TYPES
from esap_messages.topology import ATTEMPT_HEADER, MAX_ATTEMPTS, QueueSpec, Topology

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "asyncapi.json"
AMQP_BINDING_VERSION = "0.3.0"

PUBLISHERS: dict[str, tuple[str, ...]] = {
    "CreateJob": ("gateway",),
    "CreateCampaign": ("gateway",),
    "RunJob": ("gateway",),
    "AbortJob": ("gateway",),
    "UpdateJob": ("gateway",),
    "DeleteJob": ("gateway",),
    "JobReported": ("gateway",),
    "SubmitJob": ("catalog",),
    "KillJob": ("catalog",),
    "JobPhaseChanged": ("catalog",),
    "CommandSettled": ("catalog",),
    "JobSubmitted": ("submitter",),
    "JobSubmissionFailed": ("submitter",),
    "JobKillFailed": ("submitter",),
    "JobStatusObserved": ("monitor", "submitter"),
}
"""Which services publish each message type (the contracts say what a message is, not who sends it)."""


class MissingPublisherError(ValueError):
    """A message type has no entry in PUBLISHERS: say who sends it before it goes on the bus."""


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


def _address(cls: type[Message]) -> str:
    return f"{cls.routing_key}.{{phase}}" if cls is JobPhaseChanged else cls.routing_key


def _sample_keys(cls: type[Message]) -> list[str]:
    return [f"{cls.routing_key}.{p.value}" for p in Phase] if cls is JobPhaseChanged else [cls.routing_key]


def _channel_id(cls: type[Message]) -> str:
    return _address(cls).replace("{phase}", "phase").replace(".", "-")


def receivers(spec: QueueSpec) -> list[type[Message]]:
    """The message types that the queue's bindings route into it, in registry order."""
    return bound_by(spec.bindings)


def bound_by(bindings: tuple[str, ...]) -> list[type[Message]]:
    return [cls for cls in MESSAGE_TYPES.values()
            if any(topic_matches(b, key) for b in bindings for key in _sample_keys(cls))]


def _first_line(cls: type[Message]) -> str:
    return (cls.__doc__ or cls.type_name()).strip().splitlines()[0]


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "schema_version": {"type": "integer", "description": "The message type's schema version."},
            ATTEMPT_HEADER: {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS,
                             "description": "Delivery attempt; set when a message goes through a retry queue."},
            BATCH_HEADER: {"type": "integer", "minimum": 2,
                           "description": "Set when the body is a JSON array of this many messages of the type."},
        },
        "required": ["schema_version"],
    }


def _message(cls: type[Message]) -> dict[str, Any]:
    name = cls.type_name()
    return {
        "name": name,
        "title": name,
        "summary": _first_line(cls),
        "description": " ".join((cls.__doc__ or "").split()),
        "contentType": "application/json",
        "headers": _headers_schema(),
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {"amqp": {"messageType": name, "bindingVersion": AMQP_BINDING_VERSION}},
        "x-schema-version": cls.schema_version,
    }


def _exchange(topology: Topology) -> dict[str, Any]:
    return {"name": topology.exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def _key_channel(cls: type[Message], topology: Topology) -> dict[str, Any]:
    name = cls.type_name()
    channel: dict[str, Any] = {
        "address": _address(cls),
        "title": f"Routing key of {name}",
        "description": f"Messages published to the topic exchange `{topology.exchange}` with this routing key.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {"amqp": {"is": "routingKey", "exchange": _exchange(topology),
                              "bindingVersion": AMQP_BINDING_VERSION}},
    }
    if cls is JobPhaseChanged:
        channel["parameters"] = {"phase": {"enum": [p.value for p in Phase], "description": "The new UWS phase."}}
    return channel


def _queue_channel(spec: QueueSpec) -> dict[str, Any]:
    bound = ", ".join(f"`{b}`" for b in spec.bindings)
    return {
        "address": spec.name,
        "title": f"Queue {spec.name}",
        "description": (
            f"Durable queue bound to {bound}. A message that cannot be handled yet goes to `{spec.retry}` and "
            f"returns after a backoff (header `{ATTEMPT_HEADER}`, at most {MAX_ATTEMPTS} attempts); one that "
            f"cannot be handled at all is dead-lettered to `{spec.dead}`."
        ),
        "messages": {c.type_name(): {"$ref": f"#/components/messages/{c.type_name()}"} for c in receivers(spec)},
        "bindings": {"amqp": {"is": "queue", "bindingVersion": AMQP_BINDING_VERSION,
                              "queue": {"name": spec.name, "durable": True, "exclusive": False,
                                        "autoDelete": False, "vhost": "/"}}},
    }


def _gateway_channel(topology: Topology) -> dict[str, Any]:
    bound = ", ".join(f"`{b}`" for b in topology.gateway_subscription)
    return {
        "address": None,
        "title": "Each gateway's subscription",
        "description": (
            f"An exclusive, auto-delete queue each gateway declares for itself (the broker names it), bound to "
            f"{bound} and consumed without acknowledgements: phase changes wake the requests waiting on a job "
            f"(UWS WAIT), settlements answer the requests that sent a command. No part of the durable topology: "
            f"a message missed costs a waiting request time, never state."
        ),
        "messages": {c.type_name(): {"$ref": f"#/components/messages/{c.type_name()}"}
                     for c in bound_by(topology.gateway_subscription)},
        "bindings": {"amqp": {"is": "queue", "bindingVersion": AMQP_BINDING_VERSION,
                              "queue": {"durable": False, "exclusive": True, "autoDelete": True, "vhost": "/"}}},
    }


def _consumer(spec: QueueSpec) -> str:
    return spec.name.rsplit(".", 1)[-1]


def _delivery(cls: type[Message]) -> str:
    kept = "persistent" if cls.persistent else "transient (kept in memory only)"
    return kept if cls.mandatory else f"{kept}, not mandatory (dropped when no queue is bound to its key)"


def _operations(topology: Topology) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for name, cls in MESSAGE_TYPES.items():
        publishers = PUBLISHERS.get(name)
        if not publishers:
            raise MissingPublisherError(f"{name} has no publisher in esap_messages.asyncapi.PUBLISHERS")
        channel = _channel_id(cls)
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"Publish {name}",
            "summary": f"Published by the {' and the '.join(publishers)}, {_delivery(cls)}, with publisher confirms.",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
            "tags": [{"name": p} for p in publishers],
            "bindings": {"amqp": {"deliveryMode": 2 if cls.persistent else 1, "mandatory": cls.mandatory,
                                  "bindingVersion": AMQP_BINDING_VERSION}},
        }
    for spec in topology.queues():
        consumer = _consumer(spec)
        channel = f"queue-{consumer}"
        operations[f"consume{consumer.capitalize()}Queue"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"The {consumer} consumes {spec.name}",
            "summary": "Acked only once the handler's effect is durable; handlers are idempotent.",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{c.type_name()}"} for c in receivers(spec)],
            "tags": [{"name": consumer}],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    operations["consumeGatewaySubscription"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/queue-gateway"},
        "title": "Each gateway consumes its own subscription",
        "summary": "Without acknowledgements: hints that wake waiting requests.",
        "messages": [{"$ref": f"#/channels/queue-gateway/messages/{c.type_name()}"}
                     for c in bound_by(topology.gateway_subscription)],
        "tags": [{"name": "gateway"}],
        "bindings": {"amqp": {"ack": False, "bindingVersion": AMQP_BINDING_VERSION}},
    }
    return operations


def _schemas() -> dict[str, Any]:
    pairs = [(cls, "serialization") for cls in MESSAGE_TYPES.values()]
    _, definitions = models_json_schema(pairs, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return dict(sorted(schemas.items()))


def document(topology: Topology | None = None) -> dict[str, Any]:
    """The whole AsyncAPI document for a bus namespace (the default one unless given)."""
    topology = topology or Topology()
    channels: dict[str, Any] = {_channel_id(cls): _key_channel(cls, topology) for cls in MESSAGE_TYPES.values()}
    channels.update({f"queue-{_consumer(spec)}": _queue_channel(spec) for spec in topology.queues()})
    channels["queue-gateway"] = _gateway_channel(topology)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "esap-batch bus",
            "version": version("esap-messages"),
            "description": (
                f"Commands and events between the esap-batch services over one durable topic exchange "
                f"(`{topology.exchange}`; every exchange and queue name starts with the deployment's bus "
                f"namespace, `{topology.namespace}` by default). Bodies are JSON; the AMQP `type` property names "
                f"the message type, `message_id` repeats the body's message_id, and messages are persistent "
                f"(hints, JobReported, JobPhaseChanged and CommandSettled, are not). Messages of one type and routing "
                f"key published together may share one AMQP message: its body is then a JSON array of them and the "
                f"`{BATCH_HEADER}` header holds their count. "
                f"Generated from libs/messages: do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0-9-1",
                         "description": "The deployment's RabbitMQ (ESAP_AMQP_URL)."},
        },
        "channels": channels,
        "operations": _operations(topology),
        "components": {
            "messages": {name: _message(cls) for name, cls in MESSAGE_TYPES.items()},
            "schemas": _schemas(),
        },
    }


def render(topology: Topology | None = None) -> str:
    return json.dumps(document(topology), indent=2) + "\n"


def write(path: Path = DOCUMENT_PATH) -> Path:
    path.write_text(render())
    return path


if __name__ == "__main__":
    sys.stdout.write(f"{write()}\n")
