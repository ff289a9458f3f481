"""TestPilot: plays DIRAC's pilot and job wrapper against the development DiracX, on this host.

It takes Received or Waiting jobs (acting as the optimizers too; one status change per step for all the jobs it
takes), reads each job's JDL from the server's job database (DiracX 0.7.0 has no route for it), reports Matched and
Running, runs Executable with Arguments (split as a shell would) in a directory of its own, sends one heartbeat for
all its running jobs and obeys a Kill command from it, uploads the output sandbox (tar.zst, as DiracX's own job API
makes it) with the owner's identity, and reports Done or Failed. Like DIRAC's job wrapper, it sends a job's reports
again while the server is away, so an outage of DiracX delays them and loses none. For tests and development only.
Depends on the DiracX client and the development server's layout; knows nothing of esap-batch's services.
"""

import asyncio
import base64
import contextlib
import hashlib
import io
import os
import re
import shlex
import signal
import sqlite3
import tarfile
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
import zstandard

from esap_backends.base import BackendError, PermanentBackendError
from esap_backends.diracx.client import DiracXClient
from esap_messages import DiracStatus, utcnow

log = structlog.get_logger("esap.backends.diracx.pilot")

SOURCE = "TestPilot"
SITE = "DIRAC.esap-dev.local"


@dataclass(frozen=True)
class PilotJob:
    """What the pilot needs of a JDL."""

    executable: str
    arguments: str
    stdout: str
    stderr: str
    output_sandbox: tuple[str, ...]


def read_jdl(job_db: Path, job_id: int) -> str:
    """The JDL DiracX stored for the job (zlib-compressed, base64) from its sqlite job database."""
    with contextlib.closing(sqlite3.connect(f"file:{job_db}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute("SELECT JDL FROM JobJDLs WHERE JobID = ?", (job_id,)).fetchone()
    if row is None:
        raise LookupError(f"no JDL for job {job_id}")
    text = str(row[0])
    try:
        return zlib.decompress(base64.b64decode(text)).decode()
    except (ValueError, zlib.error):
        return text


def parse_jdl(text: str) -> PilotJob:
    def string(key: str, default: str = "") -> str:
        match = re.search(rf"^\s*{key}\s*=\s*\"([^\"]*)\"\s*;", text, re.MULTILINE)
        return match.group(1) if match else default

    sandbox = re.search(r"^\s*OutputSandbox\s*=\s*(\{[^}]*\}|\"[^\"]*\")\s*;", text, re.MULTILINE | re.DOTALL)
    outputs = tuple(re.findall(r"\"([^\"]*)\"", sandbox.group(1))) if sandbox else ()
    return PilotJob(executable=string("Executable"), arguments=string("Arguments"),
                    stdout=string("StdOutput", "std.out"), stderr=string("StdError", "std.err"),
                    output_sandbox=outputs)


class TestPilot:
    __test__ = False  # not a pytest class

    def __init__(self, *, admin: DiracXClient, pilot: DiracXClient, owner: DiracXClient, job_db: Path,
                 work_dir: Path, session: aiohttp.ClientSession, poll_seconds: float = 0.3,
                 heartbeat_seconds: float = 0.5) -> None:
        self._admin, self._pilot, self._owner = admin, pilot, owner
        self._job_db = job_db
        self._work_dir = work_dir
        self._session = session
        self._poll = poll_seconds
        self._heartbeat = heartbeat_seconds
        self._running: dict[int, asyncio.Task[None]] = {}
        self._kills: dict[int, asyncio.Event] = {}
        """The jobs the heartbeat speaks for (from Running to their end), each with its Kill command's event."""
        self.paused = False
        # While set, jobs reach Running but their payload waits (heartbeating, so a Kill still ends them).
        self.hold_payloads = False
        self.finished: list[int] = []

    async def run(self) -> None:
        """Take jobs until cancelled."""
        heartbeat = asyncio.get_running_loop().create_task(self._beat())
        try:
            while True:
                if not self.paused:
                    with contextlib.suppress(Exception):
                        await self.take_jobs()
                await asyncio.sleep(self._poll)
        finally:
            heartbeat.cancel()
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(heartbeat, *self._running.values(), return_exceptions=True)

    async def _beat(self) -> None:
        """One heartbeat for all the running jobs every ``heartbeat_seconds``; a Kill command it brings back sets
        its job's event. A heartbeat the server did not take is a missed one."""
        while True:
            await asyncio.sleep(self._heartbeat)
            if not self._kills:
                continue
            try:
                commands = await self._pilot.call("PATCH", "/api/jobs/heartbeat",
                                                  body={str(job_id): {} for job_id in self._kills})
            except BackendError as exc:
                log.info("Test pilot heartbeat missed.", error=repr(exc)[:200])
                continue
            for command in commands or []:
                if isinstance(command, dict) and command.get("command") == "Kill":
                    kill = self._kills.get(int(command.get("job_id", -1)))
                    if kill is not None:
                        kill.set()

    async def take_jobs(self) -> int:
        """Match every Received or Waiting job, in one status change per step for all of them."""
        rows = await self._admin.search(("JobID", "Status"), [
            {"parameter": "Status", "operator": "in", "values": [DiracStatus.RECEIVED.value,
                                                                 DiracStatus.WAITING.value]}])
        found = {int(row["JobID"]): str(row["Status"]) for row in rows if int(row["JobID"]) not in self._running}
        received = [job_id for job_id, status in found.items() if status == DiracStatus.RECEIVED]
        waiting = [job_id for job_id, status in found.items() if status == DiracStatus.WAITING]
        waiting += await self._set_many(received, DiracStatus.WAITING, "Pilot Agent Submission")
        matched = await self._set_many(waiting, DiracStatus.MATCHED, "Assigned")
        for job_id in matched:
            self._running[job_id] = asyncio.get_running_loop().create_task(self._run_job(job_id))
        return len(matched)

    async def _set_many(self, job_ids: list[int], status: DiracStatus, minor: str) -> list[int]:
        """The jobs that reached ``status`` (not those killed meanwhile, or taken by another pilot)."""
        if not job_ids:
            return []
        fields = {"Status": status.value, "MinorStatus": minor, "Source": SOURCE}
        answer = await self._pilot.set_status({job_id: fields for job_id in job_ids}, utcnow())
        success = answer.get("success") or {}
        return [job_id for job_id in job_ids if (success.get(str(job_id)) or {}).get("Status") == status.value]

    async def _run_job(self, job_id: int) -> None:
        try:
            job = parse_jdl(await asyncio.to_thread(read_jdl, self._job_db, job_id))
            await self._execute(job_id, job)
        except Exception as exc:
            log.warning("Test pilot job failed to run.", dirac_job_id=job_id, error=repr(exc))
            with contextlib.suppress(Exception):
                await self._set(job_id, DiracStatus.FAILED, "Pilot error", application=str(exc)[:200])
        finally:
            self._kills.pop(job_id, None)
            self._running.pop(job_id, None)
            self.finished.append(job_id)

    async def _execute(self, job_id: int, job: PilotJob) -> None:
        directory = self._work_dir / str(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        await self._until_sent(lambda: self._set(job_id, DiracStatus.RUNNING, "Application", application="Running",
                                                 site=SITE))
        kill = self._kills[job_id] = asyncio.Event()
        while self.hold_payloads:
            if kill.is_set():
                log.info("Test pilot dropped a held job on command.", dirac_job_id=job_id)
                return
            await asyncio.sleep(self._heartbeat)
        with (directory / job.stdout).open("wb") as out, (directory / job.stderr).open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                job.executable, *shlex.split(job.arguments), cwd=directory, stdout=out, stderr=err,
                start_new_session=True, env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(directory)})
        killed = await self._watch(process, kill)
        if killed:
            log.info("Test pilot killed a job on command.", dirac_job_id=job_id)
            return
        code = process.returncode
        await self._until_sent(lambda: self._upload_outputs(job_id, directory, job.output_sandbox))
        if code == 0:
            await self._until_sent(lambda: self._set(job_id, DiracStatus.DONE, "Execution Complete",
                                                     application="Finished successfully"))
        else:
            await self._until_sent(lambda: self._set(job_id, DiracStatus.FAILED, "Application Finished With Errors",
                                                     application=f"exit code {code}"))

    async def _until_sent(self, send: Callable[[], Awaitable[object]]) -> None:
        """Send a job's report again until the server takes it: DIRAC's job wrapper keeps a report it could not
        send (a failover request) and sends it later, so a server away for a while delays a job's end, never
        loses it. A refusal (PermanentBackendError) is not retried."""
        pause = 0.5
        while True:
            try:
                await send()
                return
            except PermanentBackendError:
                raise
            except BackendError as exc:
                log.info("Test pilot could not reach DiracX; sending again.", error=repr(exc)[:200], retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    @staticmethod
    async def _watch(process: asyncio.subprocess.Process, kill: asyncio.Event) -> bool:
        """Wait for the payload; True when a Kill command ended it."""
        ended = asyncio.ensure_future(process.wait())
        killed = asyncio.ensure_future(kill.wait())
        try:
            await asyncio.wait((ended, killed), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            ended.cancel()
            raise
        finally:
            killed.cancel()
        if ended.done():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await ended
        return True

    async def _upload_outputs(self, job_id: int, directory: Path, names: tuple[str, ...]) -> None:
        archive = await asyncio.to_thread(_tar, directory, names)
        if archive is None:
            return
        checksum = hashlib.sha256(archive).hexdigest()
        answer = await self._owner.call("POST", "/api/jobs/sandbox", body={
            "checksum_algorithm": "sha256", "checksum": checksum, "size": len(archive), "format": "tar.zst"})
        if answer.get("url"):
            form = aiohttp.FormData()
            for key, value in (answer.get("fields") or {}).items():
                form.add_field(key, value)
            form.add_field("file", archive, filename="output.tar.zst")
            async with self._session.post(answer["url"], data=form) as response:
                response.raise_for_status()
        await self._owner.call("PATCH", f"/api/jobs/{job_id}/sandbox/output", body=answer["pfn"])

    async def _set(self, job_id: int, status: DiracStatus, minor: str, *, application: str | None = None,
                   site: str | None = None) -> dict[str, Any]:
        fields = {"Status": status.value, "MinorStatus": minor, "Source": SOURCE}
        if application is not None:
            fields["ApplicationStatus"] = application
        answer = await self._pilot.set_status({job_id: fields}, utcnow())
        if site is not None:
            await self._pilot.call("PATCH", "/api/jobs/metadata", body={str(job_id): {"Site": site}})
        result: dict[str, Any] = (answer.get("success") or {}).get(str(job_id)) or {}
        return result


def _tar(directory: Path, names: tuple[str, ...]) -> bytes | None:
    present = [name for name in names if (directory / name).is_file()]
    if not present:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        for name in present:
            archive.add(directory / name, arcname=name)
    return zstandard.ZstdCompressor().compress(buffer.getvalue())  # tar.zst, as DiracX's own job API uploads
