"""A local job's status, derived by pure functions from what its directory holds.

The submitter and the monitor both read jobs through ``derive_status``, so they agree, and the directory stays
the source of truth when the submitter is gone. Reading the files (and asking /proc whether the process lives)
happens elsewhere; this module only decides. Depends on esap_messages, the backend interface and the layout.
"""

import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote_from_bytes

from esap_backends.base import BackendStatus
from esap_backends.local.layout import STDERR_FILE, STDOUT_FILE, JobState, KillIntent
from esap_messages import FINAL_STATUSES, DiracStatus, ResultFile
from esap_messages.failures import LOST_MINOR_STATUS, SIGNAL_EXIT_BASE, SIGNALLED_MINOR_STATUS
from esap_messages.model import OutputFile

MINOR_RECEIVED = "Job accepted"
MINOR_WAITING = "Waiting for a free slot"
MINOR_RUNNING = "Application"
MINOR_KILL_REQUESTED = "Kill requested"
MINOR_DONE = "Execution Complete"
MINOR_FAILED = "Application Finished With Errors"
MINOR_LOST = LOST_MINOR_STATUS
ERROR_LOST = "the process ended without an exit status"
ERROR_TAIL_CHARS = 500


@dataclass(frozen=True)
class JobSnapshot:
    """What one read of a job directory found."""

    job_dir: str | Path
    """Absolute."""
    state: JobState
    read_at: datetime
    exit_code_text: str | None = None
    exit_code_written_at: datetime | None = None
    process_alive: bool | None = None
    stderr_tail: str = ""
    file_sizes: Mapping[str, int] = field(default_factory=dict)


def parse_exit_code(text: str | None) -> int | None:
    """The wrapper's ``.exit_code``; None while it is absent or still being written."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def may_be_final(snapshot: JobSnapshot) -> bool:
    """Whether the reader should gather results (sizes, stderr) for this snapshot."""
    state = snapshot.state
    return (state.status in FINAL_STATUSES or parse_exit_code(snapshot.exit_code_text) is not None
            or (state.status is DiracStatus.RUNNING and snapshot.process_alive is False))


def derive_status(snapshot: JobSnapshot) -> BackendStatus:
    state = snapshot.state
    if state.status in FINAL_STATUSES:
        return _final(snapshot, state.status, state.minor_status, state.error, state.exit_code, state.ended_at)
    code = parse_exit_code(snapshot.exit_code_text)
    ended_at = snapshot.exit_code_written_at or snapshot.read_at
    if state.kill is not None and (code is not None or snapshot.process_alive is False):
        return _final(snapshot, DiracStatus.KILLED, state.kill.minor_status, state.kill.error, code, ended_at)
    if code == 0:
        return _final(snapshot, DiracStatus.DONE, MINOR_DONE, None, code, ended_at)
    if (number := signal_of(code)) is not None:
        # A signal nobody in esap-batch sent (a kill we ask for leaves a KillIntent, above): the node killed it.
        return _final(snapshot, DiracStatus.FAILED, f"{SIGNALLED_MINOR_STATUS} {number}", signal_error(number), code,
                      ended_at)
    if code is not None:
        return _final(snapshot, DiracStatus.FAILED, MINOR_FAILED, exit_error(code, snapshot.stderr_tail), code,
                      ended_at)
    if state.status is DiracStatus.RUNNING and snapshot.process_alive is False:
        return _final(snapshot, DiracStatus.FAILED, MINOR_LOST, ERROR_LOST, None, snapshot.read_at)
    minor = MINOR_KILL_REQUESTED if state.kill is not None else state.minor_status
    return BackendStatus(status=state.status, minor_status=minor, started_at=state.started_at)


def signal_of(code: int | None) -> int | None:
    """The signal that ended the payload, from the launcher's exit status (bash's 128 + N), or None."""
    if code is None or code <= SIGNAL_EXIT_BASE or code > SIGNAL_EXIT_BASE + 64:
        return None
    return code - SIGNAL_EXIT_BASE


def signal_error(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return f"killed by signal {number} ({name}), which esap-batch did not send"


NOT_STARTED_CODES = (126, 127)
"""The shell's exit codes for a command it could not run (not executable, not found)."""

_SHELL_PREFIX = re.compile(r"^(?:\S*bash): line \d+: (?:.*: )?(?P<reason>[^:]+)$")


def exit_error(code: int, stderr_tail: str) -> str:
    """``exit code N``, with the last line of the payload's stderr when it wrote one. When the launcher's shell could
    not start the command, its line names a path on this host: only the reason is kept."""
    last = last_line(stderr_tail)
    if code in NOT_STARTED_CODES and (shell := _SHELL_PREFIX.match(last)) is not None:
        return f"the workflow's command could not be started: {shell.group('reason').strip()}"
    return f"exit code {code}: {last}" if last else f"exit code {code}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-ERROR_TAIL_CHARS:] if lines else ""


def file_uri(path: str) -> str:
    """``file://`` URI of an absolute path (as ``Path.as_uri``, without building a Path)."""
    return "file://" + quote_from_bytes(os.fsencode(path))


def list_results(job_dir: str | Path, file_sizes: Mapping[str, int],
                 outputs: tuple[OutputFile, ...]) -> tuple[ResultFile, ...]:
    """stdout, stderr and each declared output that exists, with its size and ``file://`` location."""
    candidates = [("stdout", STDOUT_FILE, "text/plain"), ("stderr", STDERR_FILE, "text/plain")]
    candidates += [(output.name, output.name, output.mime_type) for output in outputs]
    results: dict[str, ResultFile] = {}
    for result_id, file_name, mime_type in candidates:
        if result_id in results or file_name not in file_sizes:
            continue
        results[result_id] = ResultFile(name=result_id, size=file_sizes[file_name], mime_type=mime_type,
                                        location=file_uri(os.path.join(job_dir, file_name)))
    return tuple(results.values())


def result_file_names(outputs: tuple[OutputFile, ...]) -> tuple[str, ...]:
    """The files whose sizes ``list_results`` needs."""
    return (STDOUT_FILE, STDERR_FILE, *(output.name for output in outputs))


def final_state(state: JobState, status: BackendStatus) -> JobState:
    """The state once the job ended, as ``status`` says."""
    return state.model_copy(update={
        "status": status.status, "minor_status": status.minor_status, "error": status.error,
        "exit_code": status.exit_code, "ended_at": status.ended_at or state.ended_at,
    })


def killed_state(state: JobState, intent: KillIntent, now: datetime) -> JobState:
    """The state of a job killed before its process started (Received, Waiting, or a tombstone)."""
    return state.model_copy(update={
        "status": DiracStatus.KILLED, "minor_status": intent.minor_status, "error": intent.error,
        "ended_at": now, "kill": intent,
    })


def _final(snapshot: JobSnapshot, status: DiracStatus, minor: str, error: str | None, code: int | None,
           ended_at: datetime | None) -> BackendStatus:
    state = snapshot.state
    if ended_at is not None and state.started_at is not None and ended_at < state.started_at:
        # A file's time comes from the kernel's coarse clock (a few ms behind): a job that ended within that
        # much of its start must not end before it started.
        ended_at = state.started_at
    return BackendStatus(
        status=status, minor_status=minor, started_at=state.started_at, ended_at=ended_at, exit_code=code,
        error=error, results=list_results(snapshot.job_dir, snapshot.file_sizes, state.outputs),
    )
