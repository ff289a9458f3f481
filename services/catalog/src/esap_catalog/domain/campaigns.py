"""Campaigns: a parent job whose phase sums up its children's, and the commands a parent passes on to them.

A CreateCampaign makes the parent and one ``CreateChild`` per child: the child's id is derived from the parent's
id and the child's index, so a replayed campaign finds every child made and makes none twice. RunJob, AbortJob,
DeleteJob and UpdateJob sent to a parent reach each child as the same command (``fan_out``), applied by the state
machine as if the owner had sent it; the parent itself only records an abort. The parent's phase is never set by a
command: after every batch that changed a child, ``summarize`` reads the children's phase counts and moves the
parent (PENDING until run, QUEUED while no child has started, EXECUTING while any is active, then COMPLETED,
ERROR or ABORTED once all have ended).
No I/O. Depends on esap_messages and the domain model only.
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar
from uuid import UUID, uuid5

from esap_catalog.domain.model import Decision, ErrorSummary, Job
from esap_catalog.domain.transitions import Env, move, moved
from esap_messages import (
    FINAL_PHASES,
    AbortJob,
    CreateCampaign,
    CreateJob,
    DeleteJob,
    ErrorType,
    Message,
    Phase,
    RunJob,
    UpdateJob,
)

SOURCE_CHILDREN = "children"


class CreateChild(CreateJob):
    """The catalog's own command, never on the bus: make one child of a campaign."""

    routing_key: ClassVar[str] = "catalog.create_child"

    parent_id: UUID
    swept: dict[str, str]


PARENT_COMMANDS = (RunJob, AbortJob, DeleteJob, UpdateJob)
"""The commands a parent passes on to every child."""


def child_id(parent_id: UUID, index: int) -> UUID:
    """The id of a campaign's child: the same for the same campaign and index, whoever computes it."""
    return uuid5(parent_id, str(index))


def children_of(m: CreateCampaign) -> list[CreateChild]:
    """One CreateChild per child, in order; built without validation (the campaign was validated whole)."""
    common = dict(m.parameters)
    return [
        CreateChild.model_construct(
            message_id=uuid5(m.message_id, str(index)), job_id=child_id(m.job_id, index),
            occurred_at=m.occurred_at + timedelta(microseconds=index),  # creation order is sweep order
            owner=m.owner, workflow=m.workflow, facility=m.facility, parameters={**common, **values},
            run_id=m.run_id, execution_duration=m.execution_duration, destruction=m.destruction, run=m.run,
            quote=m.quote, parent_id=m.job_id, swept=dict(values),
        )
        for index, values in enumerate(m.children)
    ]


def fan_out(m: Message, children: list[UUID]) -> list[Message]:
    """The command ``m``, sent to a parent, as each child receives it. A parent's parameters are its children's
    common ones and are not changed through it: an UpdateJob passes on its execution duration and destruction."""
    if isinstance(m, UpdateJob):
        return [UpdateJob.model_construct(message_id=uuid5(m.message_id, str(c)), occurred_at=m.occurred_at,
                                          job_id=c, owner=m.owner, parameters=None,
                                          execution_duration=m.execution_duration, destruction=m.destruction)
                for c in children]
    if isinstance(m, PARENT_COMMANDS):
        return [m.model_copy(update={"job_id": c, "message_id": uuid5(m.message_id, str(c))}) for c in children]
    return []


def summary_phase(parent: Job, counts: Mapping[Phase, int]) -> Phase:
    """The phase a parent shows, from how many of its children are in each phase."""
    total = sum(counts.values())
    ended = sum(n for phase, n in counts.items() if phase in FINAL_PHASES)
    if total == 0:
        return parent.phase
    if ended == total:
        if counts.get(Phase.COMPLETED, 0) == total:
            return Phase.COMPLETED
        if parent.abort_requested_at is not None:
            return Phase.ABORTED
        if counts.get(Phase.ERROR, 0):
            return Phase.ERROR
        if counts.get(Phase.ARCHIVED, 0) == total:
            return Phase.ARCHIVED
        return Phase.ABORTED
    if counts.get(Phase.PENDING, 0) == total:
        return Phase.PENDING
    started = ended + sum(n for phase, n in counts.items() if phase not in FINAL_PHASES
                          and phase not in (Phase.PENDING, Phase.QUEUED))
    return Phase.EXECUTING if started else Phase.QUEUED


def summarized(parent: Job, counts: Mapping[Phase, int], env: Env) -> Decision:
    """The parent moved to the phase its children's counts give, or unchanged. An ended parent stays as it ended
    (its children have all ended too)."""
    if parent.phase in FINAL_PHASES:
        return Decision(parent, ignored="final")
    to = summary_phase(parent, counts)
    if to is parent.phase or (to is Phase.QUEUED and parent.phase is Phase.EXECUTING):
        return Decision(parent, ignored="stale")  # a child retried is queued again; the campaign ran on
    detail = ", ".join(f"{n} {phase.value}" for phase, n in sorted(counts.items()) if n)
    start = parent.start_time or env.now
    if to in FINAL_PHASES and to is not Phase.ABORTED and parent.phase is not Phase.EXECUTING:
        # Its children ran and ended between two looks: EXECUTING goes into its history first, as a single job's.
        running, entry, event = move(parent, Phase.EXECUTING, env, source=SOURCE_CHILDREN, detail=detail,
                                     start_time=start)
        final = summarized(running, counts, env)
        return replace(final, history=(entry, *final.history), outbox=(event, *final.outbox))
    changes: dict[str, Any] = {}
    if to is not Phase.PENDING and to is not Phase.QUEUED:
        changes["start_time"] = start
    if to in FINAL_PHASES:
        changes["end_time"] = env.now
    if to is Phase.ERROR:
        failed = counts.get(Phase.ERROR, 0)
        changes["error"] = ErrorSummary(ErrorType.FATAL, f"{failed} of {sum(counts.values())} children failed")
    return moved(parent, to, env, source=SOURCE_CHILDREN, detail=detail, **changes)
