"""Read-your-writes at the gateway: a request that sends a command is answered once the catalog settled it: 303
when applied, the refusal in the gateway's terms when not (the phase moved meanwhile, the job is gone), and 303 at
the bound when no settlement came, sooner when the catalog settles nothing at all."""

import asyncio
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_gateway.services.settling import Settlements
from esap_messages import CommandRefusal, CommandSettled, Message, Phase, new_id

ALICE = {"authorization": "Bearer token-a"}


@pytest.fixture
def timing() -> dict[str, float]:
    return {"settle_timeout_seconds": 0.2}


@pytest.fixture
async def settling(work_root, catalog, publisher, timing) -> Any:  # type: ignore[no-untyped-def]
    settings = Settings(local_work_root=work_root, static_tokens='{"token-a": "alice"}',  # type: ignore[arg-type]
                        **timing)
    app: FastAPI = create_app(settings, catalog=catalog, publisher=publisher)
    async with app.router.lifespan_context(app):
        settlements: Settlements = app.state.factory.jobs._settlements
        settlements.live = lambda: True
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test",
                                     headers=ALICE) as http:
            yield http, settlements, app


def answer_with(publisher: Any, settlements: Settlements, **how: Any) -> None:
    """The catalog's part: each published command is settled as ``how`` says, a moment later."""

    def settle(message: Message) -> None:
        job_id = message.job_id
        settled = CommandSettled(command_id=message.message_id, command=message.type_name(), job_id=job_id, **how)
        asyncio.get_running_loop().call_later(0.01, settlements.settle, settled)

    publisher.listeners.append(settle)


async def test_an_applied_command_is_answered_with_its_303(settling, publisher, make_job) -> None:
    http, settlements, _ = settling
    answer_with(publisher, settlements, applied=True, phase=Phase.QUEUED)
    job = make_job(owner="alice")

    response = await http.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"})

    assert response.status_code == 303


@pytest.mark.parametrize(("refusal", "phase", "status", "text"), [
    (CommandRefusal.NOT_APPLICABLE, Phase.EXECUTING, 403, "The job is EXECUTING now; RunJob is not allowed"),
    (CommandRefusal.FINAL, Phase.COMPLETED, 403, "already ended (COMPLETED)"),
    (CommandRefusal.UNKNOWN_JOB, None, 404, "No job"),
    (CommandRefusal.NOT_OWNER, Phase.PENDING, 403, "belongs to another user"),
])
async def test_a_command_the_catalog_refused_is_answered_with_the_refusal(
    settling, publisher, make_job, refusal: CommandRefusal, phase: Phase | None, status: int, text: str
) -> None:
    http, settlements, _ = settling
    answer_with(publisher, settlements, applied=False, refusal=refusal, phase=phase)
    job = make_job(owner="alice")

    response = await http.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"})

    assert response.status_code == status and text in response.text


async def test_without_a_settlement_within_the_bound_the_request_is_answered_as_applied(
    settling, publisher, make_job
) -> None:
    http, settlements, app = settling
    job = make_job(owner="alice")

    response = await http.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"})

    assert response.status_code == 303
    registry = app.state.factory.jobs._metrics.registry
    assert registry.get_sample_value("gateway_command_settlements_total", {"outcome": "timeout"}) == 1
    assert settlements.creating(job.job_id) is False  # only creations are remembered for a read's grace


async def test_a_creation_answered_at_the_bound_is_remembered_for_a_read_s_grace(settling, publisher) -> None:
    http, settlements, _ = settling

    response = await http.post("/uws/jobs", data={"WORKFLOW": "noop"})

    [created] = publisher.published
    assert response.status_code == 303 and response.headers["location"].endswith(str(created.job_id))
    assert settlements.creating(created.job_id)


@pytest.mark.parametrize("timing", [{"settle_timeout_seconds": 2.0}])  # the read comes within it, even on a busy host
async def test_only_a_read_of_a_creation_not_seen_settled_asks_the_catalog_for_the_grace(
    settling, publisher, catalog
) -> None:
    """A made-up id stamped "now" must not hold a catalog connection through the creation grace."""
    http, _, _ = settling
    created = await http.post("/uws/jobs", data={"WORKFLOW": "noop"})

    await http.get(created.headers["location"])
    await http.get(f"/uws/jobs/{new_id()}")

    assert [call["grace"] for call in catalog.calls_to("get_job")] == [True, False]


def samples(app: FastAPI) -> dict[str, float | None]:
    registry = app.state.factory.jobs._metrics.registry
    return {outcome: registry.get_sample_value("gateway_command_settlements_total", {"outcome": outcome})
            for outcome in ("applied", "refused", "timeout", "stalled")}


@pytest.mark.parametrize("timing", [{"settle_timeout_seconds": 30, "settle_patience_seconds": 0.1}])
async def test_a_catalog_that_settles_nothing_costs_a_request_the_patience_not_the_bound(
    settling, publisher, make_job
) -> None:
    http, _, app = settling
    job = make_job(owner="alice")

    response = await asyncio.wait_for(http.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"}), 10)

    assert response.status_code == 303
    assert samples(app) == {"applied": 0, "refused": 0, "timeout": 0, "stalled": 1}


@pytest.mark.parametrize("timing", [{"settle_timeout_seconds": 30, "settle_patience_seconds": 0.1}])
async def test_a_catalog_working_through_a_backlog_is_waited_for_past_the_patience(
    settling, publisher, make_job
) -> None:
    http, settlements, app = settling
    job = make_job(owner="alice")

    def settle_late(message: Message) -> None:
        """Others' commands settled every 40 ms for 0.4 s, this one then, refused."""
        loop = asyncio.get_running_loop()
        for tick in range(1, 11):
            other = CommandSettled(command_id=uuid4(), command="RunJob", job_id=uuid4(), applied=True)
            loop.call_later(0.04 * tick, settlements.settle, other)
        ours = CommandSettled(command_id=message.message_id, command=message.type_name(), job_id=message.job_id,
                              applied=False, refusal=CommandRefusal.NOT_APPLICABLE, phase=Phase.EXECUTING)
        loop.call_later(0.42, settlements.settle, ours)

    publisher.listeners.append(settle_late)

    response = await asyncio.wait_for(http.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"}), 10)

    assert response.status_code == 403 and "EXECUTING" in response.text
    assert samples(app) == {"applied": 0, "refused": 1, "timeout": 0, "stalled": 0}
