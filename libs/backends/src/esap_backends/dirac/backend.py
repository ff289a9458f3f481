"""DiracBackend: submits jobs to classic DIRAC through the bridge, polls them in bulk, kills them.

A submit is idempotent: the JobName carries our job id, and a search by JobName and JobGroup comes before every
submission, so a redelivered SubmitJob finds the DIRAC job it already made (two submissions of one job at once
share one). ``bulk_status`` is one ``getJobsStates`` and one ``getJobsSites`` call per chunk of ids, never one
call per job. A kill asks DIRAC, then reads the status back, since DIRAC silently ignores a transition its state
machine does not allow; a job DIRAC did not kill raises PermanentBackendError with what DIRAC said, so the user
reads it. Depends on the backend interface, the bridge client and the job description; knows nothing of the bus.
"""

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from esap_backends.base import BackendError, BackendStatus, KillOutcome, PermanentBackendError
from esap_backends.dirac.client import DiracBridgeClient
from esap_backends.dirac.jdl import JobDescription, job_description
from esap_backends.diracx.jdl import JOB_NAME_PREFIX, FacilityPlacement, JobInputs
from esap_backends.shipped import read_workflow_files
from esap_messages import DiracStatus, SubmitJob

log = structlog.get_logger("esap.backends.dirac")


class DiracBackend:
    name = "dirac"

    def __init__(self, client: DiracBridgeClient, placement: FacilityPlacement, *, workflows_dir: Path | None,
                 gateway_url: str | None, chunk_size: int = 1000) -> None:
        self._client = client
        self._placement = placement
        self._workflows_dir = workflows_dir
        self._gateway_url = gateway_url.rstrip("/") if gateway_url else None
        self._chunk = max(1, chunk_size)
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
                status = to_backend_status(dirac_id, row)
                if status is not None:
                    statuses[str(dirac_id)] = status
        return statuses

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
        await asyncio.gather(*self._under_way.values(), return_exceptions=True)
        await self._client.close()


def to_backend_status(dirac_id: object, row: Mapping[str, Any]) -> BackendStatus | None:
    """One bridge status row as a BackendStatus; None (logged) for a status esap-batch does not know."""
    try:
        status = DiracStatus(str(row.get("Status")))
    except ValueError:
        log.warning("DIRAC status unknown to esap-batch, job not reported.", dirac_job_id=dirac_id,
                    status=row.get("Status"))
        return None
    minor, application = str(row.get("MinorStatus") or ""), str(row.get("ApplicationStatus") or "")
    error = None
    if status is DiracStatus.FAILED:
        parts = [part for part in (minor, application) if part]
        error = "DIRAC: " + "; ".join(parts) if parts else "DIRAC reports the job Failed"
    return BackendStatus(status=status, minor_status=minor, application_status=application,
                         site=str(row.get("Site") or ""), error=error)


__all__ = ["DiracBackend", "to_backend_status"]
