"""How local jobs report back: the CallbackClient port, its HTTP adapter to the gateway, and a sender that posts
the reports of all jobs together without ever holding a job up.

Each job still reports with its own token, but the reports that become due while a request is out go in the next
one, as a CallbackBatch to ``POST /uws/callbacks``: under load the gateway takes hundreds of jobs' reports in a
request instead of one request per report. A report waits ``delay_seconds`` before it is sent: the submitter
publishes the same start or end on the bus at once, and once the catalog holds it the gateway has nothing to
publish for the report (a Running it knows is no news, an end after the job's end is refused). One request is out
at a time, so a job's reports arrive in order (Running before its final report). Callbacks are hints (the monitor
reads the job directory for the truth): a report that cannot be delivered is logged and dropped. Depends on
aiohttp, structlog, the backend interface's statuses, esap_messages.api and esap_runtime.internal_http.
"""

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import aiohttp
import structlog
from pydantic import ValidationError

from esap_messages import FINAL_STATUSES
from esap_messages.api import CallbackBatch, CallbackReport, JobCallback, ReportOutcome, ReportOutcomes
from esap_runtime.internal_http import InternalHttpClient

log = structlog.get_logger("esap.backends.callbacks")

MAX_REPORTS_PER_REQUEST = 500


class CallbackError(Exception):
    """Reports could not be delivered."""


class CallbackRejectedError(CallbackError):
    """The gateway refused the request (4xx): sending it again cannot help."""


class CallbackClient(Protocol):
    async def report_many(self, reports: Sequence[JobCallback]) -> Sequence[ReportOutcome]:
        """Deliver the reports; what the gateway made of each, in order. Raise CallbackError if they were not
        delivered."""
        ...


class HttpCallbackClient:
    """POSTs CallbackBatches to ``{gateway_url}/uws/callbacks``.

    Connection errors, timeouts and 5xx are tried again with backoff; a 4xx is final. (Not idempotent: the
    gateway publishes what a report says, so the internal client never sends it again by itself.)
    """

    def __init__(self, http: InternalHttpClient, gateway_url: str, *, attempts: int = 4,
                 backoff_seconds: float = 0.25, timeout_seconds: float = 10.0) -> None:
        self._http = http
        self._url = gateway_url.rstrip("/") + "/uws/callbacks"
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def report_many(self, reports: Sequence[JobCallback]) -> Sequence[ReportOutcome]:
        body = CallbackBatch(reports=list(reports)).model_dump_json()
        headers = {"Content-Type": "application/json"}
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._http.request("POST", self._url, data=body, headers=headers,
                                              timeout=self._timeout) as response:
                    if response.status == 200:
                        return _outcomes(await response.read(), reports)
                    if response.status < 500:
                        raise CallbackRejectedError(f"the gateway refused the reports: HTTP {response.status}")
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = repr(exc)
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        raise CallbackError(f"reports not delivered after {self._attempts} attempts: {problem}")


def _outcomes(body: bytes, reports: Sequence[JobCallback]) -> list[ReportOutcome]:
    try:
        outcomes = ReportOutcomes.model_validate_json(body).outcomes
    except ValidationError as exc:
        raise CallbackError(f"the gateway's answer is not ReportOutcomes: {str(exc)[:200]}") from None
    if [o.job_id for o in outcomes] != [r.job_id for r in reports]:
        raise CallbackError("the gateway's outcomes do not match the reports sent")
    return outcomes


class CallbackSender:
    """Sends reports in the background, batched, in the order given, each once ``delay_seconds`` have passed.

    One queue and one task for all jobs: the task sleeps until the oldest report is due, sends every report due
    by then in one request, and stops when the queue is empty.
    """

    def __init__(self, client: CallbackClient | None, delay_seconds: float = 0.0) -> None:
        self._client = client
        self._delay = delay_seconds
        self._queue: deque[tuple[float, JobCallback]] = deque()
        self._hurry = asyncio.Event()  # set by close: what is queued goes now
        self._pump: asyncio.Task[None] | None = None

    def send(self, job_id: UUID, token: str, report: CallbackReport) -> None:
        if self._client is None:
            return
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + self._delay, JobCallback(job_id=job_id, token=token, report=report)))
        if self._pump is None or self._pump.done():
            # A context of its own: the sender must not log under the job that happened to be handled meanwhile.
            self._pump = loop.create_task(self._run(), context=contextvars.Context())

    async def close(self, drain_seconds: float = 2.0) -> None:
        """Send what is queued at once, give it ``drain_seconds`` to go out, then drop the rest."""
        pump, self._pump = self._pump, None
        if pump is None:
            return
        self._hurry.set()
        await asyncio.wait({pump}, timeout=drain_seconds)
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        self._queue.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            wait = self._queue[0][0] - loop.time()
            if wait > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), wait)
            now = loop.time()
            batch: list[JobCallback] = []
            while self._queue and len(batch) < MAX_REPORTS_PER_REQUEST and (
                    self._hurry.is_set() or self._queue[0][0] <= now):
                batch.append(self._queue.popleft()[1])
            await self._deliver(batch)

    async def _deliver(self, batch: list[JobCallback]) -> None:
        assert self._client is not None
        try:
            outcomes = await self._client.report_many(batch)
        except Exception as exc:
            log.warning("Job callbacks not delivered.", reports=len(batch), error=str(exc),
                        job_ids=[str(item.job_id) for item in batch[:20]])
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if not outcome.accepted:
                # Late is usual: the executor reported the end on the bus at once, and the gateway takes no
                # report for an ended job.
                level = log.debug if outcome.late or item.report.status in FINAL_STATUSES else log.info
                level("Job callback refused by the gateway.", job_id=str(item.job_id),
                      status=item.report.status.value, late=outcome.late)
