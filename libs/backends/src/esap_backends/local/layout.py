"""The job directory of the local executor: its file names, the models of job.json and the state journal, and
reads and writes of them that never show a partial state.

The state is a journal (state.jsonl): each change appends one whole line with a single write, and readers take the
last complete line. Appending costs a few microseconds; replacing a file by rename costs a journal flush on ext4
(auto_da_alloc) and blocked the event loop for milliseconds under load.

One directory per job under the work root (docs/ARCHITECTURE.md). Only the submitter writes these files; any
process (the monitor) may read them. Depends on esap_messages, pydantic and the standard library only: nothing
here knows of processes, callbacks or the bus.
"""

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from esap_messages import DiracStatus, WorkflowRun
from esap_messages.base import UtcDatetime
from esap_messages.model import OutputFile

STATE_FILE = "state.jsonl"
JOB_FILE = "job.json"
PARAMETERS_FILE = "parameters.json"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
EXIT_CODE_FILE = ".exit_code"
LAUNCH_FILE = ".launch"
RESERVED_NAMES = frozenset({STATE_FILE, JOB_FILE, PARAMETERS_FILE, STDOUT_FILE, STDERR_FILE, EXIT_CODE_FILE,
                            LAUNCH_FILE})

INCOMING_PREFIX = ".incoming-"
"""A job directory is assembled under this prefix, then renamed into place: it appears whole or not at all."""

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class KillIntent(BaseModel):
    """A kill asked for and not yet confirmed: the job ends Killed once its process is gone."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    minor_status: str
    error: str | None = None
    requested_at: UtcDatetime


class JobState(BaseModel):
    """One line of state.jsonl: where the job is, and which process runs it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    status: DiracStatus
    minor_status: str = ""
    error: str | None = None
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    pid: int | None = Field(default=None, description="The launcher's subshell: leader of the job's process group.")
    pid_start_ticks: int | None = Field(
        default=None, description="Its start time (/proc/<pid>/stat field 22), or the earliest it can be.")
    pid_start_ticks_latest: int | None = Field(
        default=None, description="The latest its start time can be; None: exactly pid_start_ticks.")
    exit_code: int | None = None
    kill: KillIntent | None = None
    execution_duration: int = 0
    outputs: tuple[OutputFile, ...] = ()
    tombstone: bool = Field(default=False, description="Killed before it was submitted: never to run.")


class JobFile(BaseModel):
    """job.json: what to run. Never holds the callback token."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    owner: str | None
    facility: str
    workflow: WorkflowRun
    parameters: dict[str, str]
    argv: tuple[str, ...]
    execution_duration: int
    submitted_at: UtcDatetime


def is_job_id(name: str) -> bool:
    """A backend job id names a directory directly under the work root: no separators, no dots."""
    return bool(_JOB_ID.match(name))


def encode_state(state: JobState) -> bytes:
    """One journal line."""
    return state.model_dump_json().encode() + b"\n"


def write_state(job_dir: str | Path, state: JobState) -> None:
    """Append the new state: one write of one line, so a reader sees it whole or not at all."""
    fd = os.open(os.path.join(job_dir, STATE_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, encode_state(state))
    finally:
        os.close(fd)


def read_state(job_dir: str | Path) -> JobState | None:
    """The job's latest state, or None when the directory holds no (readable) state."""
    try:
        with open(os.path.join(job_dir, STATE_FILE), "rb") as journal_file:
            journal = journal_file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    complete = journal[: journal.rfind(b"\n") + 1]
    for line in reversed(complete.splitlines()):
        try:
            return JobState.model_validate_json(line)
        except ValidationError:
            continue
    return None


def read_job_file(job_dir: Path) -> JobFile:
    return JobFile.model_validate_json((job_dir / JOB_FILE).read_bytes())


def file_mtime(path: str | Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except FileNotFoundError:
        return None
