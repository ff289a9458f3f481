"""The work root of the local executor: makes job directories (whole or not at all), reads them into snapshots,
and rewrites their state. Blocking file I/O: callers run the heavy parts in a thread.

Depends on the layout, the status functions and /proc (through processes); knows nothing of callbacks or the bus.
"""

import json
import os
import secrets
import shutil
import stat as stat_mode
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from esap_backends.base import BackendError, BackendStatus, PermanentBackendError, attempt_key
from esap_backends.local import layout, processes, status
from esap_backends.local.launch import LaunchPlan
from esap_backends.local.layout import INCOMING_PREFIX, JobFile, JobState, KillIntent
from esap_messages import FINAL_STATUSES, DiracStatus, SubmitJob, utcnow

STDERR_TAIL_BYTES = 4096


class JobDirectoryStore:
    """The job directories under the work root: one per job, its files and its state journal."""

    def __init__(self, root: Path, workflows_dir: Path | None) -> None:
        self.root = root
        self.workflows_dir = workflows_dir
        self._root = str(root)  # hot paths join strings: a Path per file access cost more than the access

    def job_dir(self, job_id: str) -> Path:
        return Path(self.path_of(job_id))

    def path_of(self, job_id: str) -> str:
        """The job's directory, as a string; PermanentBackendError for what is not a job id."""
        if not layout.is_job_id(job_id):
            raise PermanentBackendError(f"{job_id!r} is not a local job id")
        return os.path.join(self._root, job_id)

    def create(self, job: SubmitJob, plan: LaunchPlan) -> JobState | None:
        """Write the job's directory with state Received, and return that state; None if the directory exists
        already (nothing is changed)."""
        job_id = attempt_key(job.job_id, job.attempt)
        sources = [self._workflow_source(name) for name in plan.files]
        now = utcnow()
        job_file = JobFile(job_id=job_id, owner=job.owner, facility=job.facility, workflow=job.workflow,
                           parameters=dict(plan.parameters), argv=plan.argv,
                           execution_duration=plan.execution_duration, submitted_at=now)
        state = JobState(job_id=job_id, status=DiracStatus.RECEIVED, minor_status=status.MINOR_RECEIVED,
                         created_at=now, execution_duration=plan.execution_duration, outputs=plan.outputs)
        files: dict[str, bytes] = {
            # Not indented: json's indenting encoder is pure Python and cost more than the rest of the file.
            layout.PARAMETERS_FILE: json.dumps(dict(plan.parameters), sort_keys=True).encode(),
            layout.JOB_FILE: job_file.model_dump_json(indent=2).encode(),
            layout.STATE_FILE: layout.encode_state(state),
        }
        return state if self._place(job_id, files, dict(zip(plan.files, sources, strict=True))) else None

    def create_tombstone(self, job_id: str, intent: KillIntent) -> bool:
        """Mark a job that was never submitted as Killed, so a later submit does not run it."""
        now = utcnow()
        state = JobState(job_id=job_id, status=DiracStatus.KILLED, minor_status=intent.minor_status,
                         error=intent.error, created_at=now, ended_at=now, kill=intent, tombstone=True)
        return self._place(job_id, {layout.STATE_FILE: layout.encode_state(state)}, {})

    def read_state(self, job_id: str) -> JobState | None:
        return layout.read_state(self.path_of(job_id))

    def read_plan_source(self, job_id: str) -> JobFile:
        return layout.read_job_file(self.job_dir(job_id))

    def update_state(self, job_id: str, current: JobState | None = None, **changes: Any) -> JobState:
        """Append ``current`` (the job's latest state, read from its journal when not given) with ``changes``."""
        job_dir = self.path_of(job_id)
        if current is None:
            current = layout.read_state(job_dir)
        if current is None:
            raise BackendError(f"job {job_id} has no state file")
        updated = current.model_copy(update=changes)
        layout.write_state(job_dir, updated)
        return updated

    def write_state(self, job_id: str, state: JobState) -> None:
        layout.write_state(self.path_of(job_id), state)

    def write_launch_spec(self, job_id: str, spec: bytes) -> None:
        """The launcher's ``.launch`` for the job (written at each start, so a job written by an earlier release
        starts too)."""
        _write_whole(os.path.join(self.path_of(job_id), layout.LAUNCH_FILE), spec, os.O_TRUNC)

    def started_earlier(self, job_id: str) -> bool:
        """Whether a launcher started the job already: its subshell makes ``stdout.txt`` first thing."""
        return os.path.lexists(os.path.join(self.path_of(job_id), layout.STDOUT_FILE))

    def snapshot(self, job_id: str, state: JobState | None = None) -> status.JobSnapshot | None:
        """One read of the job's directory; None if there is no such job. ``state``, when given, is the job's
        latest state as its only writer knows it: the journal is not read again."""
        job_dir = self.path_of(job_id)
        if state is None:
            state = layout.read_state(job_dir)
        if state is None:
            return None
        exit_path = os.path.join(job_dir, layout.EXIT_CODE_FILE)
        exit_text = _read_text(exit_path)
        alive = None
        if state.status is DiracStatus.RUNNING and exit_text is None:
            # Running without a pid: a job taken up after a lost launcher answer whose process was not found.
            alive = state.pid is not None and processes.is_alive(state.pid, state.pid_start_ticks,
                                                                   state.pid_start_ticks_latest)
        snap = status.JobSnapshot(job_dir=job_dir, state=state, read_at=utcnow(), exit_code_text=exit_text,
                                  exit_code_written_at=layout.file_mtime(exit_path) if exit_text else None,
                                  process_alive=alive)
        if not status.may_be_final(snap):
            return snap
        code = status.parse_exit_code(exit_text)
        tail = _read_tail(os.path.join(job_dir, layout.STDERR_FILE)) if code not in (None, 0) else ""
        sizes = _sizes(job_dir, status.result_file_names(state.outputs))
        return status.JobSnapshot(job_dir=job_dir, state=state, read_at=snap.read_at, exit_code_text=exit_text,
                                  exit_code_written_at=snap.exit_code_written_at, process_alive=alive,
                                  stderr_tail=tail, file_sizes=sizes)

    def read_statuses(self, job_ids: list[str]) -> dict[str, BackendStatus]:
        """Statuses of the jobs that exist among ``job_ids``, from their directories alone."""
        found = {}
        for job_id in job_ids:
            snapshot = self.snapshot(job_id)
            if snapshot is not None:
                found[job_id] = status.derive_status(snapshot)
        return found

    def scan_unfinished(self) -> list[JobState]:
        """Every job not yet final, oldest first: what a restarted submitter takes up again."""
        found: list[JobState] = []
        if not self.root.is_dir():
            return found
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or not layout.is_job_id(entry.name):
                continue
            state = layout.read_state(entry)
            if state is not None and state.status not in FINAL_STATUSES:
                found.append(state)
        return sorted(found, key=lambda s: (s.created_at, s.job_id))

    def remove_incoming(self) -> None:
        """Directories left half-made by a submitter that stopped while writing them."""
        if self.root.is_dir():
            for entry in self.root.glob(f"{INCOMING_PREFIX}*"):
                shutil.rmtree(entry, ignore_errors=True)

    def _workflow_source(self, name: str) -> Path:
        if self.workflows_dir is None:
            raise PermanentBackendError(f"workflow file {name!r}: this executor has no workflows directory")
        base = self.workflows_dir.resolve()
        source = (base / name).resolve()
        if not source.is_relative_to(base) or not source.is_file():
            raise PermanentBackendError(f"workflow file {name!r} is not in the workflows directory")
        return source

    def _place(self, job_id: str, files: Mapping[str, bytes], copies: Mapping[str, Path]) -> bool:
        target = self.path_of(job_id)
        if os.path.lexists(target):
            return False
        incoming = os.path.join(self._root, f"{INCOMING_PREFIX}{job_id}-{secrets.token_hex(4)}")
        try:
            try:
                os.mkdir(incoming)
            except FileNotFoundError:  # the first job: the work root is made on demand
                os.makedirs(self._root, exist_ok=True)
                os.mkdir(incoming)
            for name, source in copies.items():
                destination = os.path.join(incoming, name)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copy2(source, destination)
            for name, data in files.items():
                _write_new(os.path.join(incoming, name), data)
            try:
                os.rename(incoming, target)
            except OSError:
                if os.path.lexists(target):
                    return False
                raise
        except OSError as exc:
            raise BackendError(f"could not write the job directory: {exc}") from exc
        finally:
            if os.path.lexists(incoming):
                shutil.rmtree(incoming, ignore_errors=True)
        return True


def _write_new(path: str, data: bytes) -> None:
    _write_whole(path, data, os.O_EXCL)


def _write_whole(path: str, data: bytes, flags: int) -> None:
    """Write ``data`` to the file at ``path``, opened with O_CREAT and ``flags`` (O_EXCL: a new file only)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _read_tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - STDERR_TAIL_BYTES))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _sizes(job_dir: str, names: tuple[str, ...]) -> dict[str, int]:
    sizes = {}
    for name in names:
        try:
            found = os.stat(os.path.join(job_dir, name))
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat_mode.S_ISREG(found.st_mode):
            sizes[name] = found.st_size
    return sizes
