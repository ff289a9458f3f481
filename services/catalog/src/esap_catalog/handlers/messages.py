"""The catalog queue's consumer: hands each batch of decoded messages to the ingest service.

Acks, retries and holding on outages are the bus' business; the decisions are the ingest service's.
Depends on the bus types and the ingest service.
"""

from collections.abc import Sequence

from esap_catalog.services.ingest import IngestService
from esap_runtime.bus import Delivery, Handler


def batch_handler(ingest: IngestService) -> Handler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        await ingest.apply([d.message for d in deliveries])

    return handle
