"""The port of ingest's transaction: a unit of work, and the repositories it hands out while it is open.

``async with uow:`` begins the transaction; ``await uow.commit()`` has it committed (by the time the block is
left: a failure to commit is raised there at the latest); leaving the block without a commit, or on an error,
rolls it back. Ingest sees only these protocols, so its rules (the inbox's dedupe, a
replayed batch, the mapping of an outage, a report that lost a race) run in memory on the fake in the tests, and
the PostgreSQL implementation (storage.unit_of_work) is tested once against the database.
The repositories mirror the statements of one batch: each call is one round trip whatever the batch size, and the
phase history, the backend history, the outbox and the notifications go together in one call (``record``).
Depends on the domain and esap_messages only.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition
from esap_catalog.domain.dispatch import HeldJob
from esap_catalog.domain.model import Job, PhaseChange
from esap_catalog.domain.notifications import Notice
from esap_messages import BackendHistoryEntry, Message, Phase, ResultFile


class JobRepository(Protocol):
    """Jobs locked by id, with the inbox, the histories and the outbox that change with them."""

    async def record_messages(self, message_ids: Sequence[UUID]) -> set[UUID]:
        """Remember the ids in the inbox; returns those not seen before."""
        ...

    async def lock(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        """The jobs that exist among ``job_ids``, locked until the transaction ends."""
        ...

    async def lock_children(self, parent_ids: Iterable[UUID]) -> dict[UUID, Job]:
        """Every child of these campaigns, locked until the transaction ends."""
        ...

    async def child_counts(self, parent_ids: Iterable[UUID]) -> dict[UUID, dict[Phase, int]]:
        """How many children each of these campaigns has in each phase, as the transaction sees them now."""
        ...

    async def insert(self, jobs: Sequence[Job]) -> set[UUID]:
        """Insert new jobs; returns the ids actually inserted (another writer may have been first)."""
        ...

    async def update(self, jobs: Sequence[Job]) -> None: ...

    async def delete(self, job_ids: Iterable[UUID]) -> None:
        """Remove jobs with their results and history, leaving a tombstone."""
        ...

    async def record(self, history: Sequence[PhaseChange],
                     backend_history: Mapping[UUID, Sequence[BackendHistoryEntry]],
                     outbox: Sequence[Message], changed: Iterable[UUID]) -> None:
        """Append the phase and backend history, add the messages to the outbox, notify the changed jobs."""
        ...

    async def replace_results(self, results: Mapping[UUID, Sequence[ResultFile]]) -> None: ...

    async def add_notices(self, notices: Sequence[Notice]) -> None:
        """Store the notifications due for jobs that ended in this batch (called only when there are some)."""
        ...

    async def lock_dispatch(self) -> None:
        """Serialise the transactions that hand jobs over, until this one ends."""
        ...

    async def usage(self, facilities: Iterable[str], owners: Iterable[str]
                    ) -> tuple[list[tuple[str, str, int]], set[str], set[str]]:
        """Active jobs per (facility, owner) of these facilities or owners ('' is anonymous), the facilities among
        them where a job is held, and the owners among them with a held job."""
        ...

    async def held(self, facilities: Iterable[str], owners: Iterable[str], per_owner: int
                   ) -> tuple[list[HeldJob], list[tuple[str, str, int]]]:
        """The oldest ``per_owner`` held jobs of each owner on each facility, of these facilities or owners (and
        those owners' facilities), and the active jobs per (facility, owner) of their facilities and owners."""
        ...

    async def lock_held(self, job_ids: Iterable[UUID]) -> dict[UUID, Job]:
        """Those of these jobs still held, locked; one another transaction holds is skipped."""
        ...

    async def release_held(self, jobs: Sequence[Job], outbox: Sequence[Message]) -> None:
        """Write held jobs as handed over (only ``held``, the token's hash and the time change), with their
        messages for the outbox, and notify their listeners."""
        ...

    async def waiting_facilities(self) -> set[str]:
        """Every facility where a job is held."""
        ...


class CatalogueReader(Protocol):
    """The workflows and facilities named, read inside the transaction."""

    async def workflows(self, slugs: Iterable[str]) -> list[WorkflowDefinition]: ...

    async def facilities(self, slugs: Iterable[str]) -> list[FacilityDefinition]: ...


class UnitOfWork(Protocol):
    """One transaction. The repositories may be used only between entering and leaving it."""

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def catalogue(self) -> CatalogueReader: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""A new unit of work for each batch."""
