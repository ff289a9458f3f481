"""Notifications with the four services as processes, a real SMTP server and a real HTTP receiver on loopback: a job
with NOTIFY=mailto: and a webhook sends one e-mail and one webhook signed with the secret of GET /account; a receiver
that fails three times still gets it under one idempotency key; a campaign of 50 children sends one; a catalog
killed (SIGKILL) between the job's end and the delivery loses nothing."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from esap_messages.notify import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from esap_runtime.receivers import SmtpReceiver, WebhookReceiver, wait_until
from esap_runtime.stack import Stack, free_port

HOOK_PORT = free_port()
SMTP = SmtpReceiver()
STACK_ENV = {
    "ESAP_NOTIFY_ALLOWED_URLS": f"http://127.0.0.1:{HOOK_PORT}/",
    "ESAP_SMTP_URL": SMTP.url,
    "CATALOG_NOTIFY_BACKOFF_SECONDS": "0.3",
    "CATALOG_NOTIFY_BACKOFF_MAX_SECONDS": "1",
    "CATALOG_NOTIFY_POLL_SECONDS": "0.5",
    "CATALOG_NOTIFY_TIMEOUT_SECONDS": "2",  # a delivery the kill cut short is leased 4 x this: claimed again after 8 s
}
ALICE = {"Authorization": "Bearer token-a"}


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    SMTP.start()
    yield SMTP
    SMTP.stop()


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(port=HOOK_PORT)
    await receiver.start()
    yield receiver
    await receiver.stop()


async def create(client: httpx.AsyncClient, *extra: tuple[str, str]) -> str:
    form: dict[str, list[str]] = {"WORKFLOW": ["hello-world"], "FACILITY": ["local"], "PHASE": ["RUN"]}
    for name, value in extra:
        form.setdefault(name, []).append(value)
    response = await client.post("/uws/jobs", data=form, headers=ALICE)
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


async def ended(client: httpx.AsyncClient, job_id: str) -> dict:  # type: ignore[type-arg]
    for _ in range(60):
        job = (await client.get(f"/uws/jobs/{job_id}", params={"WAIT": 10},
                                headers={**ALICE, "Accept": "application/json"})).json()
        if job["phase"] in ("COMPLETED", "ERROR", "ABORTED"):
            return job  # type: ignore[no-any-return]
    raise AssertionError("the job did not end")


async def test_mail_and_signed_webhook(stack: Stack, client: httpx.AsyncClient, smtp: SmtpReceiver,
                                       hooks: WebhookReceiver) -> None:
    before = len(smtp.mails)
    job_id = await create(client, ("NOTIFY", "mailto:alice@example.org"), ("NOTIFY", f"{hooks.url}/hook"))
    assert (await ended(client, job_id))["phase"] == "COMPLETED"
    await wait_until(lambda: hooks.delivered and len(smtp.mails) > before)
    account = (await client.get("/account", headers=ALICE)).json()
    assert account["owner"] == "alice"
    hook = hooks.delivered[0]
    assert verify(account["webhook_secret"], hook.body, hook.headers[SIGNATURE_HEADER])
    document = json.loads(hook.body)
    assert document["job_id"] == job_id and document["phase"] == "COMPLETED"
    assert document["results"] and document["run_seconds"] is not None
    assert job_id in smtp.mails[-1]["Subject"]
    await asyncio.sleep(1)
    assert len(hooks.received) == 1 and len(smtp.mails) == before + 1


async def test_refused_destinations_at_creation(stack: Stack, client: httpx.AsyncClient) -> None:
    for target in ("http://169.254.169.254/latest", f"http://127.0.0.1:{HOOK_PORT}@evil.example/", "ftp://x/"):
        response = await client.post("/uws/jobs", data={"WORKFLOW": "hello-world", "FACILITY": "local",
                                                        "NOTIFY": target}, headers=ALICE)
        assert response.status_code == 400, target
    anonymous = await client.post("/uws/jobs", data={"WORKFLOW": "hello-world", "FACILITY": "local",
                                                     "NOTIFY": f"http://127.0.0.1:{HOOK_PORT}/hook"})
    assert anonymous.status_code in (400, 401)


async def test_a_failing_receiver_gets_it_under_one_key(stack: Stack, client: httpx.AsyncClient,
                                                        hooks: WebhookReceiver) -> None:
    hooks.fail_next = 3
    job_id = await create(client, ("NOTIFY", f"{hooks.url}/flaky"))
    await ended(client, job_id)
    await wait_until(lambda: hooks.delivered, within=30)
    assert len(hooks.received) == 4
    assert len({h.headers[DELIVERY_HEADER] for h in hooks.received}) == 1
    job = (await client.get(f"/uws/jobs/{job_id}", headers={**ALICE, "Accept": "application/json"})).json()
    assert job["jobInfo"]["notifications"][0]["state"] == "delivered"


async def test_a_campaign_notifies_once(stack: Stack, client: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    job_id = await create(client, ("SWEEP", "Parameter1=1..50"), ("NOTIFY", f"{hooks.url}/campaign"))
    assert (await ended(client, job_id))["phase"] == "COMPLETED"
    await wait_until(lambda: hooks.delivered, within=30)
    await asyncio.sleep(2)
    assert len(hooks.received) == 1
    assert json.loads(hooks.received[0].body)["campaign_children"] == 50


async def test_an_owners_default_targets_notify_a_job_that_names_none(stack: Stack, client: httpx.AsyncClient,
                                                                      hooks: WebhookReceiver) -> None:
    target = f"{hooks.url}/defaults"
    response = await client.put("/account/notify", json={"notify": [target]}, headers=ALICE)
    assert response.status_code == 200 and response.json()["notify"] == [target]
    try:
        job_id = await create(client)
        await ended(client, job_id)
        await wait_until(lambda: hooks.delivered, within=30)
        assert [h.path for h in hooks.received] == ["/defaults"]
        bad = await client.put("/account/notify", content=b"{not json", headers={
            **ALICE, "content-type": "application/json"})
        assert bad.status_code == 400
    finally:
        await client.put("/account/notify", json={"notify": []}, headers=ALICE)


async def test_a_killed_catalog_loses_no_notification(stack: Stack, client: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver(port=HOOK_PORT)  # down while the job ends
    job_id = await create(client, ("NOTIFY", f"{receiver.url}/after-crash"))
    job = await ended(client, job_id)
    assert job["phase"] == "COMPLETED"
    await asyncio.to_thread(stack.kill, "catalog")
    await asyncio.to_thread(stack.start, "catalog")
    await receiver.start()
    try:
        await wait_until(lambda: receiver.delivered, within=30)
        await asyncio.sleep(1.5)
        assert len(receiver.delivered) == 1
        assert json.loads(receiver.delivered[0].body)["job_id"] == job_id
    finally:
        await receiver.stop()
