"""A local job's process, started by the launcher: known by its pid and a window of its start time, noted around
the launch; alone in its process group; with exactly the environment and signal dispositions it was given; and
started again by a new launcher when the old one is gone."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from esap_backends.local import processes
from esap_backends.local.launcher import Launcher, LauncherGone, launch_spec
from esap_backends.local.layout import EXIT_CODE_FILE, LAUNCH_FILE, STDERR_FILE, STDOUT_FILE

SEARCH_PATH = os.environ["PATH"]


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[Launcher]:
    started = Launcher(str(tmp_path), {"PATH": SEARCH_PATH, "LANG": "C.UTF-8"})
    yield started
    await started.close()


@pytest.fixture
def sleepers() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        processes.signal_group(pid, signal.SIGKILL)


def job_dir(root: Path, name: str, argv: list[str], env: dict[str, str] | None = None) -> Path:
    directory = root / name
    directory.mkdir()
    (directory / LAUNCH_FILE).write_bytes(launch_spec(env or {}, argv))
    return directory


async def launch_sleeper(launcher: Launcher, root: Path, name: str) -> tuple[int, int, int]:
    job_dir(root, name, ["sleep", "30"])
    earliest = processes.boot_ticks()
    pid = await launcher.launch(name)
    return pid, earliest, processes.boot_ticks()


async def exited(pid: int, seconds: float = 10.0) -> None:
    """Wait for the process to end (its pidfd turns readable; it need not be our child)."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    gone = asyncio.Event()
    loop.add_reader(fd, gone.set)
    try:
        await asyncio.wait_for(gone.wait(), seconds)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def ended(directory: Path, pid: int) -> str:
    """The job's exit code, once its process ended."""
    await exited(pid)
    return (directory / EXIT_CODE_FILE).read_text()


async def test_the_start_time_proc_reports_lies_in_the_window_noted_around_the_launch(
        tmp_path: Path, launcher: Launcher, sleepers: list[int]) -> None:
    for n in range(40):
        pid, earliest, latest = await launch_sleeper(launcher, tmp_path, f"j{n}")
        sleepers.append(pid)
        found = processes.start_ticks(pid)
        assert found is not None and earliest <= found <= latest
        assert processes.is_alive(pid, earliest, latest) and not processes.is_reused(pid, earliest, latest)


async def test_a_process_started_outside_the_window_is_not_the_jobs(
        tmp_path: Path, launcher: Launcher, sleepers: list[int]) -> None:
    pid, earliest, _ = await launch_sleeper(launcher, tmp_path, "j")
    sleepers.append(pid)
    before = earliest - 100  # a window one second earlier: the job it noted ended, and its pid was reused
    assert not processes.is_alive(pid, before - 5, before)
    assert processes.is_reused(pid, before - 5, before)


async def test_a_state_written_with_the_exact_start_time_still_names_its_process(
        tmp_path: Path, launcher: Launcher, sleepers: list[int]) -> None:
    pid, _, _ = await launch_sleeper(launcher, tmp_path, "j")
    sleepers.append(pid)
    exact = processes.start_ticks(pid)
    assert exact is not None
    assert processes.is_alive(pid, exact) and not processes.is_reused(pid, exact)
    assert not processes.is_alive(pid, exact + 1) and processes.is_reused(pid, exact + 1)
    assert processes.is_alive(pid, None)  # no start time noted at all: the pid is trusted


async def test_a_job_leads_its_own_process_group_in_the_submitters_session(
        tmp_path: Path, launcher: Launcher, sleepers: list[int]) -> None:
    pid, _, _ = await launch_sleeper(launcher, tmp_path, "j")
    sleepers.append(pid)
    assert os.getpgid(pid) == pid != os.getpgid(0)  # a kill of its group reaches it and none of ours
    assert pid != launcher.pid and os.getpgid(pid) != os.getpgid(launcher.pid or 0)
    assert os.getsid(pid) == os.getsid(0)  # no session (and scheduling group) of its own
    async with asyncio.timeout(10):  # the subshell is in the job's directory once it made stdout.txt
        while not (tmp_path / "j" / STDOUT_FILE).exists():  # noqa: ASYNC110 (another process makes it)
            await asyncio.sleep(0.005)
    assert processes.find_group_leader(str(tmp_path / "j")) == (pid, processes.start_ticks(pid))


async def test_the_payload_gets_its_environment_and_its_descriptors_and_nothing_else(
        tmp_path: Path, launcher: Launcher) -> None:
    odd = "it's a \"v\" $(id) `x` ${HOME} \\ \n second line"
    probe = "env; echo --fds--; ls /proc/$$/fd"
    directory = job_dir(tmp_path, "j", ["sh", "-c", probe], {"HOME": str(tmp_path / "j"), "ESAP_PARAM_ODD": odd})
    assert await ended(directory, await launcher.launch("j")) == "0"
    out = (directory / STDOUT_FILE).read_text()
    assert f"ESAP_PARAM_ODD={odd}\n" in out  # quotes, $(...), backquotes and newlines arrive as they were
    names = {line.split("=", 1)[0] for line in out[:out.index("--fds--")].split("\n") if "=" in line
             and line.split("=", 1)[0].isidentifier()}
    assert names <= {"PATH", "LANG", "HOME", "ESAP_PARAM_ODD", "PWD", "_"}, names
    assert {"PATH", "LANG", "HOME", "ESAP_PARAM_ODD"} <= names
    assert out[out.index("--fds--"):].split("\n")[1:-1] == ["0", "1", "2"]  # no descriptor of the service's


async def test_the_payload_starts_with_no_signal_blocked_and_the_usual_ones_not_ignored(
        tmp_path: Path, launcher: Launcher) -> None:
    # Read by the payload itself: a shell would show its own mask, which it fills while waiting for a child.
    directory = job_dir(tmp_path, "j", ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"])
    assert await ended(directory, await launcher.launch("j")) == "0"
    masks = dict(line.split(":\t") for line in (directory / STDOUT_FILE).read_text().split("\n") if line)
    assert int(masks["SigBlk"], 16) == 0
    assert int(masks["SigIgn"], 16) & (2**31 - 1) == 0  # signals 1-31 (SIGPIPE...) as usual; 32+ are libc's own


async def test_the_exit_code_and_the_output_land_in_the_job_directory(tmp_path: Path, launcher: Launcher) -> None:
    directory = job_dir(tmp_path, "j", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert await ended(directory, await launcher.launch("j")) == "3"
    assert (directory / STDOUT_FILE).read_text() == "out\n"
    assert (directory / STDERR_FILE).read_text() == "err\n"


async def test_without_a_launch_file_nothing_runs_and_no_exit_code_is_written(
        tmp_path: Path, launcher: Launcher) -> None:
    (tmp_path / "j").mkdir()
    await exited(await launcher.launch("j"))
    assert not (tmp_path / "j" / EXIT_CODE_FILE).exists()
    assert "launch" in (tmp_path / "j" / STDERR_FILE).read_text()


async def test_a_launcher_that_died_fails_its_pending_launch_and_a_new_one_starts_the_next_job(
        tmp_path: Path, launcher: Launcher) -> None:
    directory = job_dir(tmp_path, "first", ["true"])
    assert await ended(directory, await launcher.launch("first")) == "0"
    old = launcher.pid
    assert old is not None
    os.kill(old, signal.SIGSTOP)  # answers nothing from now on
    job_dir(tmp_path, "lost", ["true"])
    pending = asyncio.create_task(launcher.launch("lost"))
    await asyncio.sleep(0.05)
    os.kill(old, signal.SIGKILL)
    with pytest.raises(LauncherGone):
        await asyncio.wait_for(pending, 10)
    directory = job_dir(tmp_path, "next", ["true"])
    pid = await launcher.launch("next")
    assert launcher.pid not in (None, old)
    assert await ended(directory, pid) == "0"


async def test_a_launch_given_up_while_pending_does_not_hold_up_the_next(tmp_path: Path, launcher: Launcher) -> None:
    await launcher.start()
    job_dir(tmp_path, "given-up", ["true"])
    given_up = asyncio.create_task(launcher.launch("given-up"))
    await asyncio.sleep(0)  # asked, not answered yet
    given_up.cancel()
    directory = job_dir(tmp_path, "next", ["true"])
    pid = await asyncio.wait_for(launcher.launch("next"), 10)
    assert await ended(directory, pid) == "0"


async def test_jobs_outlive_the_launcher(tmp_path: Path, launcher: Launcher, sleepers: list[int]) -> None:
    directory = job_dir(tmp_path, "j", ["sh", "-c", "sleep 0.3; echo done"])
    pid = await launcher.launch("j")
    sleepers.append(pid)
    await launcher.close()
    assert processes.is_alive(pid, None)
    assert await ended(directory, pid) == "0"
    assert (directory / STDOUT_FILE).read_text() == "done\n"
