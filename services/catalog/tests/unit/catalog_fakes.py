"""Fakes and builders shared by the state machine tests: a fixed clock, numbered tokens, a small catalogue."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import UUID

from esap_catalog.domain.model import Decision, FacilitySpec, Job, WorkflowSpec
from esap_catalog.domain.state_machine import Env, apply
from esap_messages import (
    CreateJob,
    DiracStatus,
    JobStatusObserved,
    Phase,
    StatusSource,
    WorkflowRun,
    new_id,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HELLO = WorkflowSpec("hello-world", WorkflowRun(slug="hello-world", command=("python3", "helloworld.py")),
                     {"Parameter1": "1", "Parameter2": "2"}, ("local", "dirac"))
SLEEP = WorkflowSpec("sleep", WorkflowRun(slug="sleep", command=("sleep", "{seconds}")), {"seconds": "60"},
                     ("local",))
LOCAL = FacilitySpec("local", "local", "local")
CTA = FacilitySpec("ctadirac", "diracx", "dirac")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_env() -> Env:
    tokens = count(1)
    return Env(now=at(100), new_token=lambda: f"token-{next(tokens):04d}-abcdefghijklmnop",
               workflows={"hello-world": HELLO, "sleep": SLEEP}, facilities={"local": LOCAL, "ctadirac": CTA})


def create(job_id: UUID | None = None, **fields: object) -> CreateJob:
    values: dict[str, object] = {"job_id": job_id or new_id(), "owner": "alice", "workflow": "hello-world",
                                 "facility": "local", "occurred_at": at(0)}
    values.update(fields)
    return CreateJob.model_validate(values)


def job_in(phase: Phase, env: Env, **fields: object) -> Job:
    decision = apply(None, create(run=phase is not Phase.PENDING), env)
    assert decision.job is not None
    return replace(decision.job, phase=phase, **fields)  # type: ignore[arg-type]


def observed(job: Job, status: DiracStatus, seconds: float, **fields: object) -> JobStatusObserved:
    values: dict[str, object] = {"job_id": job.job_id, "source": StatusSource.MONITOR, "status": status,
                                 "observed_at": at(seconds)}
    values.update(fields)
    return JobStatusObserved.model_validate(values)


def only(messages: tuple[object, ...], kind: type) -> list:
    return [m for m in messages if isinstance(m, kind)]


def assert_ignored(decision: Decision, reason: str) -> None:
    assert decision.ignored == reason
    assert not decision.changed and not decision.history and not decision.outbox and decision.results is None


