"""The AsyncAPI document generator: the committed document is the generated one, every message and queue is in
it, each queue receives exactly what its bindings route to it, and every reference inside it resolves."""

import json
from typing import Any

import pytest

from esap_messages import MESSAGE_TYPES, Topology
from esap_messages.asyncapi import (
    DOCUMENT_PATH,
    PUBLISHERS,
    MissingPublisherError,
    document,
    receivers,
    render,
    topic_matches,
)


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT_PATH.read_text() == render(), "run `python -m esap_messages.asyncapi` and commit asyncapi.json"


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("job.submitted", "job.submitted", True),
    ("job.phase_changed.*", "job.phase_changed.COMPLETED", True),
    ("job.phase_changed.*", "job.phase_changed", False),
    ("job.*", "job.phase_changed.COMPLETED", False),
    ("job.#", "job.phase_changed.COMPLETED", True),
    ("#", "catalog.create_job", True),
    ("catalog.#.job", "catalog.create_job", False),
])
def test_topic_matching_follows_amqp(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_each_queue_receives_what_its_bindings_route_to_it() -> None:
    topology = Topology()
    names = {spec.name: [c.type_name() for c in receivers(spec)] for spec in topology.queues()}

    assert names == {
        "esap.catalog": ["CreateJob", "CreateCampaign", "RunJob", "AbortJob", "UpdateJob", "DeleteJob", "JobSubmitted",
                         "JobSubmissionFailed", "JobStatusObserved", "JobKillFailed", "JobReported"],
        "esap.submitter": ["SubmitJob", "KillJob"],
        "esap.monitor": ["JobSubmitted", "JobReported", "JobPhaseChanged"],
    }


def test_every_message_type_is_published_received_and_described() -> None:
    doc = document()
    received = {ref.rsplit("/", 1)[-1] for op in doc["operations"].values() if op["action"] == "receive"
                for ref in (m["$ref"] for m in op["messages"])}

    assert set(PUBLISHERS) == set(MESSAGE_TYPES)
    assert set(doc["components"]["messages"]) == set(MESSAGE_TYPES) == received
    assert {f"publish{name}" for name in MESSAGE_TYPES} <= set(doc["operations"])
    for name, cls in MESSAGE_TYPES.items():
        assert doc["components"]["schemas"][name]["additionalProperties"] is False
        assert doc["components"]["messages"][name]["x-schema-version"] == cls.schema_version


def test_every_reference_resolves() -> None:
    doc = json.loads(render())
    refs = _refs(doc)

    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        _pointer(doc, ref)


def test_the_namespace_names_the_exchange_and_the_queues() -> None:
    doc = document(Topology("prod"))

    assert doc["channels"]["job-submitted"]["bindings"]["amqp"]["exchange"]["name"] == "prod"
    assert doc["channels"]["queue-catalog"]["address"] == "prod.catalog"


def test_a_message_type_without_a_publisher_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(PUBLISHERS, "KillJob")

    with pytest.raises(MissingPublisherError, match="KillJob"):
        document()
