"""The submitter queue's handler: decode, dispatch by message type, publish what the service returns.

Thin by design: context is bound for the logs, the decision is the service's. The bus acks after this returns
(so after the events are confirmed), retries on RetryLaterError, dead-letters anything else. Depends on the
runtime's Bus and the SubmissionService.
"""

from collections.abc import Awaitable, Callable, Sequence

import structlog

from esap_messages import KillJob, Message, SubmitJob
from esap_runtime.bus import Bus, Delivery, Handler
from esap_submitter.services.submission import SubmissionService

log = structlog.get_logger("esap.submitter.handlers")

Route = Callable[[Message, int], Awaitable[list[Message]]]


def submitter_handler(service: SubmissionService, bus: Bus) -> Handler:
    async def submit(message: Message, attempt: int) -> list[Message]:
        assert isinstance(message, SubmitJob)
        return await service.submit(message, attempt)

    async def kill(message: Message, attempt: int) -> list[Message]:
        assert isinstance(message, KillJob)
        return await service.kill(message, attempt)

    routes: dict[type[Message], Route] = {SubmitJob: submit, KillJob: kill}

    async def handle(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            message = delivery.message
            with structlog.contextvars.bound_contextvars(
                job_id=str(getattr(message, "job_id", "")), message_id=str(message.message_id),
                message_type=message.type_name(), attempt=delivery.attempt,
            ):
                route = routes.get(type(message))
                if route is None:
                    log.warning("Message of a type the submitter does not handle, dropped.")
                    continue
                await bus.publish_many(await route(message, delivery.attempt))

    return handle
