"""Notifications through the catalog on real PostgreSQL and RabbitMQ, to a real SMTP server and a real HTTP
receiver on loopback: a job that ends with NOTIFY targets is told of once per target, signed with its owner's
secret; a failing receiver is tried again under one idempotency key; destinations the allowlist or the
private-address rule refuse are refused at delivery and recorded; a job without targets writes nothing."""

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from esap_messages import CreateJob, new_id
from esap_messages.notify import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from esap_runtime.bus import Bus
from esap_runtime.receivers import SmtpReceiver, WebhookReceiver, wait_until

from .conftest import GRACE, Catalog, StartCatalog, eventually


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def smtp() -> Any:
    server = SmtpReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def catalog(start_catalog: StartCatalog, hooks: WebhookReceiver, smtp: SmtpReceiver
                  ) -> AsyncIterator[Catalog]:
    async with start_catalog(notify_allowed_urls=f"{hooks.url}/", smtp_url=SecretStr(smtp.url),
                             notify_backoff_seconds=0.2, notify_poll_seconds=0.5,
                             gateway_url="https://esap.example.org") as running:
        yield running


def ended_at_once(*targets: str, owner: str = "alice") -> CreateJob:
    """A job that ends ERROR in the batch that makes it (its workflow is unknown): the shortest way to an end."""
    return CreateJob(job_id=new_id(), owner=owner, workflow="no-such-workflow", facility="local",
                     notify=list(targets))


async def view(catalog: Catalog, job: CreateJob) -> dict[str, Any]:
    return (await catalog.http.get(f"/internal/jobs/{job.job_id}", params=GRACE)).json()  # type: ignore[no-any-return]


async def test_an_ended_job_sends_one_mail_and_one_signed_webhook(catalog: Catalog, bus: Bus, hooks: WebhookReceiver,
                                                                  smtp: SmtpReceiver) -> None:
    job = ended_at_once("mailto:alice@example.org", f"{hooks.url}/hook")
    await bus.publish(job)
    await wait_until(lambda: hooks.delivered and smtp.mails)
    secret = (await catalog.http.post("/internal/accounts", json={"owner": "alice"})).json()["webhook_secret"]
    hook = hooks.delivered[0]
    assert verify(secret, hook.body, hook.headers[SIGNATURE_HEADER])
    assert hook.path == "/hook"
    document = json.loads(hook.body)
    assert document["job_id"] == str(job.job_id) and document["phase"] == "ERROR"
    assert document["url"] == f"https://esap.example.org/uws/jobs/{job.job_id}"
    assert "unknown workflow" in document["error"]["message"]
    mail = smtp.mails[0]
    assert mail["To"] == "alice@example.org" and str(job.job_id) in mail["Subject"]
    assert "ERROR" in mail.get_content()

    async def both_delivered() -> bool:
        return {n["state"] for n in (await view(catalog, job))["notifications"]} == {"delivered"}

    await eventually(both_delivered)
    assert catalog.sample("catalog_notifications_total", kind="webhook", outcome="delivered") == 1
    assert catalog.sample("catalog_notifications_total", kind="mail", outcome="delivered") == 1
    assert len(hooks.received) == 1 and len(smtp.mails) == 1


async def test_a_failing_receiver_gets_it_later_under_one_key(catalog: Catalog, bus: Bus,
                                                              hooks: WebhookReceiver) -> None:
    hooks.fail_next = 3
    job = ended_at_once(f"{hooks.url}/flaky")
    await bus.publish(job)

    async def failing() -> bool:
        states = (await view(catalog, job))["notifications"]
        return bool(states) and states[0]["state"] == "failing" and "503" in (states[0]["last_error"] or "")

    await eventually(failing)
    await wait_until(lambda: hooks.delivered)
    assert len(hooks.received) == 4
    assert len({h.headers[DELIVERY_HEADER] for h in hooks.received}) == 1
    assert catalog.sample("catalog_notifications_total", kind="webhook", outcome="failed") == 3


@pytest.mark.parametrize("target", ["http://10.1.2.3/hook", "https://example.org/hook", "LOCALHOST"])
async def test_destinations_not_allowed_are_refused_at_delivery(catalog: Catalog, bus: Bus, hooks: WebhookReceiver,
                                                                target: str) -> None:
    # Sent straight on the bus (the gateway would refuse them at creation): the catalog checks again.
    url = f"http://localhost:{hooks.port}/hook" if target == "LOCALHOST" else target
    job = ended_at_once(url)
    await bus.publish(job)

    async def failed() -> dict[str, Any] | None:
        states = (await view(catalog, job))["notifications"]
        return states[0] if states and states[0]["state"] == "failed" else None

    state = await eventually(failed)
    assert state["attempts"] == 1 and state["last_error"]
    assert hooks.received == []
    assert catalog.sample("catalog_notifications_total", kind="webhook", outcome="refused") == 1


async def test_loopback_named_by_a_name_is_refused_even_when_allowed(start_catalog: StartCatalog, bus: Bus,
                                                                     hooks: WebhookReceiver) -> None:
    async with start_catalog(notify_allowed_urls=f"http://localhost:{hooks.port}/",
                             notify_poll_seconds=0.5) as catalog:
        job = ended_at_once(f"http://localhost:{hooks.port}/hook")
        await bus.publish(job)

        async def failed() -> dict[str, Any] | None:
            states = (await view(catalog, job))["notifications"]
            return states[0] if states and states[0]["state"] == "failed" else None

        state = await eventually(failed)
        assert "may not reach" in state["last_error"]
        assert hooks.received == []


async def test_a_job_without_targets_writes_no_notification(catalog: Catalog, bus: Bus, db: asyncpg.Pool) -> None:
    job = ended_at_once()
    await bus.publish(job)
    assert (await view(catalog, job))["notifications"] == []
    assert await db.fetchval("SELECT count(*) FROM notifications") == 0
    assert await db.fetchval("SELECT notify FROM jobs WHERE job_id = $1", job.job_id) is None


async def test_accounts_are_made_on_first_use_and_rotate(catalog: Catalog) -> None:
    first = (await catalog.http.post("/internal/accounts", json={"owner": "carol", "email": "c@example.org"})).json()
    again = (await catalog.http.post("/internal/accounts", json={"owner": "carol"})).json()
    assert first == again and first["email"] == "c@example.org" and first["usage"] == {"active_jobs": 0}
    rotated = (await catalog.http.post("/internal/accounts/rotate-secret", json={"owner": "carol"})).json()
    assert rotated["webhook_secret"] != first["webhook_secret"] and rotated["email"] == "c@example.org"
    defaults = (await catalog.http.put("/internal/accounts/notify",
                                       json={"owner": "carol", "notify": ["mailto:c@example.org"]})).json()
    assert defaults["notify"] == ["mailto:c@example.org"]
    assert defaults["webhook_secret"] == rotated["webhook_secret"]
