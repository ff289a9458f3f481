"""Read-your-writes: a request that sends a command answers once the catalog has settled it, so that the client
following its 303 sees the change (or hears why it was refused).

The request registers its command's id before publishing; the catalog's ``CommandSettled``, arriving on the
gateway's own subscription, resolves it. ``answer`` then returns (applied) or raises the refusal in the gateway's
terms: 404 for a job that does not exist (any more), 403 for another owner's job or a change its phase does not
allow, saying which phase. The wait lasts while the catalog shows it is working: a request gives up when no
settlement at all (for any command) arrived for ``patience`` seconds, and in any case at ``bound`` seconds. Past
either the request is answered as if the command were applied, since the broker holds it and the catalog applies it
once it reaches it: so a catalog that is stopped, killed or without its database costs a request ``patience``, not
``bound``, while a catalog working through a backlog is waited for. While the subscription is down nothing can be
waited on, and requests are answered once the broker holds their command.
Must not depend on FastAPI or on a concrete client.
"""

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

import structlog
from prometheus_client import Counter

from esap_gateway.domain.errors import NotAllowedError, NotFoundError
from esap_messages import CommandRefusal, CommandSettled, Message

log = structlog.get_logger("esap.gateway.settling")


def refusal_error(settled: CommandSettled) -> Exception:
    """The refusal the client hears for a command the catalog did not apply."""
    phase = settled.phase.value if settled.phase is not None else "gone"
    if settled.refusal is CommandRefusal.UNKNOWN_JOB:
        return NotFoundError(f"No job {settled.job_id}.")
    if settled.refusal is CommandRefusal.NOT_OWNER:
        return NotAllowedError(f"Job {settled.job_id} belongs to another user.")
    if settled.refusal is CommandRefusal.FINAL:
        return NotAllowedError(f"The job has already ended ({phase}); {settled.command} changes nothing.")
    return NotAllowedError(f"The job is {phase} now; {settled.command} is not allowed in that phase.")


class Settlements:
    """The commands of this gateway's requests waiting for their settlement."""

    def __init__(self, *, bound: float, patience: float | None = None, outcomes: Counter | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._bound = bound
        self._patience = min(patience if patience is not None else bound, bound)
        self._last_settled = -float("inf")
        self._outcomes = outcomes
        self._monotonic = monotonic
        self._waiting: dict[UUID, asyncio.Future[CommandSettled]] = {}
        self._creating: dict[UUID, float] = {}
        self.live: Callable[[], bool] = lambda: False
        """Whether settlements are being received (set by whoever feeds this)."""

    def expect(self, command: Message) -> asyncio.Future[CommandSettled] | None:
        """Register ``command`` before it is published; None when nothing can be waited on now."""
        if not self.live():
            return None
        future: asyncio.Future[CommandSettled] = asyncio.get_running_loop().create_future()
        self._waiting[command.message_id] = future
        return future

    def forget(self, command: Message) -> None:
        """The command was not published after all."""
        future = self._waiting.pop(command.message_id, None)
        if future is not None and not future.done():
            future.cancel()

    def settle(self, settled: CommandSettled) -> None:
        """A settlement arrived (called by the subscription, for every gateway's commands: others are ignored)."""
        self._last_settled = self._monotonic()
        future = self._waiting.pop(settled.command_id, None)
        if future is not None and not future.done():
            future.set_result(settled)

    def creating(self, job_id: UUID) -> bool:
        """Whether this gateway sent the job's creation and has not seen it settled: a read of it may wait for it
        to be stored (the catalog's creation grace); a job id no request of this gateway made never does."""
        until = self._creating.get(job_id)
        if until is None:
            return False
        if until < self._monotonic():
            del self._creating[job_id]
            return False
        return True

    async def answer(self, command: Message, job_id: UUID, future: asyncio.Future[CommandSettled] | None,
                     *, creation: bool = False) -> None:
        """Once the catalog settled ``command`` (published, registered as ``future``): return when applied, raise
        its refusal otherwise; return when the catalog shows no progress for ``patience``, or at the bound."""
        if future is None:
            self._count("unwaited")
            if creation:
                self._remember_creation(job_id)
            return
        start = self._monotonic()
        while not future.done():
            now = self._monotonic()
            late = now - start >= self._bound
            idle = now - max(start, self._last_settled) >= self._patience
            if late or idle:
                self._waiting.pop(command.message_id, None)
                future.cancel()
                self._count("timeout" if late else "stalled")
                if creation:
                    self._remember_creation(job_id)
                log.warning("No settlement in time; answered as applied.", command=command.type_name(),
                            job_id=str(job_id), waited=round(now - start, 3),
                            why="bound" if late else "the catalog settled nothing meanwhile")
                return
            wake = min(start + self._bound, max(start, self._last_settled) + self._patience)
            await asyncio.wait((future,), timeout=max(wake - now, 0.001))
        settled = future.result()
        self._count("applied" if settled.applied else "refused")
        if not settled.applied:
            raise refusal_error(settled)

    def _remember_creation(self, job_id: UUID) -> None:
        now = self._monotonic()
        self._creating[job_id] = now + self._bound
        if len(self._creating) > 10_000:  # forget the expired ones now and then
            self._creating = {key: until for key, until in self._creating.items() if until >= now}

    def _count(self, outcome: str) -> None:
        if self._outcomes is not None:
            self._outcomes.labels(outcome).inc()
