"""A batch of messages folded over the state machine, in order, into what the transaction must write.

Several messages for one job in one batch see each other's effects (a CreateJob then its AbortJob). A job made
in this batch is inserted once, in its final state; an existing job is updated once. The backend's history an
observation carries is kept for any job that exists, even when the observation changes nothing else (a late
or repeated one): it is the backend's record, stored once per entry whatever the job's phase.
No I/O. Depends on esap_messages and the domain only.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from esap_catalog.domain.campaigns import children_of, fan_out
from esap_catalog.domain.model import Decision, Job, PhaseChange
from esap_catalog.domain.state_machine import Env, apply
from esap_messages import (
    AbortJob,
    BackendHistoryEntry,
    CommandRefusal,
    CommandSettled,
    CreateCampaign,
    CreateJob,
    DeleteJob,
    JobStatusObserved,
    Message,
    ResultFile,
    RunJob,
    UpdateJob,
)

CLIENT_COMMANDS = (CreateJob, RunJob, AbortJob, UpdateJob, DeleteJob)  # CreateCampaign is a CreateJob
"""The commands a client's request makes: each is answered with a CommandSettled once settled."""


@dataclass(frozen=True)
class Ignored:
    message: Message
    reason: str


@dataclass
class BatchOutcome:
    created: dict[UUID, Job] = field(default_factory=dict)
    updated: dict[UUID, Job] = field(default_factory=dict)
    history: list[PhaseChange] = field(default_factory=list)
    results: dict[UUID, tuple[ResultFile, ...]] = field(default_factory=dict)
    outbox: list[Message] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    deleted: set[UUID] = field(default_factory=set)
    backend_history: dict[UUID, list[BackendHistoryEntry]] = field(default_factory=dict)
    noticed: int = 0
    """Notifications written for jobs this batch ended (set by ingest)."""
    settled: list[CommandSettled] = field(default_factory=list)
    """The answer to each client command of the batch, for the gateway waiting on it (published after the
    commit, not through the outbox: a hint)."""

    @property
    def changed_ids(self) -> list[UUID]:
        return [*self.created, *self.updated, *self.deleted]

    def drop(self, job_id: UUID) -> None:
        """The job goes: nothing else of it is written; a job made in this batch is never stored."""
        if self.created.pop(job_id, None) is None:
            self.deleted.add(job_id)
        self.updated.pop(job_id, None)
        self.results.pop(job_id, None)
        self.backend_history.pop(job_id, None)
        self.history = [entry for entry in self.history if entry.job_id != job_id]


def job_id_of(message: Message) -> UUID | None:
    """Every message the catalog consumes names one job."""
    job_id = getattr(message, "job_id", None)
    return job_id if isinstance(job_id, UUID) else None


_REFUSALS = {refusal.value: refusal for refusal in CommandRefusal}


def settlement(message: Message, job_id: UUID, reason: str | None, job: Job | None) -> CommandSettled:
    """The answer to a client's command: applied (a duplicate was applied before), or refused and why."""
    refusal = None if reason in (None, "duplicate") else _REFUSALS.get(reason, CommandRefusal.NOT_APPLICABLE)
    return CommandSettled(command_id=message.message_id, command=message.type_name(), job_id=job_id,
                          applied=refusal is None, refusal=refusal, phase=None if job is None else job.phase)


def decide(messages: Iterable[Message], jobs: Mapping[UUID, Job], env: Env,
           children: Mapping[UUID, Sequence[UUID]] | None = None) -> BatchOutcome:
    """``children`` holds the children's ids of every campaign a command of the batch names (their jobs are in
    ``jobs``): a command its parent applied is applied to each of them too."""
    outcome = BatchOutcome()
    current = dict(jobs)
    commands: list[tuple[Message, UUID, str | None]] = []
    for message in messages:
        job_id = job_id_of(message)
        if job_id is None:
            outcome.ignored.append(Ignored(message, "not_applicable"))
            continue
        decision = _apply(outcome, current, job_id, message, env)
        if isinstance(message, CLIENT_COMMANDS):
            commands.append((message, job_id, decision.ignored))
        if decision.ignored is not None:
            continue
        if isinstance(message, CreateCampaign):
            passed_on: Sequence[Message] = children_of(message)
        elif children and job_id in children:
            passed_on = fan_out(message, list(children[job_id]))
        else:
            continue
        for child in passed_on:
            _apply(outcome, current, job_id_of(child) or job_id, child, env)
    outcome.settled = [settlement(message, job_id, reason, current.get(job_id))
                       for message, job_id, reason in commands]
    return outcome


def _apply(outcome: BatchOutcome, current: dict[UUID, Job], job_id: UUID, message: Message, env: Env) -> Decision:
    """One message applied to the batch's current state of its job, and its effects added to the outcome."""
    decision = apply(current.get(job_id), message, env)
    if isinstance(message, JobStatusObserved) and message.history and decision.job is not None:
        outcome.backend_history.setdefault(job_id, []).extend(message.history)
    if decision.ignored is not None:
        outcome.ignored.append(Ignored(message, decision.ignored))
    if decision.job is None or not decision.changed:
        outcome.outbox.extend(decision.outbox)
        return decision
    if decision.deleted:
        current.pop(job_id, None)
        outcome.drop(job_id)
        outcome.outbox.extend(decision.outbox)
        return decision
    current[job_id] = decision.job
    if decision.created or job_id in outcome.created:
        outcome.created[job_id] = decision.job
    else:
        outcome.updated[job_id] = decision.job
    outcome.history.extend(decision.history)
    outcome.outbox.extend(decision.outbox)
    if decision.results is not None:
        outcome.results[job_id] = decision.results
    return decision
