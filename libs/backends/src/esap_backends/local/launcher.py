"""The launcher: one long-lived bash beside the submitter that starts the local jobs.

The submitter writes a job's id on the launcher's stdin; the launcher forks a subshell for it and answers its
pid on stdout, in the order asked. The subshell leads its own process group (``set -m``), goes into the job's
directory, sends its output to the job's files at once (so ``stdout.txt`` shows that the job started, and a
failure to read ``.launch`` lands in ``stderr.txt``), exports the job's environment from ``.launch``, runs the
payload and records its exit code, even if the submitter and the launcher are gone by then. Without an exit code
the job counts as failed. The launcher reaps its subshells.

Why a launcher and not a spawn per job from the submitter: ``posix_spawn`` holds its caller until the child has
exec'd, and on a busy host that wait (0.6 ms at the median, 1.8 ms at the 90th percentile, measured in the
loaded chain) blocked the submitter's event loop for every job; the chain was bound by that wait rather than by
CPU. A fork of a small bash also costs less than an exec of a wrapper shell (the dynamic loader, and its ``cpuid``
probes, which trap on a virtual machine). The launcher is started with the jobs' PATH and LANG already set:
assigning LANG makes bash reload its locale, which cost 0.2 ms per job.

``.launch`` holds NUL-terminated fields: the number N of environment entries, N entries ``NAME=value``, then the
argv. Values are never parsed by the shell: ``mapfile`` reads them and ``export``/``"${argv[@]}"`` take them
whole. Depends on the standard library, structlog and the layout's file names only.
"""

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Mapping, Sequence

import structlog

from esap_backends.local.layout import EXIT_CODE_FILE, LAUNCH_FILE, STDERR_FILE, STDOUT_FILE

log = structlog.get_logger("esap.backends.local.launcher")

BASH = "/bin/bash"

SCRIPT = f"""
set -m
cd -- "$1" || exit 1
while IFS= read -r job; do
  (
    cd -- "$job" || exit
    exec >{STDOUT_FILE} 2>{STDERR_FILE}
    mapfile -d '' -t spec <{LAUNCH_FILE} || exit
    n=${{spec[0]}}
    unset OLDPWD SHLVL
    if ((n)); then export -- "${{spec[@]:1:n}}" || exit; fi
    "${{spec[@]:n+1}}"
    printf %s $? >{EXIT_CODE_FILE}
  ) </dev/null >/dev/null 2>&1 &
  printf '%s\\n' "$!"
  disown
done
"""
"""Run as ``bash -c SCRIPT esap-launcher <work root>``; each line read names a job directory under the root."""

STOP_SECONDS = 5.0
"""How long the launcher may take to exit once its stdin is closed (it exits at once; its jobs go on)."""


class LauncherGone(Exception):
    """The launcher stopped before it answered; the job may or may not have started."""


def launch_spec(env: Mapping[str, str], argv: Sequence[str]) -> bytes:
    """The content of ``.launch``; ValueError if a field holds a NUL (it could not be told apart)."""
    fields = [str(len(env)), *(f"{name}={value}" for name, value in env.items()), *argv]
    if any("\x00" in field for field in fields):
        raise ValueError("a job's environment or argv holds a NUL character")
    return b"".join(field.encode() + b"\x00" for field in fields)


class Launcher:
    """Starts jobs through one bash process, started on first use and again after it stopped."""

    def __init__(self, work_root: str, base_env: Mapping[str, str]) -> None:
        self._root = work_root
        self._env = dict(base_env)
        self._process: asyncio.subprocess.Process | None = None
        self._pending: deque[asyncio.Future[int]] = deque()
        """Launches asked of the running launcher, in order; each launcher has its own."""
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The launcher's own pid, while it runs."""
        return self._process.pid if self._process is not None else None

    async def launch(self, job_id: str) -> int:
        """Start the job whose directory (with its ``.launch``) is ``<root>/<job_id>``; the pid of its process,
        which leads the job's process group. LauncherGone if the launcher stopped before answering."""
        process = self._process if self._process is not None else await self.start()
        assert process.stdin is not None
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        pending = self._pending
        pending.append(answer)
        try:
            process.stdin.write(job_id.encode() + b"\n")
        except OSError:
            pending.remove(answer)
            raise
        return await answer

    async def close(self) -> None:
        """Let the launcher go: it exits once its stdin is closed; the jobs it started keep running."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # the launcher alone: every job leads a process group of its own
            await process.wait()
        if self._reader is not None:
            await self._reader

    async def start(self) -> asyncio.subprocess.Process:
        """Start the launcher unless it runs; ``launch`` also starts it when needed."""
        async with self._starting:
            if self._process is None:
                os.makedirs(self._root, exist_ok=True)  # the work root is made on demand
                self._process = await asyncio.create_subprocess_exec(
                    BASH, "--norc", "--noprofile", "-c", SCRIPT, "esap-launcher", self._root, env=self._env,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                self._pending = deque()
                self._reader = asyncio.get_running_loop().create_task(
                    self._read_answers(self._process, self._pending))
                log.info("Job launcher started.", pid=self._process.pid, work_root=self._root)
            return self._process

    async def _read_answers(self, process: asyncio.subprocess.Process,
                            pending: deque[asyncio.Future[int]]) -> None:
        """Hand each answer to the launch that asked for it (the oldest unanswered); a launch given up meanwhile
        (its task cancelled) still takes its answer, so the ones after it get theirs."""
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                if not pending:
                    log.error("The job launcher answered what was not asked.", line=line[:80].decode(errors="replace"))
                    continue
                answer = pending.popleft()
                if answer.done():
                    continue
                try:
                    answer.set_result(int(line))
                except ValueError:
                    answer.set_exception(LauncherGone(f"the launcher answered {line[:80]!r}"))
        finally:
            returncode = await process.wait()
            if self._process is process:
                self._process = None
                log.error("Job launcher stopped; the next job starts a new one.", returncode=returncode,
                          unanswered=len(pending))
            while pending:
                answer = pending.popleft()
                if not answer.done():
                    answer.set_exception(LauncherGone("the launcher stopped before it answered"))
