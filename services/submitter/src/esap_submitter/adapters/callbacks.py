"""A CallbackClient that counts what became of each report, around the real one (HTTP to the gateway).

Depends on the backends' callback port, esap_messages.api and prometheus_client only.
"""

from collections.abc import Sequence

from prometheus_client import Counter

from esap_backends.local import CallbackClient, CallbackRejectedError
from esap_messages.api import JobCallback, ReportOutcome


class CountingCallbackClient:
    def __init__(self, inner: CallbackClient, outcomes: Counter) -> None:
        self._inner = inner
        self._outcomes = outcomes

    async def report_many(self, reports: Sequence[JobCallback]) -> Sequence[ReportOutcome]:
        try:
            outcomes = await self._inner.report_many(reports)
        except CallbackRejectedError:
            self._outcomes.labels("rejected").inc(len(reports))
            raise
        except Exception:
            self._outcomes.labels("failed").inc(len(reports))
            raise
        for outcome in outcomes:
            self._outcomes.labels("delivered" if outcome.accepted else "late" if outcome.late else "rejected").inc()
        return outcomes
