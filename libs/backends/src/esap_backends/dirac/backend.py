"""DiracBackend: submits jobs to classic DIRAC through the bridge, polls them in bulk, kills them, fetches their
outputs.

A submit is idempotent: the JobName carries our job id, and a search by JobName and JobGroup comes before every
submission, so a redelivered SubmitJob finds the DIRAC job it already made (two submissions of one job at once
share one). ``bulk_status`` is one ``getJobsSummary`` call per chunk of ids (statuses, site, execution times),
never one call per job; ``changes_since`` is one ``getJobs`` for the job group's ids updated since then, and
statuses of those only. A kill asks DIRAC, then reads the status back, since DIRAC silently ignores a transition
its state machine does not allow; a job DIRAC did not kill raises PermanentBackendError with what DIRAC said, so
the user reads it. ``fetch_results`` has the bridge download a finished job's output sandbox into a staging
directory once, and unpacks and lists it as the DiracX backend does (result_files). Every bridge call keeps the
client's time limit. Depends on the backend interface, the bridge client, the job description and result_files;
knows nothing of the bus.
"""

import asyncio
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import structlog

from esap_backends.base import BackendError, BackendStatus, KillOutcome, PermanentBackendError
from esap_backends.dirac.client import DiracBridgeClient
from esap_backends.dirac.jdl import JobDescription, job_description
from esap_backends.dirac_rows import to_backend_status
from esap_backends.grid.payload import JOB_NAME_PREFIX, JobInputs
from esap_backends.grid.placement import FacilityPlacement
from esap_backends.result_files import is_fetched, list_results, unpack
from esap_backends.shipped import read_workflow_files
from esap_messages import DiracStatus, ResultFile, SubmitJob

log = structlog.get_logger("esap.backends.dirac")

INCOMING = ".incoming"  # under the results root: where the bridge downloads archives before they are unpacked
_SINCE_FORMAT = "%Y-%m-%d %H:%M:%S"  # DIRAC's database keeps naive UTC, to the second


class DiracBackend:
    name = "dirac"

    def __init__(self, client: DiracBridgeClient, placement: FacilityPlacement, *, workflows_dir: Path | None,
                 gateway_url: str | None, chunk_size: int = 1000, results_root: Path | None = None,
                 fetch_concurrency: int = 4) -> None:
        self._client = client
        self._placement = placement
        self._workflows_dir = workflows_dir
        self._gateway_url = gateway_url.rstrip("/") if gateway_url else None
        self._chunk = max(1, chunk_size)
        self._results_root = results_root
        self._fetching = asyncio.Semaphore(max(1, fetch_concurrency))
        self._fetches: dict[str, asyncio.Future[None]] = {}
        self._under_way: dict[str, asyncio.Future[str]] = {}

    @property
    def client(self) -> DiracBridgeClient:
        return self._client

    # --- submit -------------------------------------------------------------------------------------------

    async def submit(self, job: SubmitJob) -> str:
        description = await asyncio.to_thread(self.describe, job)
        under_way = self._under_way.get(description.name)
        if under_way is not None:  # the same job twice at once (a redelivery): share the one submission
            return await asyncio.shield(under_way)
        task = asyncio.ensure_future(self._submit_once(description))
        self._under_way[description.name] = task
        task.add_done_callback(lambda _: self._under_way.pop(description.name, None))
        return await asyncio.shield(task)

    def describe(self, job: SubmitJob) -> JobDescription:
        """The job's Job API calls (reads the workflow's files: call it off the event loop)."""
        callback = f"{self._gateway_url}/uws/jobs/{job.job_id}/callback" if self._gateway_url else None
        return job_description(job, self._placement, JobInputs(files=self._read_files(job), callback_url=callback))

    async def _submit_once(self, description: JobDescription) -> str:
        found = await self._find(description.name)
        if found:
            log.info("Job already in DIRAC, not submitted again.", dirac_job_id=found[0])
            return str(found[0])
        job_id = await self._client.call("submit", {"description": description.to_json()})
        log.info("Job submitted to DIRAC.", dirac_job_id=job_id)
        return str(job_id)

    async def _find(self, name: str) -> list[int]:
        ids = await self._client.call("find_by_name", {"name": name, "job_group": self._placement.job_group})
        return [int(i) for i in ids or []]

    def _read_files(self, job: SubmitJob) -> dict[str, bytes]:
        return read_workflow_files(self._workflows_dir, job.workflow.files)

    # --- status -------------------------------------------------------------------------------------------

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        ids = [int(i) for i in dict.fromkeys(backend_job_ids) if i.isdigit()]
        statuses: dict[str, BackendStatus] = {}
        for start in range(0, len(ids), self._chunk):
            rows = await self._client.call("bulk_status", {"job_ids": ids[start:start + self._chunk]})
            for dirac_id, row in (rows or {}).items():
                status = to_backend_status(row, dirac_id)
                if status is not None:
                    statuses[str(dirac_id)] = status
        return statuses

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        wanted = {i for i in backend_job_ids if i.isdigit()}
        if not wanted:
            return {}
        cut = since.astimezone(UTC).strftime(_SINCE_FORMAT)  # getJobs compares LastUpdateTime >= cut
        changed = await self._client.call("changed_since", {"since": cut, "job_group": self._placement.job_group})
        return await self.bulk_status(str(i) for i in changed or [] if str(i) in wanted)

    # --- results ------------------------------------------------------------------------------------------

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        if not backend_job_id.isdigit():
            raise PermanentBackendError(f"{backend_job_id!r} is not a DIRAC job id")
        if self._results_root is None:
            return ()
        directory = self._results_root / backend_job_id
        if not is_fetched(directory):
            fetching = self._fetches.get(backend_job_id)
            if fetching is None:  # one download per job at a time: they would share a staging directory
                fetching = asyncio.ensure_future(self._fetch(int(backend_job_id), directory))
                self._fetches[backend_job_id] = fetching
                fetching.add_done_callback(lambda _: self._fetches.pop(backend_job_id, None))
            await asyncio.shield(fetching)
        return await asyncio.to_thread(list_results, directory)

    async def _fetch(self, job_id: int, directory: Path) -> None:
        assert self._results_root is not None
        staging = self._results_root / INCOMING / str(job_id)
        async with self._fetching:
            await asyncio.to_thread(shutil.rmtree, staging, True)  # what an interrupted fetch left
            try:
                answer = await self._client.call("output_sandbox", {"job_id": job_id, "directory": str(staging)})
                names = [str(name) for name in (answer or {}).get("archives", [])]
                await asyncio.to_thread(unpack, [staging / name for name in names], directory)
                log.info("DIRAC output sandbox fetched.", dirac_job_id=job_id, archives=len(names))
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)

    # --- kill ---------------------------------------------------------------------------------------------

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        if not backend_job_id.isdigit():
            backend_job_id = await self._find_by_our_id(backend_job_id)
        before = (await self.bulk_status([backend_job_id])).get(backend_job_id)
        if before is None:
            raise PermanentBackendError(f"DIRAC has no job {backend_job_id}")
        if before.is_final:
            return KillOutcome.ALREADY_FINAL
        refusal = ""
        try:
            await self._client.call("kill", {"job_id": int(backend_job_id)})
        except PermanentBackendError as exc:  # read the status back all the same: the job may have ended
            refusal = str(exc)
        after = (await self.bulk_status([backend_job_id])).get(backend_job_id)
        if after is not None and after.status is DiracStatus.KILLED:
            log.info("DIRAC job killed.", dirac_job_id=backend_job_id, reason=reason)
            return KillOutcome.KILLED
        if after is not None and after.is_final:
            return KillOutcome.ALREADY_FINAL
        now = f"{after.status.value} ({after.minor_status})" if after is not None else "unknown"
        log.warning("DIRAC did not kill the job.", dirac_job_id=backend_job_id, status=now, refusal=refusal)
        raise PermanentBackendError(f"DIRAC did not kill job {backend_job_id}: it is still {now}"
                                    + (f"; {refusal}" if refusal else ""))

    async def _find_by_our_id(self, our_job_id: str) -> str:
        """The DIRAC job made for our job id (a kill that came before the submission was reported)."""
        found = await self._find(f"{JOB_NAME_PREFIX}{our_job_id}")
        if not found:
            # The submission may still be under way: try again later rather than report a kill of nothing.
            raise BackendError(f"DIRAC has no job for {our_job_id} yet")
        return str(found[0])

    async def recover(self) -> None:
        """Nothing to take up: DIRAC keeps the jobs, and submissions are idempotent."""

    async def close(self) -> None:
        await asyncio.gather(*self._under_way.values(), *self._fetches.values(), return_exceptions=True)
        await self._client.close()


__all__ = ["DiracBackend"]
