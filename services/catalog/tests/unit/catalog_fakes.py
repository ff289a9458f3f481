"""The catalog's fakes and builders, in one module: a fixed clock, numbered tokens, a small catalogue, a
unit of work in memory (FakeUnitOfWork) that behaves as storage.unit_of_work's PostgreSQL one does, so that
ingest's rules are tested without a database, and the job reads JobWaiter waits on (FakeJobs)."""

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from types import TracebackType
from typing import Self
from uuid import UUID

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition
from esap_catalog.domain.dispatch import HeldJob, is_active, owner_key
from esap_catalog.domain.model import Decision, FacilitySpec, Job, PhaseChange, WorkflowSpec
from esap_catalog.domain.notifications import Notice
from esap_catalog.domain.state_machine import Env, apply
from esap_catalog.services.seeding import parse_facility, parse_workflow
from esap_messages import (
    BackendHistoryEntry,
    CreateJob,
    DiracStatus,
    JobStatusObserved,
    Message,
    Phase,
    ResultFile,
    StatusSource,
    WorkflowRun,
    new_id,
)
from esap_messages.api import JobView

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




REPO = Path(__file__).resolve().parents[4]


@dataclass
class FakeDatabase:
    """What the catalog's tables hold, as far as ingest writes them: the committed state of the fake units of work.

    ``fail_with`` is raised when a unit of work begins (the database cannot be reached); ``break_on`` names a
    repository method that raises it instead, inside the transaction."""

    jobs: dict[UUID, Job] = field(default_factory=dict)
    inbox: set[UUID] = field(default_factory=set)
    history: list[PhaseChange] = field(default_factory=list)
    backend_history: dict[tuple[UUID, datetime, tuple[str, ...]], BackendHistoryEntry] = field(default_factory=dict)
    outbox: list[Message] = field(default_factory=list)
    results: dict[UUID, tuple[ResultFile, ...]] = field(default_factory=dict)
    tombstones: set[UUID] = field(default_factory=set)
    notified: list[UUID] = field(default_factory=list)
    notices: dict[tuple[UUID, str], Notice] = field(default_factory=dict)
    fail_with: BaseException | None = None
    break_on: str | None = None
    commits: int = 0

    def tables(self) -> dict[str, object]:
        """Everything stored, for comparing the database before and after."""
        return {name: copy.deepcopy(getattr(self, name)) for name in
                ("jobs", "inbox", "history", "backend_history", "outbox", "results", "tombstones", "notified",
                 "notices")}


class FakeJobRepository:
    """JobStore's statements on the working copy of a FakeDatabase."""

    def __init__(self, data: FakeDatabase) -> None:
        self._data = data

    def _check(self, method: str) -> None:
        if self._data.break_on == method and self._data.fail_with is not None:
            raise self._data.fail_with

    async def record_messages(self, message_ids: Sequence[UUID]) -> set[UUID]:
        self._check("record_messages")
        fresh = set(message_ids) - self._data.inbox
        self._data.inbox |= fresh
        return fresh

    async def lock(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        self._check("lock")
        return {i: self._data.jobs[i] for i in job_ids if i in self._data.jobs}

    async def lock_children(self, parent_ids: Iterable[UUID]) -> dict[UUID, Job]:
        self._check("lock_children")
        parents = set(parent_ids)
        return {i: job for i, job in self._data.jobs.items() if job.parent_id in parents}

    async def child_counts(self, parent_ids: Iterable[UUID]) -> dict[UUID, dict[Phase, int]]:
        self._check("child_counts")
        parents, counts = set(parent_ids), {}  # type: ignore[var-annotated]
        for job in self._data.jobs.values():
            if job.parent_id in parents:
                phases = counts.setdefault(job.parent_id, {})
                phases[job.phase] = phases.get(job.phase, 0) + 1
        return counts

    async def insert(self, jobs: Sequence[Job]) -> set[UUID]:
        self._check("insert")
        inserted = {j.job_id for j in jobs if j.job_id not in self._data.jobs}
        self._data.jobs.update({j.job_id: j for j in jobs if j.job_id in inserted})
        return inserted

    async def update(self, jobs: Sequence[Job]) -> None:
        self._check("update")
        self._data.jobs.update({j.job_id: j for j in jobs if j.job_id in self._data.jobs})

    async def delete(self, job_ids: Iterable[UUID]) -> None:
        self._check("delete")
        for job_id in set(job_ids):
            if self._data.jobs.pop(job_id, None) is not None:  # the foreign keys cascade
                self._data.results.pop(job_id, None)
                self._data.history = [e for e in self._data.history if e.job_id != job_id]
                self._data.backend_history = {k: e for k, e in self._data.backend_history.items()
                                              if k[0] != job_id}
                self._data.tombstones.add(job_id)

    async def record(self, history: Sequence[PhaseChange],
                     backend_history: Mapping[UUID, Sequence[BackendHistoryEntry]],
                     outbox: Sequence[Message], changed: Iterable[UUID]) -> None:
        self._check("record")
        self._data.history.extend(history)
        for job_id, entries in backend_history.items():
            for e in entries:
                key = (job_id, e.at, (e.status, e.minor_status, e.application_status, e.source))
                self._data.backend_history.setdefault(key, e)
        self._data.outbox.extend(outbox)
        self._data.notified.extend(changed)

    async def add_notices(self, notices: Sequence[Notice]) -> None:
        self._check("add_notices")
        for notice in notices:
            self._data.notices.setdefault((notice.job_id, notice.target), notice)

    async def lock_dispatch(self) -> None:
        self._check("lock_dispatch")

    async def usage(self, facilities: Iterable[str], owners: Iterable[str]
                    ) -> tuple[list[tuple[str, str, int]], set[str], set[str]]:
        self._check("usage")
        places, people = set(facilities), set(owners)
        pairs: dict[tuple[str, str], int] = {}
        for job in self._data.jobs.values():
            if is_active(job) and (job.facility in places or owner_key(job.owner) in people):
                key = (job.facility, owner_key(job.owner))
                pairs[key] = pairs.get(key, 0) + 1
        held = [job for job in self._data.jobs.values() if job.held is not None]
        return ([(f, o, n) for (f, o), n in pairs.items()], {j.facility for j in held} & places,
                {owner_key(j.owner) for j in held} & people)

    async def held(self, facilities: Iterable[str], owners: Iterable[str], per_owner: int
                   ) -> tuple[list[HeldJob], list[tuple[str, str, int]]]:
        self._check("held")
        places, people = set(facilities), set(owners)
        places |= {j.facility for j in self._data.jobs.values() if j.held is not None and owner_key(j.owner) in people}
        jobs = sorted((j for j in self._data.jobs.values() if j.held is not None and j.facility in places),
                      key=lambda j: (j.creation_time, j.job_id))
        taken: dict[tuple[str, str], int] = {}
        found = []
        for j in jobs:
            key = (j.facility, owner_key(j.owner))
            if taken.get(key, 0) < per_owner:
                taken[key] = taken.get(key, 0) + 1
                found.append(HeldJob(j.job_id, owner_key(j.owner), j.facility, j.creation_time))
        pairs, _, _ = await self.usage({h.facility for h in found}, {h.owner for h in found})
        return found, pairs

    async def lock_held(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        self._check("lock_held")
        return {i: self._data.jobs[i] for i in job_ids if i in self._data.jobs and self._data.jobs[i].held}

    async def release_held(self, jobs: Sequence[Job], outbox: Sequence[Message]) -> None:
        self._check("release_held")
        for job in jobs:
            if job.job_id in self._data.jobs:
                self._data.jobs[job.job_id] = replace(self._data.jobs[job.job_id], held=None,
                                                      callback_token_hash=job.callback_token_hash,
                                                      updated_at=job.updated_at)
                self._data.notified.append(job.job_id)
        self._data.outbox.extend(outbox)

    async def waiting_facilities(self) -> set[str]:
        self._check("waiting_facilities")
        return {j.facility for j in self._data.jobs.values() if j.held is not None}

    async def replace_results(self, results: Mapping[UUID, Sequence[ResultFile]]) -> None:
        self._check("replace_results")
        for job_id, files in results.items():
            self._data.results[job_id] = tuple({f.name: f for f in files}.values())


class FakeCatalogue:
    """The repository's own hello-world and sleep workflows and local facility."""

    def __init__(self) -> None:
        names = ("hello-world.json", "sleep.json")
        workflows = (parse_workflow(name, (REPO / "workflows" / name).read_text()) for name in names)
        self._workflows = {w.slug: w for w in workflows}
        local = parse_facility("local.json", (REPO / "facilities" / "local.json").read_text())
        self._facilities = {local.slug: local}

    async def workflows(self, slugs: Iterable[str]) -> list[WorkflowDefinition]:
        return [self._workflows[s] for s in sorted(slugs) if s in self._workflows]

    async def facilities(self, slugs: Iterable[str]) -> list[FacilityDefinition]:
        return [self._facilities[s] for s in sorted(slugs) if s in self._facilities]


class FakeUnitOfWork:
    """A transaction on a copy of the FakeDatabase: committed, the copy becomes the database; else it is dropped."""

    def __init__(self, database: FakeDatabase, catalogue: FakeCatalogue) -> None:
        self._database = database
        self._working: FakeDatabase | None = None
        self.catalogue = catalogue

    @property
    def jobs(self) -> FakeJobRepository:
        assert self._working is not None, "the unit of work is not open"
        return FakeJobRepository(self._working)

    async def __aenter__(self) -> Self:
        if self._database.fail_with is not None and self._database.break_on is None:
            raise self._database.fail_with
        self._working = copy.deepcopy(self._database)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.rollback()

    async def commit(self) -> None:
        assert self._working is not None, "the unit of work is not open, or already ended"
        for name in FakeDatabase.__dataclass_fields__:
            setattr(self._database, name, getattr(self._working, name))
        self._database.commits += 1
        self._working = None

    async def rollback(self) -> None:
        self._working = None


def fake_units(database: FakeDatabase) -> Callable[[], FakeUnitOfWork]:
    """A factory of units of work on ``database``, as IngestService takes it."""
    catalogue = FakeCatalogue()
    return lambda: FakeUnitOfWork(database, catalogue)


class FakeJobs:
    """JobWaiter's read of a job, answered from a script; ``during_read`` runs inside a read, as a commit racing
    the read would."""

    def __init__(self, answers: list[JobView | None], during_read: Callable[[int], None] = lambda _n: None) -> None:
        self.answers = answers
        self.reads = 0
        self.during_read = during_read

    async def read(self, _job_id: UUID) -> JobView | None:
        self.reads += 1
        self.during_read(self.reads)
        return self.answers[min(self.reads, len(self.answers)) - 1]
