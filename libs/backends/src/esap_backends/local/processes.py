"""Processes of local jobs: tell whether one (or its group) still lives, find one again, signal it. Linux only
(/proc, pidfd). The launcher (``local.launcher``) starts them.

A job leads its own process group, in the submitter's session, not a session of its own: a kill reaches the whole
group either way. Where the kernel shares the CPU out by session (autogroup, for processes outside any cgroup of
their own), a session per job gave every busy payload as large a share as the whole catalog or gateway (beside
four busy jobs, a busy service got 0.40 of a core on two); in the submitter's session the jobs share the
submitter's (the service got 0.99). The services run in sessions without a terminal, so no terminal's signals
reach a job.

A process is named by its pid and its start time (/proc/<pid>/stat field 22), so a reused pid is never taken
for the job's. The submitter does not read that time back (a read of /proc/<pid>/stat per start cost more than
the rest of the bookkeeping): it notes the boot clock, in the same ticks, just before asking the launcher and
just after its answer, and the process' start time lies between. A pid reused by another process inside that
window (a few milliseconds) would need the kernel to run through its whole pid range, as it hands pids out in
increasing order. Zombies count as gone: on some hosts nothing reaps orphaned grandchildren. A kill waits for the
group with a short, growing pause: kills are rare, and a group has no single descriptor to wait on. Depends on
the standard library only.
"""

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

KILL_CONFIRM_SECONDS = 5.0
"""How long a SIGKILLed group may take to disappear before the kill counts as refused."""

_PROC = Path("/proc")
_STATE, _PGRP, _START_TICKS = 0, 2, 19  # indexes of fields 3, 5 and 22 once pid and comm are cut off
_DEAD_STATES = ("Z", "X", "x")

_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def boot_ticks() -> int:
    """Now, in the clock and unit of a process' start time (boot time, in clock ticks, rounded down as the
    kernel rounds it)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // _NS_PER_TICK


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:  # hot: each poll of a running job
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    # comm (field 2) may hold spaces and parentheses: cut at the last ')'.
    return text[text.rfind(")") + 2:].split()


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[_START_TICKS]) if fields else None


def _started_within(found: int, ticks: int | None, latest: int | None) -> bool:
    return ticks is None or ticks <= found <= (ticks if latest is None else latest)


def is_alive(pid: int, ticks: int | None, latest: int | None = None) -> bool:
    """The very process that was started (start time ``ticks``, or between ``ticks`` and ``latest``) exists and
    has not ended. Unknown ``ticks`` trust the pid."""
    fields = _stat_fields(pid)
    if fields is None or fields[_STATE] in _DEAD_STATES:
        return False
    return _started_within(int(fields[_START_TICKS]), ticks, latest)


def is_reused(pid: int, ticks: int | None, latest: int | None = None) -> bool:
    """The pid now names another process than the one that was started."""
    found = start_ticks(pid)
    return found is not None and not _started_within(found, ticks, latest)


def group_alive(pgid: int) -> bool:
    """Some process of the group still runs (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with os.scandir(_PROC) as entries:
        for entry in entries:
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                if fields and int(fields[_PGRP]) == pgid and fields[_STATE] not in _DEAD_STATES:
                    return True
    return False


def signal_group(pgid: int, signum: signal.Signals) -> bool:
    """Send a signal to the whole group; False if no such group. PermissionError propagates."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def find_group_leader(job_dir: str) -> tuple[int, int] | None:
    """The live process that leads its own group with ``job_dir`` as its working directory, and its start time:
    a job's subshell, found again when the launcher's answer naming it was lost. Reads all of /proc: rare."""
    with os.scandir(_PROC) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/cwd") != job_dir:
                    continue
                fields = _stat_fields(pid)
                if fields and int(fields[_PGRP]) == pid and fields[_STATE] not in _DEAD_STATES:
                    return pid, int(fields[_START_TICKS])
    return None


async def terminate_group(pid: int, ticks: int | None, latest: int | None, grace_seconds: float) -> bool:
    """SIGTERM the job's process group, SIGKILL it after the grace period; True once no member is left.

    PermissionError propagates (the group belongs to someone else).
    """
    if is_reused(pid, ticks, latest) or not signal_group(pid, signal.SIGTERM):
        return True
    if await wait_group_gone(pid, grace_seconds):
        return True
    signal_group(pid, signal.SIGKILL)
    return await wait_group_gone(pid, KILL_CONFIRM_SECONDS)


async def wait_group_gone(pgid: int, within: float) -> bool:
    """Whether the group disappears within ``within`` seconds (checked with a short, growing pause)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pause = 0.01
    while await asyncio.to_thread(group_alive, pgid):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.1)
    return True
