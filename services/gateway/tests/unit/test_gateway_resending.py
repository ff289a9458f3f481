"""A creation whose confirm was lost with the broker is answered 303 and sent again, the same message, once the broker
answers, so the job exists once whether the broker had kept the first copy or not; a creation the broker surely did
not take is a 503, and is never sent again."""

import asyncio

from esap_messages import CreateJob


async def published_creations(publisher, within: float = 5.0) -> list[CreateJob]:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.02)):
        found = [m for m in publisher.published if isinstance(m, CreateJob)]
        if found:
            return found
        await asyncio.sleep(0.02)
    return []


async def test_a_creation_whose_confirm_was_lost_is_answered_303_and_sent_again(client, publisher) -> None:
    publisher.lose_confirms = 1

    response = await client.post("/uws/jobs", data={"WORKFLOW": "noop", "PHASE": "RUN"})

    assert response.status_code == 303
    job_id = response.headers["location"].rsplit("/", 1)[-1]
    [resent] = await published_creations(publisher)
    assert str(resent.job_id) == job_id and resent.run


async def test_a_job_whose_creation_waits_for_the_broker_is_answered_503_meanwhile(client, publisher) -> None:
    publisher.lose_confirms = 2  # the first resend fails as well; the next, a second later, goes through

    response = await client.post("/uws/jobs", data={"WORKFLOW": "noop"})
    read = await client.get(response.headers["location"])

    assert response.status_code == 303
    assert read.status_code == 503 and read.headers["retry-after"] == "5"
    assert len(await published_creations(publisher)) == 1


async def test_a_creation_the_broker_surely_did_not_take_is_a_503_and_never_sent_again(client, publisher) -> None:
    publisher.refuse = True

    response = await client.post("/uws/jobs", data={"WORKFLOW": "noop"})
    publisher.refuse = False
    await asyncio.sleep(0.3)

    assert response.status_code == 503
    assert publisher.published == []
