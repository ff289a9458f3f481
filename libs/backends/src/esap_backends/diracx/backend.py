"""DiracXBackend: submits jobs to a DiracX server as JDL, polls them in bulk, kills them by a status change.

Submissions arriving together (the submitter handles many messages at once) share one search and one
``POST /api/jobs/jdl`` per batch of up to 20, with a few batches (``in_flight``) under way at once, so that a
campaign's thousands of children are not handed over one call after the other; ``on_batch`` is told of each
submission call (how many jobs it carries). A submit is idempotent: the JobName carries our job id, and a search
for it comes before every submission, so a redelivered SubmitJob finds the DIRAC job it already made; one arriving
while its first copy is under way shares that submission.

``bulk_status`` is one search with an ``in`` filter per chunk of ids, or, for the monitor, a search for what changed
since the last poll; ``changes_since`` is one search on LastUpdateTime; ``fetch_results`` fetches a finished job's
output sandbox once (when built with a results directory); ``bulk_history`` reads the logging histories of many
jobs in one search per chunk. A kill is a change to Killed, read back, since DIRAC silently ignores a transition its
state machine does not allow; a refusal raises PermanentBackendError with what DIRAC says. Depends on the backend
interface, the DiracX client, the JDL, polling, history and sandbox modules; knows nothing of the bus.
"""

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from esap_backends.base import BackendError, BackendStatus, KillOutcome, PermanentBackendError
from esap_backends.dirac_rows import to_backend_status
from esap_backends.diracx.client import DiracXClient
from esap_backends.diracx.history import HISTORY_CHUNK, read_histories
from esap_backends.diracx.jdl import to_jdl
from esap_backends.diracx.polling import StatusSearch
from esap_backends.diracx.sandbox import SandboxResults
from esap_backends.grid.payload import JOB_NAME_PREFIX, JobInputs, job_name
from esap_backends.grid.placement import FacilityPlacement
from esap_backends.shipped import read_workflow_files
from esap_messages import BackendHistoryEntry, DiracStatus, ResultFile, SubmitJob, utcnow

log = structlog.get_logger("esap.backends.diracx")

KILLABLE_MINOR = "Marked for termination"
SOURCE = "esap-batch"
MAX_SUBMIT_BATCH = 20  # DiracX 0.7.0 refuses more JDLs in one submission ("cannot submit more than 20 jobs")


class DiracXBackend:
    name = "diracx"

    def __init__(self, client: DiracXClient, placement: FacilityPlacement, *, workflows_dir: Path | None,
                 gateway_url: str | None, chunk_size: int = 5000, batch_size: int = MAX_SUBMIT_BATCH,
                 coalesce_seconds: float = 0.005, sandboxes: SandboxResults | None = None,
                 full_poll_seconds: float = 0.0, in_flight: int = 4,
                 on_batch: Callable[[str, int], None] | None = None) -> None:
        self._client = client
        self._placement = placement
        self._workflows_dir = workflows_dir
        self._gateway_url = gateway_url.rstrip("/") if gateway_url else None
        # full_poll_seconds > 0 (the monitor): polls ask only for what changed, and everything that often.
        self._search = StatusSearch(client, to_backend_status, chunk_size=chunk_size,
                                    job_group=placement.job_group, full_every=full_poll_seconds)
        self._history_chunk = min(chunk_size, HISTORY_CHUNK)
        self._batch_size = max(1, min(batch_size, MAX_SUBMIT_BATCH))
        self._coalesce = coalesce_seconds
        self._sandboxes = sandboxes
        self._pending: dict[str, tuple[str, asyncio.Future[str]]] = {}
        self._under_way: dict[str, asyncio.Future[str]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._batch_full = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, in_flight))
        self._in_flight: set[asyncio.Task[None]] = set()
        self._call_ended = asyncio.Event()
        self._on_batch = on_batch

    @property
    def client(self) -> DiracXClient:
        return self._client

    @property
    def status_search(self) -> StatusSearch:
        return self._search

    # --- submit -------------------------------------------------------------------------------------------

    async def submit(self, job: SubmitJob) -> str:
        description = await asyncio.to_thread(self.describe, job)
        name = job_name(job)
        under_way = self._under_way.get(name)
        if under_way is not None:  # the same job twice at once (a redelivery): share the one submission
            return await asyncio.shield(under_way)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._under_way[name] = future
        future.add_done_callback(lambda _: self._under_way.pop(name, None))
        self._pending[name] = (description, future)
        self._start_flush()
        return await asyncio.shield(future)

    def describe(self, job: SubmitJob) -> str:
        """The job's JDL (reads the workflow's files: call it off the event loop)."""
        callback = f"{self._gateway_url}/uws/jobs/{job.job_id}/callback" if self._gateway_url else None
        return to_jdl(job, self._placement, JobInputs(files=self._read_files(job), callback_url=callback))

    def _read_files(self, job: SubmitJob) -> dict[str, bytes]:
        return read_workflow_files(self._workflows_dir, job.workflow.files)

    def _start_flush(self) -> None:
        if len(self._pending) >= self._batch_size:
            self._batch_full.set()
        if self._flush is None or self._flush.done():
            # A context of its own: the flush serves many jobs, so it must not log under the first one's job_id.
            self._flush = asyncio.get_running_loop().create_task(self._dispatch(), context=contextvars.Context())

    async def _dispatch(self) -> None:
        """Takes the pending jobs in batches, each call in a slot of its own, at most ``in_flight`` at once.

        With no call under way, a batch waits up to the coalescing delay to fill; with calls under way, a part-filled
        batch waits until it is full or one of them ends (jobs arriving meanwhile fill it), so that a burst goes
        out in full batches, in parallel as far as the backlog fills them. A job leaves ``_pending`` as it joins a
        batch and stays in ``_under_way`` until its batch answers, so no two batches in flight name the same job (a
        redelivery shares the submission).
        """
        while self._pending:
            if len(self._pending) < self._batch_size and self._in_flight:
                # Calls are under way: a part-filled batch waits for more jobs until it is full or a call ends, so
                # that calls go out full (DiracX takes 20 as fast as 1) and parallel only when the backlog is.
                self._batch_full.clear()
                self._call_ended.clear()
                waits = [asyncio.ensure_future(self._batch_full.wait()), asyncio.ensure_future(self._call_ended.wait())]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in waits:
                        waiting.cancel()
            elif len(self._pending) < self._batch_size and self._coalesce > 0:
                self._batch_full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._batch_full.wait(), self._coalesce)
            await self._slots.acquire()
            batch = dict(list(self._pending.items())[: self._batch_size])
            for name in batch:
                del self._pending[name]
            task = asyncio.get_running_loop().create_task(self._submit_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()
        self._call_ended.set()

    async def _submit_batch(self, batch: dict[str, tuple[str, asyncio.Future[str]]]) -> None:
        try:
            await self._submit_or_split(batch)
        finally:  # cancelled (the process stopping): no job may wait for an answer that will never come
            for _, future in batch.values():
                if not future.done():
                    future.set_exception(BackendError("the submission to DiracX was cut short"))

    async def _submit_or_split(self, batch: dict[str, tuple[str, asyncio.Future[str]]]) -> None:
        try:
            made = await self._submit_many({name: description for name, (description, _) in batch.items()})
        except Exception as exc:
            if len(batch) > 1 and isinstance(exc, PermanentBackendError):
                # One refused JDL must not fail the others: submit them one by one (in this slot) to find it.
                for name, entry in batch.items():
                    await self._submit_or_split({name: entry})
                return
            for _, future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for name, (_, future) in batch.items():
            if not future.done():
                future.set_result(made[name])

    async def _submit_many(self, descriptions: Mapping[str, str]) -> dict[str, str]:
        """JobName -> DIRAC job id for every name; submits only those DIRAC does not have yet."""
        rows = await self._client.search(("JobID", "JobName"), [
            {"parameter": "JobName", "operator": "in", "values": list(descriptions)}])
        made = {str(row["JobName"]): str(row["JobID"]) for row in rows}
        if made:
            log.info("Jobs already in DIRAC, not submitted again.", jobs=len(made))
        todo = [name for name in descriptions if name not in made]
        if todo:
            if self._on_batch is not None:
                self._on_batch(self.name, len(todo))
            answer = await self._client.submit_jdl([descriptions[name] for name in todo])
            for name, row in zip(todo, answer, strict=True):
                made[name] = str(row["JobID"])
            log.info("Jobs submitted to DiracX.", jobs=len(todo))
        return made

    # --- status -------------------------------------------------------------------------------------------

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        ids = [int(i) for i in dict.fromkeys(backend_job_ids) if i.isdigit()]
        return {str(i): status for i, status in (await self._search.polled(ids)).items()}

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        ids = [int(i) for i in dict.fromkeys(backend_job_ids) if i.isdigit()]
        return {str(i): status for i, status in (await self._search.updated_since(since, ids)).items()}

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        if not backend_job_id.isdigit():
            raise PermanentBackendError(f"{backend_job_id!r} is not a DIRAC job id")
        if self._sandboxes is None:
            return ()
        return await self._sandboxes.results(int(backend_job_id))

    async def bulk_history(self, backend_job_ids: Iterable[str]) -> Mapping[str, tuple[BackendHistoryEntry, ...]]:
        """DIRAC's logging history of many jobs, oldest entry first; jobs DiracX does not show are left out."""
        ids = [int(i) for i in dict.fromkeys(backend_job_ids) if i.isdigit()]
        found = await read_histories(self._client, ids, self._history_chunk)
        return {str(i): history for i, history in found.items()}

    # --- kill ---------------------------------------------------------------------------------------------

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        if not backend_job_id.isdigit():
            backend_job_id = await self._find_by_job_name(backend_job_id)
        job_id = int(backend_job_id)
        before = (await self._search.by_id([job_id])).get(job_id)
        if before is None:
            raise PermanentBackendError(f"DIRAC has no job {job_id}")
        if before.is_final:
            return KillOutcome.ALREADY_FINAL
        answer = await self._client.set_status(
            {job_id: {"Status": DiracStatus.KILLED.value, "MinorStatus": KILLABLE_MINOR, "Source": SOURCE}},
            utcnow())
        after = (await self._search.by_id([job_id])).get(job_id)
        if after is not None and after.status is DiracStatus.KILLED:
            log.info("DIRAC job killed.", dirac_job_id=job_id, reason=reason)
            return KillOutcome.KILLED
        if after is not None and after.is_final:
            return KillOutcome.ALREADY_FINAL
        refusal = _failure_text(answer, job_id)
        now = f"{after.status.value} ({after.minor_status})" if after is not None else "unknown"
        raise PermanentBackendError(f"DIRAC did not kill job {job_id}: it is still {now}"
                                    + (f"; DIRAC said: {refusal}" if refusal else ""))

    async def _find_by_job_name(self, our_job_id: str) -> str:
        """The DIRAC job made for our job id (a kill that came before the submission was reported)."""
        rows = await self._client.search(("JobID",), [
            {"parameter": "JobName", "operator": "eq", "value": f"{JOB_NAME_PREFIX}{our_job_id}"}])
        if not rows:
            # The submission may still be under way: try again later rather than report a kill of nothing.
            raise BackendError(f"DIRAC has no job for {our_job_id} yet")
        return str(rows[0]["JobID"])

    async def close(self) -> None:
        if self._flush is not None:
            await asyncio.gather(self._flush, return_exceptions=True)
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def recover(self) -> None:
        """Nothing to take up: DIRAC keeps the jobs, and submissions are idempotent."""


def _failure_text(answer: Mapping[str, Any], job_id: int) -> str:
    failed = answer.get("failed") or {}
    entry = failed.get(str(job_id)) if isinstance(failed, dict) else None
    return str(entry)[:1000] if entry else ""


__all__ = ["DiracXBackend", "to_backend_status"]
