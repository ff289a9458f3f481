"""The unit of work on PostgreSQL: one pooled connection holding one transaction, and the stores bound to it.

The statements are JobStore's and CatalogueStore's, unchanged: entering costs the connection and BEGIN, commit
and rollback are one statement each, as with ``conn.transaction()``. Implements services.unit_of_work's
protocols structurally (storage never imports services). Depends on asyncpg and the storage modules.
"""

from collections.abc import Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.transaction import Transaction

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


class PostgresUnitOfWork:
    """A transaction left without a commit, or by an error, is rolled back; the connection goes back to the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._stack = AsyncExitStack()
        self._transaction: Transaction | None = None
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
            transaction = conn.transaction()
            await transaction.start()
            self._stack = stack.pop_all()
        self._transaction = transaction
        self._jobs = JobStore(conn)
        self._catalogue = TransactionCatalogue(CatalogueStore(self._pool), conn)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        try:
            await self.rollback()
        finally:
            self._jobs = self._catalogue = None
            await self._stack.aclose()

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None  # ended, whether COMMIT succeeds or not
        if transaction is None:
            raise RuntimeError("the unit of work is not open, or already ended")
        await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()
