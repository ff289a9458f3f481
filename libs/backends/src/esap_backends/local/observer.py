"""LocalObserver: the observing side of the local executor, reading the job directories under the work root.

What the monitor polls: statuses (with their results, which the payload wrote on this host) read from the files
each job's directory holds, and nothing else. It starts no process, holds no launcher and sends no callback; the
submitter's ``LocalBackend`` answers its own status reads through one of these. Depends on the backend interface
and the job directory store only.
"""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from esap_backends.base import BackendStatus
from esap_backends.local import layout
from esap_backends.local.store import JobDirectoryStore
from esap_messages import ResultFile


class LocalObserver:
    name = "local"

    def __init__(self, store: JobDirectoryStore) -> None:
        self._store = store

    @classmethod
    def at(cls, work_root: Path) -> "LocalObserver":
        """An observer of the job directories under ``work_root`` (it never makes one: no workflows directory)."""
        return cls(JobDirectoryStore(work_root.resolve(), None))

    @property
    def work_root(self) -> Path:
        return self._store.root

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        wanted = [i for i in dict.fromkeys(backend_job_ids) if layout.is_job_id(i)]
        return await asyncio.to_thread(self._store.read_statuses, wanted)

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        """Every job asked about: reading this host's job files is as cheap as telling which ones changed."""
        return await self.bulk_status(backend_job_ids)

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        """The results of a finished job, read from its directory (nothing to fetch: the payload wrote them here)."""
        found = (await self.bulk_status([backend_job_id])).get(backend_job_id)
        return found.results if found is not None and found.is_final else ()
