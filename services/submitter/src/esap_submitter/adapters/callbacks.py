"""A CallbackClient that counts what became of each report, around the real one (HTTP to the gateway).

Depends on the backends' callback port and prometheus_client only.
"""

from uuid import UUID

from prometheus_client import Counter

from esap_backends.local import CallbackClient, CallbackRejectedError
from esap_messages.api import CallbackReport


class CountingCallbackClient:
    def __init__(self, inner: CallbackClient, outcomes: Counter) -> None:
        self._inner = inner
        self._outcomes = outcomes

    async def report(self, job_id: UUID, token: str, report: CallbackReport) -> None:
        try:
            await self._inner.report(job_id, token, report)
        except CallbackRejectedError:
            self._outcomes.labels("rejected").inc()
            raise
        except Exception:
            self._outcomes.labels("failed").inc()
            raise
        self._outcomes.labels("delivered").inc()
