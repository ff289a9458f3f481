"""DiracBridgeClient: calls classic DIRAC through the bridge process, never on the event loop, always with a time
limit.

The bridge (``bridge.py``, run by DIRAC's own virtualenv) starts at the first call. Requests carry an id and the
answers, which may come in any order, are matched to them by it. A call that outlasts its time limit kills the
bridge (a hung DIRAC call cannot be interrupted any other way; an unresponsive server has held one for 34 s) and
raises BackendError, as does every other call under way; the next call starts a new bridge. DIRAC's S_ERROR
answers become BackendError (transient: connections, time-outs, credentials an operator must renew) or
PermanentBackendError (refused jobs), by ``to_backend_error``. Depends on asyncio, structlog and the backend
errors; knows nothing of jobs or JDL.
"""

import asyncio
import contextlib
import errno
import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from esap_backends.base import BackendError, PermanentBackendError

log = structlog.get_logger("esap.backends.dirac")

ANSWER_LIMIT = 64 * 1024 * 1024  # one answer line (a bulk status of many thousand jobs)
STDERR_TAIL = 30
# DIRAC's errno for credentials (proxy, certificate, group, authorisation) and DISET connections: an operator or
# time fixes them, so the message is held rather than failed.
_TRANSIENT_ERRNOS = frozenset({1101, 1102, 1103, 1104, 1105, 1106, 1107, 1110, 1111, 1121, 1150, 1151,
                               errno.ETIMEDOUT, errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH,
                               errno.ENETUNREACH, errno.ECONNABORTED})
# "URL for service ... not found": the configuration server has not answered (yet), so no service is known.
_TRANSIENT_TEXT = re.compile(r"connect|time(d)? ?out|unreachable|not available|cannot get url|url for service|"
                             r"proxy|certificate|ssl|handshake|temporar|try again|no configuration servers",
                             re.IGNORECASE)
READ_OPERATIONS = frozenset({"find_by_name", "bulk_status", "changed_since", "output_sandbox"})


class DiracCallError(BackendError):
    """A transient failure DIRAC reported; ``error`` is the bridge's error object."""

    def __init__(self, message: str, error: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.error = dict(error)


class DiracRefusedError(PermanentBackendError):
    """DIRAC refused the request for good; ``error`` is the bridge's error object."""

    def __init__(self, message: str, error: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.error = dict(error)


def to_backend_error(operation: str, error: Mapping[str, Any]) -> BackendError:
    """The bridge's error object as the backend error the callers act on."""
    message = str(error.get("message") or "DIRAC gave no reason")
    kind = error.get("kind")
    text = f"DIRAC {operation}: {message}"[:2000]
    if kind in ("refused", "usage"):
        return DiracRefusedError(text, error)
    code = error.get("errno")
    if kind == "exception" or code in _TRANSIENT_ERRNOS or _TRANSIENT_TEXT.search(message):
        return DiracCallError(text, error)
    if operation in READ_OPERATIONS:
        return DiracCallError(text, error)
    return DiracRefusedError(text, error)


class DiracBridgeClient:
    def __init__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                 timeout_seconds: float = 60.0, start_timeout_seconds: float = 60.0) -> None:
        self._command = list(command)
        self._env = dict(env) if env is not None else None
        self._timeout = timeout_seconds
        self._start_timeout = start_timeout_seconds
        self._process: asyncio.subprocess.Process | None = None
        self._readers: dict[asyncio.subprocess.Process, list[asyncio.Task[None]]] = {}
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._start_lock = asyncio.Lock()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        self.starts = 0
        self.dirac_version = ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def call(self, operation: str, args: Mapping[str, Any], *, limit_seconds: float | None = None) -> Any:
        """The value of one bridge operation; BackendError or PermanentBackendError otherwise."""
        process = await self._started()
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        limit = self._timeout if limit_seconds is None else limit_seconds
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps({"id": request_id, "op": operation, "args": dict(args)}).encode() + b"\n")
            await process.stdin.drain()
            if self._process is not process and not future.done():  # it ended before the request was made
                raise BackendError(f"DIRAC bridge exited before answering {operation}; {self._stderr_tail()}")
            answer = await asyncio.wait_for(future, limit)
        except (ConnectionError, BrokenPipeError) as exc:
            await self._kill(process, f"could not write to it: {exc!r}")
            raise BackendError(f"DIRAC bridge gone during {operation}: {exc!r}") from exc
        except TimeoutError:
            log.warning("DIRAC call timed out; the bridge is killed and starts again at the next call.",
                        operation=operation, timeout_seconds=limit)
            await self._kill(process, f"{operation} took over {limit} s")
            raise BackendError(f"DIRAC {operation} took over {limit} s; the call was killed") from None
        finally:
            self._pending.pop(request_id, None)
        if answer.get("ok"):
            return answer.get("value")
        raise to_backend_error(operation, answer.get("error") or {})

    async def close(self) -> None:
        if self._process is not None:
            await self._kill(self._process, "closed")

    # --- the process ----------------------------------------------------------------------------------------

    async def _started(self) -> asyncio.subprocess.Process:
        async with self._start_lock:
            if self._process is not None and self._process.returncode is None:
                return self._process
            return await self._start()

    async def _start(self) -> asyncio.subprocess.Process:
        self._stderr.clear()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._env, limit=ANSWER_LIMIT)
        except OSError as exc:
            raise BackendError(f"DIRAC bridge cannot start ({self._command[0]}): {exc}") from exc
        self.starts += 1
        assert process.stdout is not None and process.stderr is not None
        stderr_task = asyncio.create_task(self._drain_stderr(process.stderr), name="dirac-bridge:stderr")
        try:
            first = await asyncio.wait_for(process.stdout.readline(), self._start_timeout)
            ready = json.loads(first) if first.strip() else {}
        except (TimeoutError, ValueError) as exc:
            await self._terminate(process)
            stderr_task.cancel()
            raise BackendError(f"DIRAC bridge did not start: {exc!r}; {self._stderr_tail()}") from exc
        if not ready.get("ready"):
            await self._terminate(process)
            await asyncio.gather(stderr_task, return_exceptions=True)
            raise BackendError(f"DIRAC bridge did not start: {ready.get('error', 'it exited')}; "
                               f"{self._stderr_tail()}")
        self.dirac_version = str(ready.get("dirac_version", ""))
        log.info("DIRAC bridge started.", pid=process.pid, dirac_version=self.dirac_version)
        self._process = process
        self._readers[process] = [asyncio.create_task(self._read_answers(process), name="dirac-bridge:answers"),
                                  stderr_task]
        return process

    async def _read_answers(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                try:
                    answer = json.loads(line)
                except ValueError:
                    log.warning("DIRAC bridge wrote a line that is not JSON.", line=line[:200])
                    continue
                future = self._pending.get(answer.get("id"))
                if future is not None and not future.done():
                    future.set_result(answer)
        except (ValueError, ConnectionError) as exc:  # an answer over ANSWER_LIMIT, or a broken pipe
            log.error("DIRAC bridge answers unreadable.", error=repr(exc))
            process.kill()
        code = await process.wait()
        self._readers.pop(process, None)
        self._fail_pending(process, BackendError(f"DIRAC bridge exited with code {code}; {self._stderr_tail()}"))

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self._stderr.append(text)
            log.debug("DIRAC bridge says.", line=text)

    def _fail_pending(self, process: asyncio.subprocess.Process, error: BackendError) -> None:
        if self._process is process:
            self._process = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    async def _kill(self, process: asyncio.subprocess.Process, why: str) -> None:
        if self._process is process:
            self._process = None
        self._fail_pending(process, BackendError(f"DIRAC bridge killed: {why}"))
        await self._terminate(process)
        await asyncio.gather(*self._readers.pop(process, []), return_exceptions=True)

    @staticmethod
    async def _terminate(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()

    def _stderr_tail(self) -> str:
        return "stderr: " + " | ".join(list(self._stderr)[-5:]) if self._stderr else "no stderr"
