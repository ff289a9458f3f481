"""Output sandboxes as results: a finished DIRAC job's output sandbox, fetched once into a directory of this host
(under the local work root, where the gateway serves results from) and listed as ``file://`` results.

Extraction keeps to plain files named like results (no paths, links or devices). Depends on the DiracX client,
aiohttp and esap_messages; knows nothing of statuses or the bus.
"""

import asyncio
import io
import os
import tarfile
from pathlib import Path

import aiohttp

from esap_backends.base import BackendError
from esap_backends.diracx.client import DiracXClient
from esap_backends.diracx.jdl import STDERR, STDOUT
from esap_messages import ResultFile
from esap_messages.model import ResultName

FETCHED_MARKER = ".fetched"
MAX_SANDBOX_BYTES = 512 * 1024 * 1024
_IDS = {STDOUT: "stdout", STDERR: "stderr"}
_MIME = {".json": "application/json", ".txt": "text/plain", ".log": "text/plain", ".xml": "application/xml",
         ".fits": "application/fits", ".png": "image/png", ".csv": "text/csv"}


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
        if not (directory / FETCHED_MARKER).exists():
            async with self._limit:
                await self._fetch(dirac_job_id, directory)
        return await asyncio.to_thread(list_results, directory)

    async def _fetch(self, dirac_job_id: int, directory: Path) -> None:
        archives: list[bytes] = []
        for pfn in await self._client.output_sandboxes(dirac_job_id):
            url = await self._client.sandbox_download_url(pfn)
            try:
                async with self._session.get(url) as response:
                    if response.status >= 400:
                        raise BackendError(f"sandbox download answered HTTP {response.status}")
                    archives.append(await response.content.read(MAX_SANDBOX_BYTES))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise BackendError(f"could not download the output sandbox of job {dirac_job_id}: {exc!r}") from exc
        await asyncio.to_thread(_extract_all, archives, directory)


def _extract_all(archives: list[bytes], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for data in archives:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive.getmembers():
                name = os.path.basename(member.name)
                if not member.isfile() or name != member.name or not _result_name(name):
                    continue
                source = archive.extractfile(member)
                if source is not None:
                    (directory / name).write_bytes(source.read())
    (directory / FETCHED_MARKER).touch()


def _result_name(name: str) -> bool:
    try:
        ResultFile(name=name, size=0, mime_type="x", location="x")
    except ValueError:
        return False
    return True


def list_results(directory: Path) -> tuple[ResultFile, ...]:
    if not directory.is_dir():
        return ()
    found = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        result_id: ResultName = _IDS.get(path.name, path.name)
        found.append(ResultFile(name=result_id, size=path.stat().st_size,
                                mime_type=_MIME.get(path.suffix, "application/octet-stream"),
                                location=path.as_uri()))
    return tuple(found)
