"""The notifier: delivers the notifications the batch transactions stored when jobs ended, apart from them.

Woken after a commit that stored some, and otherwise when the next one falls due (at most ``poll_seconds`` apart,
so a row a restart or another catalog left is found). Each round claims due rows (leased, see
storage.notifications), sends them at once, and records each outcome: delivered; failed, tried again after an
exponential backoff (``esap_messages.notify.backoff``) until ``retry_seconds`` after the job's end, then given up;
refused (a destination not allowed), given up at once. At least once: the receiver tells a repeat by the
``X-Esap-Delivery`` key, the row's id. A delivery never holds up a job's phase change: it runs after that commit.
Depends on storage (notifications), the adapters' senders and error types, and metrics.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from esap_catalog.adapters.delivery import RefusedError
from esap_catalog.adapters.mail import MailSender
from esap_catalog.adapters.webhooks import WebhookSender
from esap_catalog.metrics import CatalogMetrics
from esap_catalog.storage.notifications import Claimed, NotificationStore
from esap_messages import utcnow
from esap_messages.notify import TargetKind, backoff, parse_target

log = structlog.get_logger("esap.catalog.notifier")


class Notifier:
    def __init__(self, store: NotificationStore, webhooks: WebhookSender, mail: MailSender, metrics: CatalogMetrics,
                 *, backoff_seconds: float, backoff_max_seconds: float, retry_seconds: float,
                 poll_seconds: float, lease_seconds: float = 120.0, batch_size: int = 50,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._webhooks = webhooks
        self._mail = mail
        self._metrics = metrics
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._retry = timedelta(seconds=retry_seconds)
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch_size
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: deliver what is due, then sleep until the next row falls due or a commit wakes it."""
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
                pause = await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = self._poll
                log.warning("Notifier round failed; trying again.", retry_in=pause, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def deliver_due(self) -> int:
        """Deliver every row due now; returns how many attempts were made."""
        total = 0
        while True:
            now = self._clock()
            claimed = await self._store.claim(self._batch, now, now + self._lease)
            if claimed:
                secrets = await self._store.secrets({c.owner for c in claimed if c.kind is TargetKind.WEBHOOK})
                await asyncio.gather(*(self._deliver(c, secrets.get(c.owner, "")) for c in claimed))
            total += len(claimed)
            if len(claimed) < self._batch:
                return total

    async def _refresh(self) -> float:
        """Set the pending gauges; the seconds until the next row falls due (at most ``poll_seconds``)."""
        pending = await self._store.pending()
        now = self._clock()
        self._metrics.notifications_pending.set(pending.count)
        self._metrics.notifications_oldest.set(
            0.0 if pending.oldest is None else max(0.0, (now - pending.oldest).total_seconds()))
        if pending.next_due is None:
            return self._poll
        return min(self._poll, max(0.01, (pending.next_due - now).total_seconds()))

    async def _deliver(self, notice: Claimed, secret: str) -> None:
        kind = notice.kind.value
        try:
            target = parse_target(notice.target)
            if target.kind is TargetKind.WEBHOOK:
                await self._webhooks.send(target.value, notice.document, secret=secret, delivery_id=notice.id)
            else:
                await self._mail.send(target.value, notice.document, delivery_id=str(notice.id))
        except Exception as exc:
            await self._failed(notice, exc)
            return
        await self._store.delivered(notice.id, self._clock())
        self._metrics.notifications.labels(kind, "delivered").inc()
        log.info("Notification delivered.", job_id=str(notice.job_id), delivery=str(notice.id), kind=kind,
                 attempts=notice.attempts)

    async def _failed(self, notice: Claimed, exc: Exception) -> None:
        now = self._clock()
        error = str(exc) or type(exc).__name__
        retry_at = now + timedelta(seconds=backoff(notice.attempts, base=self._backoff, cap=self._backoff_max))
        if isinstance(exc, RefusedError | ValueError):  # not allowed, or no way to send: never better later
            outcome, retry, given_up = "refused", None, now
        elif retry_at > notice.created_at + self._retry:
            outcome, retry, given_up = "abandoned", None, now
        else:
            outcome, retry, given_up = "failed", retry_at, None
        await self._store.failed(notice.id, error, retry_at=retry, given_up_at=given_up)
        self._metrics.notifications.labels(notice.kind.value, outcome).inc()
        log.info("Notification not delivered.", job_id=str(notice.job_id), delivery=str(notice.id),
                 kind=notice.kind.value, outcome=outcome, attempts=notice.attempts, error=error[:300])
