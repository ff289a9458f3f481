"""Output sandboxes as results: a finished DIRAC job's output sandbox, fetched once from DiracX into a directory of
this host (under the local work root, where the gateway serves results from) and listed as ``file://`` results.

Unpacking and listing are esap_backends.result_files' (shared with the classic DIRAC backend). Depends on the
DiracX client, aiohttp, result_files and esap_messages; knows nothing of statuses or the bus.
"""

import asyncio
from pathlib import Path

import aiohttp

from esap_backends.base import BackendError
from esap_backends.diracx.client import DiracXClient
from esap_backends.result_files import MAX_ARCHIVE_BYTES, is_fetched, list_results, unpack
from esap_messages import ResultFile


class SandboxResults:
    def __init__(self, client: DiracXClient, session: aiohttp.ClientSession, root: Path,
                 concurrency: int = 8) -> None:
        self._client = client
        self._session = session
        self._root = root
        self._limit = asyncio.Semaphore(concurrency)

    async def results(self, dirac_job_id: int) -> tuple[ResultFile, ...]:
        """The job's output files; fetched on the first call, read from this host afterwards."""
        directory = self._root / str(dirac_job_id)
        if not is_fetched(directory):
            async with self._limit:
                await self._fetch(dirac_job_id, directory)
        return await asyncio.to_thread(list_results, directory)

    async def _fetch(self, dirac_job_id: int, directory: Path) -> None:
        archives: list[bytes | Path] = []
        for pfn in await self._client.output_sandboxes(dirac_job_id):
            url = await self._client.sandbox_download_url(pfn)
            try:
                async with self._session.get(url) as response:
                    if response.status >= 400:
                        raise BackendError(f"sandbox download answered HTTP {response.status}")
                    archives.append(await response.content.read(MAX_ARCHIVE_BYTES))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise BackendError(f"could not download the output sandbox of job {dirac_job_id}: {exc!r}") from exc
        await asyncio.to_thread(unpack, archives, directory)
