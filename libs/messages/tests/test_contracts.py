"""Contract tests: the committed JSON Schema snapshots must match the models.

A change to any message schema fails here until the snapshot is regenerated
(`make schemas`) and, if the change is breaking, the message's schema_version is bumped.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import ValidationError

from esap_messages import (
    FINAL_PHASES,
    MESSAGE_TYPES,
    CreateJob,
    DiracStatus,
    JobPhaseChanged,
    JobStatusObserved,
    Phase,
    StatusSource,
    SubmitJob,
    Topology,
    WorkflowRun,
    decode,
    encode,
)
from esap_messages.asyncapi import topic_matches
from esap_messages.schemas import SNAPSHOT_DIR, snapshot

JOB = UUID("01900000-0000-7000-8000-000000000001")


@pytest.mark.parametrize("name", sorted(MESSAGE_TYPES))
def test_schema_matches_committed_snapshot(name: str) -> None:
    path = SNAPSHOT_DIR / f"{name}.json"
    assert path.exists(), f"no snapshot for {name}: run `make schemas` and commit it"
    committed = json.loads(path.read_text())
    assert snapshot(MESSAGE_TYPES[name]) == committed, (
        f"{name} changed without its snapshot: run `make schemas`, bump schema_version if consumers break"
    )


def test_every_snapshot_has_a_message() -> None:
    names = {p.stem for p in Path(SNAPSHOT_DIR).glob("*.json")}
    assert names == set(MESSAGE_TYPES)


def test_round_trip_keeps_every_field() -> None:
    msg = JobStatusObserved(
        job_id=JOB,
        source=StatusSource.MONITOR,
        status=DiracStatus.DONE,
        observed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    )
    back = decode("JobStatusObserved", encode(msg))
    assert back == msg
    assert back.observed_at.utcoffset() == timedelta(0)
    assert back.observed_at.hour == 1


def test_secret_travels_but_is_not_printed() -> None:
    msg = SubmitJob(
        job_id=JOB,
        facility="local",
        backend="local",
        workflow=WorkflowRun(slug="noop", command=("true",)),
        parameters={},
        execution_duration=0,
        callback_token="s3cret",  # type: ignore[arg-type]
    )
    assert "s3cret" not in repr(msg)
    assert decode("SubmitJob", encode(msg)).callback_token.get_secret_value() == "s3cret"


def test_unknown_fields_and_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError):
        CreateJob.model_validate({"job_id": str(JOB), "workflow": "w", "facility": "f", "colour": "red"})
    with pytest.raises(ValidationError):
        JobStatusObserved(
            job_id=JOB, source=StatusSource.MONITOR, status=DiracStatus.DONE, observed_at=datetime(2026, 1, 1)
        )


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown message type"):
        decode("LaunchRocket", b"{}")


def test_messages_are_frozen() -> None:
    msg = CreateJob(job_id=JOB, workflow="w", facility="f")
    with pytest.raises(ValidationError):
        msg.workflow = "x"  # type: ignore[misc]


def test_job_changed_routes_by_phase() -> None:
    msg = JobPhaseChanged(
        job_id=JOB, owner=None, workflow="w", facility="f", backend="local",
        phase=Phase.QUEUED, previous_phase=Phase.PENDING, changed_at=datetime.now(UTC),
    )
    assert msg.routing_key_for() == "job.phase_changed.QUEUED"


def test_every_message_reaches_its_consumers() -> None:
    topology = Topology(namespace="t")
    keys = [cls.routing_key for cls in MESSAGE_TYPES.values() if cls is not JobPhaseChanged]
    keys += [f"job.phase_changed.{phase.value}" for phase in Phase]
    consumers = {
        key: {q.name.removeprefix("t.") for q in topology.queues() if any(topic_matches(b, key) for b in q.bindings)}
        for key in keys
    }
    assert consumers == {
        "catalog.create_job": {"catalog"},
        "catalog.create_campaign": {"catalog"},
        "catalog.run_job": {"catalog"},
        "catalog.abort_job": {"catalog"},
        "catalog.update_job": {"catalog"},
        "catalog.delete_job": {"catalog"},
        "submitter.submit_job": {"submitter"},
        "submitter.kill_job": {"submitter"},
        "job.submitted": {"catalog", "monitor"},
        "job.submission_failed": {"catalog"},
        "job.status_observed": {"catalog"},
        "job.kill_failed": {"catalog"},
        "job.reported": {"catalog", "monitor"},
        "command.settled": set(),  # only each gateway's own subscription takes it
        # The monitor hears of a job at job.submitted and forgets it at its final phase.
        **{f"job.phase_changed.{phase.value}": {"monitor"} if phase in FINAL_PHASES else set() for phase in Phase},
    }
