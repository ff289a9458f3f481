"""Quotas and fair share: which QUEUED jobs are handed to their backend now, and which are held in esap-batch.

A job is active while its backend holds it: QUEUED and handed over (not held), or EXECUTING; a campaign's parent
(never submitted) never counts. An owner may have ``quota`` active jobs at once, a facility ``max_parallel``.
``admit`` goes over the jobs a batch queued (each with its SubmitJob in the outbox): one goes at once when its owner
is under quota, its facility has a free slot and nobody waits on that facility (the fast path, as before quotas);
any other is held (its SubmitJob dropped, its reason kept on the job for its jobInfo). ``choose`` picks which held
jobs to release into the room there is: per facility, one job at a time to the owner with the fewest active jobs
on it (ties: the oldest waiting job), each owner's jobs oldest first, never beyond the owner's quota.
``released`` hands a held job over: a fresh callback token and its SubmitJob, as ``transitions.queued`` does.
No I/O; the counts come from storage through ``Room``. Depends on esap_messages and the domain only.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from esap_catalog.domain.batch import BatchOutcome
from esap_catalog.domain.model import Decision, Job
from esap_catalog.domain.transitions import Env, failed, submit_message, token_hash
from esap_messages import BACKEND_PHASES, Phase, SubmitJob

DEFAULT_QUOTA = 1000
"""An owner's active jobs at most, unless the settings say otherwise (``quota_active_jobs``)."""

QUOTA_REASON = "waiting for quota"
FACILITY_REASON = "waiting for a slot on"
SOURCE_DISPATCHER = "catalog"


def owner_key(owner: str | None) -> str:
    """Anonymous jobs are one owner, ''."""
    return owner or ""


def is_active(job: Job) -> bool:
    """In its backend's hands: QUEUED and not held, or EXECUTING; never a campaign's parent."""
    return job.phase in BACKEND_PHASES and job.held is None and not job.children


@dataclass
class Room:
    """What is active now (as storage counted it, then as this transaction changes it), and the limits.

    ``by_facility`` and ``by_owner`` are complete for the facilities and owners counted; ``by_pair`` holds an
    owner's active jobs on a facility. ``waiting`` names the facilities where a job is held: a new job there
    does not overtake them (it is held too, and ``choose`` decides)."""

    quota: int
    limits: Mapping[str, int]
    by_owner: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_facility: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_pair: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    waiting: set[str] = field(default_factory=set)
    waiting_owners: set[str] = field(default_factory=set)
    prefetch: int = 0
    """Jobs handed to a facility beyond its slots (at most as many as it has) while it is one owner's alone (nobody
    else active or waiting there): they wait in the backend's own queue, so that a slot that frees is taken at once
    instead of after a round trip through the catalog. An owner arriving then finds at most these ahead of it."""

    @classmethod
    def counted(cls, quota: int, limits: Mapping[str, int], pairs: Iterable[tuple[str, str, int]],
                waiting: Iterable[str] = (), waiting_owners: Iterable[str] = (), prefetch: int = 0) -> "Room":
        room = cls(quota, limits, waiting=set(waiting), waiting_owners=set(waiting_owners), prefetch=prefetch)
        for facility, owner, n in pairs:
            room.add(facility, owner, n)
        return room

    def add(self, facility: str, owner: str, n: int = 1) -> None:
        self.by_owner[owner] += n
        self.by_facility[facility] += n
        self.by_pair[facility, owner] += n

    def owner_room(self, owner: str) -> int:
        return self.quota - self.by_owner[owner]

    def facility_room(self, facility: str, owner: str | None = None) -> int:
        """Free slots on ``facility``; for ``owner``, with the prefetch while the facility is theirs alone."""
        limit = self.limits.get(facility, 0)
        if limit <= 0:
            return 1 << 30
        if owner is not None and self.prefetch and self.alone(facility, owner):
            limit += min(self.prefetch, limit)
        return limit - self.by_facility[facility]

    def alone(self, facility: str, owner: str) -> bool:
        """Nobody but ``owner`` active or waiting on ``facility``."""
        return facility not in self.waiting and all(
            n <= 0 for (f, o), n in self.by_pair.items() if f == facility and o != owner)

    def reason(self, facility: str, owner: str) -> str:
        if self.owner_room(owner) <= 0:
            return f"{QUOTA_REASON}: {self.by_owner[owner]} of {self.quota} active"
        return (f"{FACILITY_REASON} {facility}: {self.by_facility[facility]} of {self.limits.get(facility, 0)} "
                "in use")


def freed(before: Mapping[UUID, Job], outcome: BatchOutcome) -> list[Job]:
    """The jobs that were active before the batch and are no longer (ended, aborted, deleted): their room frees."""
    gone = []
    for job_id, job in before.items():
        if not is_active(job):
            continue
        after = outcome.updated.get(job_id)
        if job_id in outcome.deleted or (after is not None and not is_active(after)):
            gone.append(job)
    return gone


def candidates(before: Mapping[UUID, Job], outcome: BatchOutcome) -> list[Job]:
    """The jobs this batch queued for a first submission (a retry keeps the slot its attempt had), in the batch's
    order: each has its SubmitJob in the outbox."""
    queued = []
    for message in outcome.outbox:
        if not isinstance(message, SubmitJob):
            continue
        earlier = before.get(message.job_id)
        if earlier is not None and is_active(earlier):
            continue  # a retry
        job = outcome.created.get(message.job_id) or outcome.updated.get(message.job_id)
        if job is not None and job.phase is Phase.QUEUED and job.abort_requested_at is None:
            queued.append(job)
    return queued


def admit(outcome: BatchOutcome, queued: Sequence[Job], room: Room) -> tuple[list[Job], list[Job]]:
    """Hand each queued job over now or hold it; changes ``outcome`` (held jobs lose their SubmitJob) and ``room``.
    Returns the jobs sent and the jobs held."""
    sent: list[Job] = []
    held: list[Job] = []
    for job in queued:
        owner = owner_key(job.owner)
        if (job.facility not in room.waiting and room.owner_room(owner) > 0
                and room.facility_room(job.facility, owner) > 0):
            room.add(job.facility, owner)
            sent.append(job)
            continue
        waiting = replace(job, held=room.reason(job.facility, owner), callback_token_hash=None)
        room.waiting.add(job.facility)
        room.waiting_owners.add(owner)
        if job.job_id in outcome.created:
            outcome.created[job.job_id] = waiting
        else:
            outcome.updated[job.job_id] = waiting
        held.append(waiting)
    if held:
        ids = {job.job_id for job in held}
        outcome.outbox = [m for m in outcome.outbox if not (isinstance(m, SubmitJob) and m.job_id in ids)]
    return sent, held


@dataclass(frozen=True)
class HeldJob:
    """A held job as the dispatcher chooses among them."""

    job_id: UUID
    owner: str
    facility: str
    creation_time: datetime


def choose(held: Iterable[HeldJob], room: Room) -> list[HeldJob]:
    """The held jobs to hand over now, in the order chosen; ``room`` counts them as active."""
    queues: dict[str, dict[str, list[HeldJob]]] = defaultdict(lambda: defaultdict(list))
    for job in sorted(held, key=lambda j: (j.creation_time, j.job_id)):
        queues[job.facility][job.owner].append(job)
    chosen: list[HeldJob] = []
    for facility in sorted(queues):
        owners = queues[facility]
        lone = next(iter(owners)) if len(owners) == 1 else None  # may have jobs prefetched (Room.prefetch)
        while room.facility_room(facility, lone) > 0:
            ready = [o for o, jobs in owners.items() if jobs and room.owner_room(o) > 0]
            if not ready:
                break
            owner = min(ready, key=lambda o: (room.by_pair[facility, o], owners[o][0].creation_time, o))
            job = owners[owner].pop(0)
            room.add(facility, owner)
            chosen.append(job)
    return chosen


def released(job: Job, env: Env) -> Decision:
    """A held job handed to its backend: a fresh callback token and its SubmitJob (its phase stays QUEUED)."""
    workflow = env.workflows.get(job.workflow)
    if workflow is None:
        return failed(replace(job, held=None), env, f"workflow {job.workflow!r} is no longer in the catalogue",
                      source=SOURCE_DISPATCHER, at=env.now)
    token = env.new_token()
    new = replace(job, held=None, callback_token_hash=token_hash(token), updated_at=env.now)
    return Decision(new, changed=True, outbox=(submit_message(new, workflow, token),))
