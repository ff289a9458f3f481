"""LocalBackend: runs jobs as processes on this host, one directory per job under the work root.

The submitter drives it (submit, kill, recover, close); its status reads go through a ``LocalObserver``
(``local.observer``), which is all the monitor builds of the local executor. What the executor sees itself (a
process started, a process ended, with its results) also goes to ``on_status`` at once, so the submitter can
report it without waiting for the monitor's next poll. Jobs are started by the launcher (``local.launcher``),
so starting one never blocks the event loop; exits are watched with pidfds on the event loop (no thread per job,
no polling); at most ``max_parallel`` payloads run, the rest wait in FIFO order. Depends on the backend interface
and the local.* modules; knows nothing of the bus.
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

import structlog

from esap_backends.base import BackendError, BackendStatus, KillOutcome, attempt_key, job_id_of_key
from esap_backends.local import launch, processes, status
from esap_backends.local.callbacks import CallbackClient, CallbackSender
from esap_backends.local.launcher import Launcher, LauncherGone, launch_spec
from esap_backends.local.layout import JobState, KillIntent
from esap_backends.local.observer import LocalObserver
from esap_backends.local.store import JobDirectoryStore
from esap_messages import FINAL_STATUSES, DiracStatus, ResultFile, SubmitJob, utcnow
from esap_messages.api import CallbackReport

log = structlog.get_logger("esap.backends.local")

StatusSink = Callable[[UUID, BackendStatus, str], None]
"""Told of a status the executor saw itself (job id, status, backend job id); must not block (it is called on
the event loop)."""


@dataclass
class _Watch:
    """A running job whose exit this process is waiting for."""

    job_uuid: UUID
    state: JobState
    """The job's latest state as written by this process (kept current by kills): read once, not per event."""
    fd: int
    timer: asyncio.TimerHandle | None = None


@dataclass
class _JobLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class LocalBackend:
    name = "local"

    def __init__(self, work_root: Path, workflows_dir: Path | None = None, max_parallel: int = 64,
                 kill_grace_seconds: float = 5.0, callback_client: CallbackClient | None = None,
                 search_path: str = os.defpath, on_status: StatusSink | None = None,
                 callback_delay_seconds: float = 0.0) -> None:
        self._on_status = on_status
        self._store = JobDirectoryStore(work_root.resolve(), workflows_dir.resolve() if workflows_dir else None)
        self._observer = LocalObserver(self._store)
        self._max_parallel = max(1, max_parallel)
        self._grace = kill_grace_seconds
        self._callbacks = CallbackSender(callback_client, callback_delay_seconds)
        self._launcher = Launcher(str(self._store.root), launch.launcher_environment(search_path))
        self._starting = 0
        self._watches: dict[str, _Watch] = {}
        self._waiting: dict[str, launch.LaunchPlan] = {}  # FIFO; a start reads the job's state again
        self._tokens: dict[str, str] = {}
        self._locks: dict[str, _JobLock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def work_root(self) -> Path:
        return self._store.root

    @property
    def running_count(self) -> int:
        return len(self._watches)

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    async def submit(self, job: SubmitJob) -> str:
        job_id = attempt_key(job.job_id, job.attempt)  # one directory per attempt
        plan = launch.plan_launch(job)
        async with self._hold(job_id):
            if plan.files:
                created = await asyncio.to_thread(self._store.create, job, plan)
            else:  # three small files: cheaper written here than handed to a thread and back
                created = self._store.create(job, plan)
            if created is None and not self._resumable(job_id):
                log.info("Job already submitted, nothing started.", job_id=job_id)
                return job_id
            self._tokens[job_id] = job.callback_token.get_secret_value()
            await self._enqueue(job_id, plan, created)
        return job_id

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        self._store.path_of(backend_job_id)  # refuses what is not a job id
        intent = KillIntent(minor_status=reason or "Killed", requested_at=utcnow())
        return await self._kill(backend_job_id, intent)

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return await self._observer.bulk_status(backend_job_ids)

    async def recover(self) -> None:
        """Take up the work root after a restart: re-attach live payloads, settle dead ones, start the rest.
        Starts the launcher, so that the first job does not wait for it."""
        await self._launcher.start()
        await asyncio.to_thread(self._store.remove_incoming)
        unfinished = await asyncio.to_thread(self._store.scan_unfinished)
        counts = {"reattached": 0, "settled": 0, "started": 0}
        for state in unfinished:
            job_id = state.job_id
            if job_id in self._watches or job_id in self._waiting or state.tombstone:
                continue
            if state.status is DiracStatus.RUNNING:
                attached = self._attach(job_id, state)
                if not attached:
                    self._finalise(job_id)
                counts["reattached" if attached else "settled"] += 1
            elif state.status in (DiracStatus.RECEIVED, DiracStatus.WAITING):
                try:
                    await self._enqueue(job_id, launch.plan_from_job_file(self._store.read_plan_source(job_id)))
                except (BackendError, OSError, ValueError) as exc:
                    log.error("Could not start a recovered job.", job_id=job_id, error=str(exc))
                    continue
                counts["started"] += 1
        log.info("Local jobs recovered.", work_root=str(self.work_root), **counts)

    async def close(self) -> None:
        """Stop watching; every payload keeps running in its own process group for the next submitter to pick up."""
        for watch in self._watches.values():
            self._unwatch(watch)
        self._watches.clear()
        self._waiting.clear()
        self._tokens.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._launcher.close()
        await self._callbacks.close()

    # Starting

    def _resumable(self, job_id: str) -> bool:
        """An existing job that was written but never started (and is not already queued here)."""
        state = self._store.read_state(job_id)
        return (state is not None and not state.tombstone and job_id not in self._watches
                and job_id not in self._waiting and state.status in (DiracStatus.RECEIVED, DiracStatus.WAITING))

    def _slot_free(self) -> bool:
        return len(self._watches) + self._starting < self._max_parallel

    async def _enqueue(self, job_id: str, plan: launch.LaunchPlan, state: JobState | None = None) -> None:
        """Start the job now, or queue it while ``max_parallel`` run; ``state``: its latest, if known here."""
        if self._slot_free():
            await self._start(job_id, plan, state)
            return
        self._waiting[job_id] = plan  # queued even if the state cannot be written: it starts in its turn
        self._store.update_state(job_id, state, status=DiracStatus.WAITING, minor_status=status.MINOR_WAITING)

    async def _start(self, job_id: str, plan: launch.LaunchPlan, current: JobState | None = None) -> None:
        """Start the job through the launcher (the caller holds the job's lock); the event loop goes on meanwhile.

        A job whose ``stdout.txt`` exists was started already, by a launcher whose answer was lost (it or the
        submitter stopped in between): it is taken up, never started twice."""
        job_dir = self._store.path_of(job_id)
        pid: int | None
        earliest: int | None
        latest: int | None
        if self._store.started_earlier(job_id):
            found = await asyncio.to_thread(processes.find_group_leader, job_dir)
            pid, earliest, latest = (found[0], found[1], None) if found else (None, None, None)
            log.warning("Job had started already; taken up, not started again.", job_id=job_id, pid=pid)
        else:
            try:
                self._store.write_launch_spec(job_id, launch_spec(
                    launch.job_environment(job_id, job_dir, plan.parameters), plan.argv))
            except (OSError, ValueError) as exc:
                raise BackendError(f"could not write the job's launch file: {exc}") from exc
            earliest = processes.boot_ticks()
            self._starting += 1
            try:
                pid = await self._launcher.launch(job_id)
            except (LauncherGone, OSError) as exc:
                raise BackendError(f"could not start the job's process: {exc}") from exc
            finally:
                self._starting -= 1
            latest = processes.boot_ticks()
        started_at = utcnow()
        state = self._store.update_state(
            job_id, current, status=DiracStatus.RUNNING, minor_status=status.MINOR_RUNNING, started_at=started_at,
            pid=pid, pid_start_ticks=earliest, pid_start_ticks_latest=latest)
        log.info("Job started.", job_id=job_id, pid=pid)
        if not self._attach(job_id, state):  # ended already: settled as an exit
            self._watches[job_id] = _Watch(job_id_of_key(job_id), state, -1)
            asyncio.get_running_loop().call_soon(self._on_exit, job_id)
        if self._on_status is not None:
            self._on_status(job_id_of_key(job_id), BackendStatus(
                status=DiracStatus.RUNNING, minor_status=status.MINOR_RUNNING, started_at=started_at), job_id)
        token = self._tokens.get(job_id)
        if token is not None:
            self._callbacks.send(job_id_of_key(job_id), token, CallbackReport(status=DiracStatus.RUNNING,
                                                                      started_at=started_at))

    def _fill_slots(self) -> None:
        while self._waiting and self._slot_free():
            job_id = next(iter(self._waiting))
            plan = self._waiting.pop(job_id)
            self._starting += 1  # holds the slot until the task has the job's lock
            task = asyncio.get_running_loop().create_task(self._start_waiting(job_id, plan))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_waiting(self, job_id: str, plan: launch.LaunchPlan) -> None:
        held = False
        try:
            async with self._hold(job_id):
                self._starting -= 1
                held = True
                current = self._store.read_state(job_id)
                if current is None or current.status not in (DiracStatus.RECEIVED, DiracStatus.WAITING):
                    return  # killed meanwhile
                try:
                    await self._start(job_id, plan, current)
                except BackendError as exc:
                    log.error("Waiting job could not start.", job_id=job_id, error=str(exc))
                    self._tokens.pop(job_id, None)
                    self._store.update_state(job_id, status=DiracStatus.FAILED, minor_status="Could not start",
                                             error=str(exc), ended_at=utcnow())
        except Exception as exc:
            log.error("Waiting job could not start.", job_id=job_id, error=repr(exc))
        finally:
            if not held:
                self._starting -= 1

    # Watching

    def _attach(self, job_id: str, state: JobState) -> bool:
        """Watch the job's process for its exit; False if it is gone already (or was never known)."""
        if state.pid is None:
            return False
        try:
            fd = os.pidfd_open(state.pid)
        except ProcessLookupError:
            return False
        if not processes.is_alive(state.pid, state.pid_start_ticks, state.pid_start_ticks_latest):
            os.close(fd)
            return False
        loop = asyncio.get_running_loop()
        watch = _Watch(job_id_of_key(job_id), state, fd)
        loop.add_reader(fd, self._on_exit, job_id)
        if state.execution_duration > 0:
            elapsed = (utcnow() - state.started_at).total_seconds() if state.started_at else 0.0
            watch.timer = loop.call_later(max(0.0, state.execution_duration - elapsed), self._on_overtime,
                                          job_id, state.execution_duration)
        self._watches[job_id] = watch
        return True

    def _unwatch(self, watch: _Watch) -> None:
        if watch.fd >= 0:
            asyncio.get_running_loop().remove_reader(watch.fd)
            os.close(watch.fd)
            watch.fd = -1
        if watch.timer is not None:
            watch.timer.cancel()

    def _on_exit(self, job_id: str) -> None:
        watch = self._watches.pop(job_id, None)
        if watch is None:
            return
        self._unwatch(watch)
        ended = self._finalise(job_id, watch.state)
        if ended is not None and ended.is_final and self._on_status is not None:
            self._on_status(watch.job_uuid, ended, job_id)
        token = self._tokens.pop(job_id, None)
        if token is not None and ended is not None and ended.status in (DiracStatus.DONE, DiracStatus.FAILED):
            self._callbacks.send(watch.job_uuid, token, CallbackReport(
                status=ended.status, started_at=ended.started_at, ended_at=ended.ended_at,
                exit_code=ended.exit_code, message=(ended.error or "")[:1000]))
        self._fill_slots()

    def _on_overtime(self, job_id: str, seconds: int) -> None:
        intent = KillIntent(minor_status="Execution duration exceeded",
                            error=f"Execution duration of {seconds} s exceeded", requested_at=utcnow())
        log.info("Execution duration exceeded, killing the job.", job_id=job_id, seconds=seconds)
        task = asyncio.get_running_loop().create_task(self._kill_overtime(job_id, intent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finalise(self, job_id: str, state: JobState | None = None) -> BackendStatus | None:
        """Write the final state the files show (idempotent); the job's status, or None if it is unknown.
        ``state``: the job's latest state, when this process holds it."""
        snapshot = self._store.snapshot(job_id, state)
        if snapshot is None:
            return None
        derived = status.derive_status(snapshot)
        if derived.is_final and snapshot.state.status not in FINAL_STATUSES:
            self._store.write_state(job_id, status.final_state(snapshot.state, derived))
            log.info("Job ended.", job_id=job_id, status=derived.status.value, exit_code=derived.exit_code)
        return derived

    # Killing

    async def _kill_overtime(self, job_id: str, intent: KillIntent) -> None:
        try:
            outcome = await self._kill(job_id, intent)
        except Exception as exc:
            log.error("Could not kill a job over its execution duration.", job_id=job_id, error=repr(exc))
            return
        if outcome is KillOutcome.REFUSED:
            log.error("A job over its execution duration could not be killed.", job_id=job_id)

    async def _kill(self, job_id: str, intent: KillIntent) -> KillOutcome:
        async with self._hold(job_id):
            if self._waiting.pop(job_id, None) is not None:
                return self._kill_unstarted(job_id, intent)
            snapshot = self._store.snapshot(job_id)
            if snapshot is None:
                if await asyncio.to_thread(self._store.create_tombstone, job_id, intent):
                    log.info("Unknown job killed: tombstone written.", job_id=job_id)
                    return KillOutcome.KILLED
                snapshot = self._store.snapshot(job_id)
                if snapshot is None:
                    raise BackendError(f"job {job_id} vanished while being killed")
            if status.derive_status(snapshot).is_final:
                self._finalise(job_id)
                return KillOutcome.ALREADY_FINAL
            state = snapshot.state
            if state.status is not DiracStatus.RUNNING or state.pid is None:
                return self._kill_unstarted(job_id, intent)
            self._remember(job_id, self._store.update_state(job_id, state, kill=intent))
            try:
                gone = await processes.terminate_group(state.pid, state.pid_start_ticks,
                                                         state.pid_start_ticks_latest, self._grace)
            except PermissionError as exc:
                log.error("Not allowed to kill the job's processes.", job_id=job_id, error=str(exc))
                gone = False
            if not gone:
                self._remember(job_id, self._store.update_state(job_id, kill=None))
                return KillOutcome.REFUSED
            if job_id in self._watches:
                self._on_exit(job_id)
            else:
                self._finalise(job_id)
            log.info("Job killed.", job_id=job_id, reason=intent.minor_status)
            return KillOutcome.KILLED

    def _remember(self, job_id: str, state: JobState) -> None:
        """A state this process wrote for a job it watches: what its exit is judged by."""
        watch = self._watches.get(job_id)
        if watch is not None:
            watch.state = state

    def _kill_unstarted(self, job_id: str, intent: KillIntent) -> KillOutcome:
        self._tokens.pop(job_id, None)
        state = self._store.read_state(job_id)
        if state is None:
            raise BackendError(f"job {job_id} has no state file")
        self._store.write_state(job_id, status.killed_state(state, intent, utcnow()))
        log.info("Job killed before it started.", job_id=job_id)
        return KillOutcome.KILLED

    @contextlib.asynccontextmanager
    async def _hold(self, job_id: str) -> AsyncIterator[None]:
        """One operation at a time per job (a redelivered submit, a kill, an overtime kill)."""
        entry = self._locks.setdefault(job_id, _JobLock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[job_id]

    # The observing side: the job directories, read as the monitor reads them

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return await self._observer.changes_since(since, backend_job_ids)

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        return await self._observer.fetch_results(backend_job_id)
