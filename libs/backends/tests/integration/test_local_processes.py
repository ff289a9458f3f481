"""A local job's process is known by its pid and a window of its start time, noted around the spawn: the window
holds the start time /proc reports, and a process started outside it is not taken for the job's."""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from esap_backends.local import processes


def spawn_sleeper(job_dir: Path) -> tuple[int, int, int]:
    earliest = processes.boot_ticks()
    pid = processes.spawn(["sleep", "30"], job_dir, {"PATH": os.environ["PATH"]})
    return pid, earliest, processes.boot_ticks()


@pytest.fixture
def sleepers() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        processes.signal_group(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_the_start_time_proc_reports_lies_in_the_window_noted_around_the_spawn(
        tmp_path: Path, sleepers: list[int]) -> None:
    for _ in range(40):
        pid, earliest, latest = spawn_sleeper(tmp_path)
        sleepers.append(pid)
        found = processes.start_ticks(pid)
        assert found is not None and earliest <= found <= latest
        assert processes.is_alive(pid, earliest, latest) and not processes.is_reused(pid, earliest, latest)


def test_a_process_started_outside_the_window_is_not_the_jobs(tmp_path: Path, sleepers: list[int]) -> None:
    pid, earliest, _ = spawn_sleeper(tmp_path)
    sleepers.append(pid)
    before = earliest - 100  # a window one second earlier: the job it noted ended, and its pid was reused
    assert not processes.is_alive(pid, before - 5, before)
    assert processes.is_reused(pid, before - 5, before)


def test_a_state_written_with_the_exact_start_time_still_names_its_process(tmp_path: Path, sleepers: list[int]) -> None:
    pid, _, _ = spawn_sleeper(tmp_path)
    sleepers.append(pid)
    exact = processes.start_ticks(pid)
    assert exact is not None
    assert processes.is_alive(pid, exact) and not processes.is_reused(pid, exact)
    assert not processes.is_alive(pid, exact + 1) and processes.is_reused(pid, exact + 1)
    assert processes.is_alive(pid, None)  # no start time noted at all: the pid is trusted


def test_a_job_leads_its_own_process_group_in_the_submitters_session(tmp_path: Path, sleepers: list[int]) -> None:
    pid, _, _ = spawn_sleeper(tmp_path)
    sleepers.append(pid)
    assert os.getpgid(pid) == pid != os.getpgid(0)  # a kill of its group reaches it and none of ours
    assert os.getsid(pid) == os.getsid(0)  # no session (and scheduling group) of its own
