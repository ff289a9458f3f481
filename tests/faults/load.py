"""A steady load of job creations for the fault rounds: POST /uws/jobs at a fixed rate, each request on its own
(a slow answer never delays the next one), and every answer recorded: status, Retry-After, time to answer and the
job id of a 303. Times are the event loop's clock, the one the rounds mark their faults on."""

import asyncio
import contextlib
from dataclasses import dataclass

import httpx

CLIENT_TIMEOUT = 10.0
"""How long a request may go unanswered before it counts as left hanging."""


@dataclass
class Answer:
    sent: float
    """When the request left (the loop's clock)."""
    seconds: float
    """Time to the answer, or to the failure."""
    status: int | None = None
    """The HTTP status; None when there was no answer."""
    retry_after: str | None = None
    job_id: str | None = None
    """From the 303's Location."""
    failure: str | None = None
    """``unreachable`` (the connection was refused: nothing listens), ``dropped`` (the connection closed before the
    answer: the gateway died with the request in hand), ``timeout`` (left hanging), or the error."""

    @property
    def accepted(self) -> bool:
        return self.status == 303 and self.job_id is not None


class SteadyLoad:
    """Posts ``fields`` to /uws/jobs ``rate`` times a second from ``start`` until ``stop``."""

    def __init__(self, gateway_url: str, fields: dict[str, str], rate: float) -> None:
        self.fields = fields
        self.rate = rate
        self.answers: list[Answer] = []
        self._client = httpx.AsyncClient(base_url=gateway_url, timeout=CLIENT_TIMEOUT,
                                         limits=httpx.Limits(max_connections=400, max_keepalive_connections=50))
        self._pacer: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._pacer = asyncio.create_task(self._pace(), name="steady-load")

    async def stop(self) -> list[Answer]:
        """Stop sending, wait for every request in flight (each ends within CLIENT_TIMEOUT), and return the
        answers."""
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
        await asyncio.gather(*list(self._requests))
        await self._client.aclose()
        return self.answers

    async def post(self, fields: dict[str, str] | None = None) -> Answer:
        """One creation, recorded with the others."""
        loop = asyncio.get_running_loop()
        answer = Answer(sent=loop.time(), seconds=0.0)
        self.answers.append(answer)
        try:
            response = await self._client.post("/uws/jobs", data=fields or self.fields, follow_redirects=False)
        except httpx.ConnectError:
            answer.failure = "unreachable"
        except httpx.TimeoutException:
            answer.failure = "timeout"
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            answer.failure = "dropped"
        except httpx.HTTPError as exc:
            answer.failure = repr(exc)[:200]
        else:
            answer.status = response.status_code
            answer.retry_after = response.headers.get("retry-after")
            location = response.headers.get("location")
            if response.status_code == 303 and location:
                answer.job_id = location.rstrip("/").rsplit("/", 1)[-1]
        answer.seconds = loop.time() - answer.sent
        return answer

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        begin = loop.time()
        sent = 0
        while True:
            task = asyncio.create_task(self._post_quietly())
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
            sent += 1
            await asyncio.sleep(max(0.0, begin + sent / self.rate - loop.time()))

    async def _post_quietly(self) -> None:
        await self.post()
