"""Creations whose fate is unknown: a CreateJob that left for the broker but whose confirm never came (the broker
stopped or crashed at that moment) may be held by it, or lost.

Answering 503 would be wrong if the broker kept it (a job would run that its client was told failed); answering 303
would be wrong if it was lost (a job its client was promised would never exist). So the request is answered 303,
and the creation is sent again, the same message, once the broker answers: the catalog takes it if the first copy
was lost, and drops it as a duplicate (same message id, same job id) if not. Either way the job exists once. Until
it has been sent again, a read of that job answers 503 (try again): the job exists as soon as the broker is back.
The resends live in this process's memory: a gateway killed during a broker outage loses those it holds.
Must not depend on FastAPI or on a concrete client: it is given the publisher port.
"""

import asyncio
from uuid import UUID

import structlog
from prometheus_client import Counter

from esap_gateway.adapters.publisher import Publisher, PublishFailedError
from esap_messages import CreateJob

log = structlog.get_logger("esap.gateway.resending")

RETRY_SECONDS = 1.0


class CreationResender:
    def __init__(self, publisher: Publisher, *, resent: Counter | None = None,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self._publisher = publisher
        self._resent = resent
        self._retry = retry_seconds
        self._held: dict[UUID, CreateJob] = {}
        self._wake = asyncio.Event()

    def keep(self, command: CreateJob) -> None:
        """A creation to send again once the broker answers."""
        self._held[command.job_id] = command
        self._wake.set()
        log.warning("A creation's confirm was lost; it is sent again once the broker answers.",
                    job_id=str(command.job_id))

    def holds(self, job_id: UUID) -> bool:
        return job_id in self._held

    async def run(self) -> None:
        """Send the held creations again, for as long as the gateway runs."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._held:
                if await self._publisher.healthy():
                    await self._send_all()
                if self._held:
                    await asyncio.sleep(self._retry)

    async def _send_all(self) -> None:
        for job_id, command in list(self._held.items()):
            try:
                await self._publisher.publish(command)
            except PublishFailedError:
                return  # the broker went again: the next round retries
            del self._held[job_id]
            if self._resent is not None:
                self._resent.inc()
            log.info("A creation whose confirm was lost was sent again.", job_id=str(job_id))
