"""The unit of work on PostgreSQL: one pooled connection holding one transaction, and the stores bound to it.

The statements are JobStore's and CatalogueStore's, unchanged, in asyncpg's own transaction context: entering
costs the connection and BEGIN, leaving one COMMIT or ROLLBACK. Implements services.unit_of_work's
protocols structurally (storage never imports services). Depends on asyncpg and the storage modules.
"""

from collections.abc import Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import asyncpg

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.jobs import JobStore


class TransactionCatalogue:
    """The catalogue's reads on the connection that holds the transaction."""

    def __init__(self, store: CatalogueStore, conn: asyncpg.Connection) -> None:
        self._store = store
        self._conn = conn

    async def workflows(self, slugs: Iterable[str]) -> list[WorkflowDefinition]:
        return await self._store.workflows(slugs, executor=self._conn)

    async def facilities(self, slugs: Iterable[str]) -> list[FacilityDefinition]:
        return await self._store.facilities(slugs, executor=self._conn)


class _LeftWithoutCommit(Exception):
    """Given to asyncpg's transaction on leaving a unit of work that was not committed: it rolls back."""


class PostgresUnitOfWork:
    """``async with pool.acquire() as conn, conn.transaction()``, as ingest wrote it before the port: asyncpg
    commits on leaving and rolls back on an error, then the pool takes the connection back (and resets or
    replaces it). ``commit()`` marks the work to be committed on leaving; leaving without it rolls back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._stack: AsyncExitStack | None = None
        self._commit = False
        self._jobs: JobStore | None = None
        self._catalogue: TransactionCatalogue | None = None

    @property
    def jobs(self) -> JobStore:
        if self._jobs is None:
            raise RuntimeError("the unit of work is not open")
        return self._jobs

    @property
    def catalogue(self) -> TransactionCatalogue:
        if self._catalogue is None:
            raise RuntimeError("the unit of work is not open")
        return self._catalogue

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(self._pool.acquire())
            await stack.enter_async_context(conn.transaction())
            self._stack = stack.pop_all()
        self._commit = False
        self._jobs = JobStore(conn)
        self._catalogue = TransactionCatalogue(CatalogueStore(self._pool), conn)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        self._jobs = self._catalogue = None
        if stack is None:
            return
        if error is None and not self._commit:
            error = _LeftWithoutCommit()
            kind, traceback = type(error), None
        await stack.__aexit__(kind, error, traceback)  # COMMIT, or ROLLBACK; a failure of either is raised

    async def commit(self) -> None:
        if self._stack is None:
            raise RuntimeError("the unit of work is not open")
        self._commit = True

    async def rollback(self) -> None:
        self._commit = False
