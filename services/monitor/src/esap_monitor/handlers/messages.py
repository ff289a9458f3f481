"""The handler of the monitor queue: apply a batch of events to the tracker, nudge the poller if jobs are due,
and the catalog sync if a job came from a facility it does not know yet.

Thin: no rule lives here. Depends on the tracker and the poller, and on esap_runtime's Delivery type.
"""

import time
from collections.abc import Callable, Sequence

from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker
from esap_runtime.bus import Delivery, Handler


def monitor_queue_handler(tracker: Tracker, poller: StatusPoller, request_sync: Callable[[], None],
                          clock: Callable[[], float] = time.monotonic) -> Handler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        if tracker.apply([delivery.message for delivery in deliveries], clock()):
            poller.nudge()
        if tracker.wants_facilities:
            request_sync()

    return handle
