"""A CallbackClient that counts what became of each report, around the real one (HTTP to the gateway).

Depends on the backends' callback port and prometheus_client only.
"""

from collections.abc import Sequence

from prometheus_client import Counter

from esap_backends.local import CallbackClient, CallbackRejectedError
from esap_messages.api import JobCallback


class CountingCallbackClient:
    def __init__(self, inner: CallbackClient, outcomes: Counter) -> None:
        self._inner = inner
        self._outcomes = outcomes

    async def report_many(self, reports: Sequence[JobCallback]) -> Sequence[bool]:
        try:
            accepted = await self._inner.report_many(reports)
        except CallbackRejectedError:
            self._outcomes.labels("rejected").inc(len(reports))
            raise
        except Exception:
            self._outcomes.labels("failed").inc(len(reports))
            raise
        taken = sum(accepted)
        if taken:
            self._outcomes.labels("delivered").inc(taken)
        if taken < len(reports):
            self._outcomes.labels("rejected").inc(len(reports) - taken)
        return accepted
