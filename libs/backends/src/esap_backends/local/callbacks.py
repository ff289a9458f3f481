"""How a local job reports back: the CallbackClient port, its HTTP adapter to the gateway, and a sender that
posts each job's reports in order without ever holding the job up.

Callbacks are hints (the monitor reads the job directory for the truth): a report that cannot be delivered is
logged and dropped. Depends on aiohttp, structlog and esap_messages.api.
"""

import asyncio
from typing import Protocol
from uuid import UUID

import aiohttp
import structlog

from esap_messages.api import CallbackReport

log = structlog.get_logger("esap.backends.callbacks")


class CallbackError(Exception):
    """A report could not be delivered."""


class CallbackRejectedError(CallbackError):
    """The gateway refused the report (4xx): sending it again cannot help."""


class CallbackClient(Protocol):
    async def report(self, job_id: UUID, token: str, report: CallbackReport) -> None:
        """Deliver one report; raise CallbackError if it could not be."""
        ...


class HttpCallbackClient:
    """POSTs reports to ``{gateway_url}/uws/jobs/{job_id}/callback`` with the job's bearer token.

    Connection errors, timeouts and 5xx are tried again with backoff; a 4xx is final.
    """

    def __init__(self, session: aiohttp.ClientSession, gateway_url: str, *, attempts: int = 4,
                 backoff_seconds: float = 0.25, timeout_seconds: float = 10.0) -> None:
        self._session = session
        self._base = gateway_url.rstrip("/")
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def report(self, job_id: UUID, token: str, report: CallbackReport) -> None:
        url = f"{self._base}/uws/jobs/{job_id}/callback"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = report.model_dump_json()
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._session.post(url, data=body, headers=headers, timeout=self._timeout) as response:
                    if response.status < 400:
                        return
                    if response.status < 500:
                        raise CallbackRejectedError(f"the gateway refused the report: HTTP {response.status}")
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = repr(exc)
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        raise CallbackError(f"report not delivered after {self._attempts} attempts: {problem}")


class CallbackSender:
    """Sends reports in the background, each job's in the order given (Running before its final report)."""

    def __init__(self, client: CallbackClient | None) -> None:
        self._client = client
        self._last: dict[UUID, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, job_id: UUID, token: str, report: CallbackReport) -> None:
        if self._client is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(self._client, self._last.get(job_id), job_id, token, report))
        self._last[job_id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(job_id, done))

    async def close(self, drain_seconds: float = 2.0) -> None:
        """Give reports under way a moment to go out, then drop the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=drain_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._last.clear()

    async def _deliver(self, client: CallbackClient, previous: asyncio.Task[None] | None, job_id: UUID,
                       token: str, report: CallbackReport) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await client.report(job_id, token, report)
        except CallbackRejectedError as exc:
            # Usual when the monitor ended the job first: the gateway no longer takes reports for it.
            log.info("Job callback refused by the gateway.", job_id=str(job_id), status=report.status.value,
                     error=str(exc))
        except Exception as exc:
            log.warning("Job callback not delivered.", job_id=str(job_id), status=report.status.value,
                        error=str(exc))

    def _forget(self, job_id: UUID, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(job_id) is task:
            del self._last[job_id]
