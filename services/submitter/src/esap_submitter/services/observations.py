"""What the local executor sees itself, published at once: a job's process started, a job's process ended.

The executor watches its processes (pidfd), so it knows of a start or an end the moment it happens; publishing
that as ``JobStatusObserved`` (source ``submitter``) saves the detour through the job's callback and the
monitor's poll. A start seen while the job is submitted travels in its JobSubmitted instead. The callback is
still made, and the monitor's polling remains the source of truth when a report here is lost (the bus down,
the submitter killed before its publish confirmed). Observations seen before the bus is connected (jobs
re-attached at start-up) wait for it. Depends on the backend interface, the message contracts and a publish
callable; knows nothing of AMQP.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import structlog

from esap_backends import BackendStatus, to_status_observed
from esap_messages import DiracStatus, Message, StatusSource

log = structlog.get_logger("esap.submitter.observations")

PublishMany = Callable[[Sequence[Message]], Awaitable[None]]


class OwnObservations:
    def __init__(self) -> None:
        self._publish: PublishMany | None = None
        self._waiting: list[Message] = []
        self._due: list[Message] = []  # published together at the loop's next turn
        self._starts: dict[UUID, BackendStatus] = {}
        self._backend_ids: dict[UUID, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, job_id: UUID, status: BackendStatus, backend_job_id: str | None = None) -> None:
        """A status the executor saw itself (called on the event loop; never blocks). A start seen while the
        job is being submitted is kept for ``claim_start`` until the loop's next turn, then published."""
        if status.status is DiracStatus.RUNNING and not status.is_final:
            self._starts[job_id] = status
            self._backend_ids[job_id] = backend_job_id
            asyncio.get_running_loop().call_soon(self._unclaimed, job_id)
            return
        self._put(to_status_observed(job_id, status, StatusSource.SUBMITTER, backend_job_id=backend_job_id))

    def claim_start(self, job_id: UUID) -> BackendStatus | None:
        """The start seen while submitting this job, if any: the caller reports it with the submission itself
        (one event instead of two), and it is not published on its own."""
        self._backend_ids.pop(job_id, None)
        return self._starts.pop(job_id, None)

    def _unclaimed(self, job_id: UUID) -> None:
        status = self._starts.pop(job_id, None)
        backend_job_id = self._backend_ids.pop(job_id, None)
        if status is not None:
            self._put(to_status_observed(job_id, status, StatusSource.SUBMITTER, backend_job_id=backend_job_id))

    def _put(self, message: Message) -> None:
        if self._publish is None:
            self._waiting.append(message)
            return
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(message)

    def _flush(self) -> None:
        due, self._due = self._due, []
        if due and self._publish is not None:
            self._send(self._publish, due)
        elif due:
            self._waiting.extend(due)

    def connect(self, publish: PublishMany) -> None:
        """Publish from now on, starting with what waited for the bus."""
        self._publish = publish
        waiting, self._waiting = self._waiting, []
        if waiting:
            self._send(publish, waiting)

    async def close(self) -> None:
        """Publish the starts not yet published and wait for the publishes under way (the bus is still open)."""
        for job_id in list(self._starts):
            self._unclaimed(job_id)
        self._flush()
        self._publish = None
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _send(self, publish: PublishMany, messages: list[Message]) -> None:
        # A context of its own: the publish must not log under the job that happened to be handled meanwhile.
        task = asyncio.get_running_loop().create_task(self._publish_now(publish, messages),
                                                      context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _publish_now(publish: PublishMany, messages: list[Message]) -> None:
        try:
            await publish(messages)
        except Exception as exc:
            log.warning("Could not publish what the executor saw; the monitor's polling reports it instead.",
                        observations=len(messages), error=repr(exc))
