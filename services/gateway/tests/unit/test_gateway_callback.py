"""POST /uws/jobs/{id}/callback: bearer token checked by the catalog, JobReported published, refusals."""

from datetime import UTC, datetime

import pytest

from esap_messages import DiracStatus, JobReported, Phase, new_id
from esap_messages.api import DiracView

TOKEN = "t0k3n-" + "x" * 37


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def running_job(make_job, catalog):
    job = make_job(phase=Phase.EXECUTING)
    catalog.tokens[job.job_id] = TOKEN
    return job


async def test_a_report_with_the_right_token_is_published(client, catalog, publisher, running_job) -> None:
    started = "2025-03-01T12:00:05+01:00"

    response = await client.post(f"/uws/jobs/{running_job.job_id}/callback",
                                 json={"status": "Running", "started_at": started}, headers=bearer())

    assert response.status_code == 204
    [verification] = catalog.calls_to("verify_callback")
    assert verification.token == TOKEN and verification.final is False
    [event] = publisher.published
    assert isinstance(event, JobReported)
    assert event.job_id == running_job.job_id and event.status is DiracStatus.RUNNING
    assert event.started_at == datetime(2025, 3, 1, 11, 0, 5, tzinfo=UTC)


async def test_a_report_of_the_status_the_catalog_knows_is_accepted_and_not_published(
    client, catalog, publisher, make_job
) -> None:
    job = make_job(phase=Phase.EXECUTING, dirac=DiracView(status=DiracStatus.RUNNING))
    catalog.tokens[job.job_id] = TOKEN

    single = await client.post(f"/uws/jobs/{job.job_id}/callback", json={"status": "Running"}, headers=bearer())
    batched = await client.post("/uws/callbacks", json=batch((job.job_id, TOKEN, {"status": "Running"})))
    assert publisher.published == []
    final = await client.post("/uws/callbacks", json=batch((job.job_id, TOKEN, {"status": "Done", "exit_code": 0})))

    assert single.status_code == 204
    assert [o["accepted"] for o in batched.json()["outcomes"] + final.json()["outcomes"]] == [True, True]
    assert [(e.job_id, e.status) for e in publisher.published] == [(job.job_id, DiracStatus.DONE)]  # an end is news


@pytest.mark.parametrize("status", ["Done", "Failed", "Killed"])
async def test_a_final_report_consumes_the_token(client, catalog, publisher, running_job, status) -> None:
    body = {"status": status, "exit_code": 0, "ended_at": "2025-03-01T12:01:00Z"}

    first = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json=body, headers=bearer())
    again = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json=body, headers=bearer())

    assert (first.status_code, again.status_code) == (204, 403)
    assert [v.final for v in catalog.calls_to("verify_callback")] == [True, True]
    assert len(publisher.published) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer short"}, {"Authorization": f"Bearer {TOKEN} x"},
                                     {"Authorization": "Bearer " + "y" * 300}])
async def test_a_missing_or_malformed_credential_is_a_401(client, catalog, publisher, running_job,
                                                          headers) -> None:
    response = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"},
                                 headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert catalog.calls_to("verify_callback") == [] and publisher.published == []


async def test_a_wrong_token_and_an_unknown_job_are_the_same_403(client, publisher, running_job) -> None:
    wrong = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"},
                              headers=bearer("w" * 43))
    unknown = await client.post(f"/uws/jobs/{new_id()}/callback", json={"status": "Running"}, headers=bearer())
    not_an_id = await client.post("/uws/jobs/nothing/callback", json={"status": "Running"}, headers=bearer())

    assert (wrong.status_code, unknown.status_code, not_an_id.status_code) == (403, 403, 403)
    assert wrong.text == unknown.text == not_an_id.text
    assert wrong.headers["content-type"].startswith("text/plain")
    assert publisher.published == []


@pytest.mark.parametrize("body", [b"", b"not json", b'{"status": "Dancing"}', b'{"status": "Running", "x": 1}',
                                  b'{"status": "Done", "ended_at": "2025-03-01T12:00:00"}'])
async def test_a_bad_body_is_a_422(client, publisher, running_job, body) -> None:
    response = await client.post(f"/uws/jobs/{running_job.job_id}/callback", content=body,
                                 headers={**bearer(), "content-type": "application/json"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert publisher.published == []


async def test_the_catalog_or_broker_down_is_a_503(client, catalog, publisher, running_job) -> None:
    publisher.refuse = True
    broker_down = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"},
                                    headers=bearer())
    catalog.down = True
    catalog_down = await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"},
                                     headers=bearer())

    assert (broker_down.status_code, catalog_down.status_code) == (503, 503)


async def test_callbacks_are_counted_by_outcome(client, running_job) -> None:
    await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"}, headers=bearer())
    await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"})
    await client.post(f"/uws/jobs/{running_job.job_id}/callback", json={"status": "Running"},
                      headers=bearer("z" * 20))
    await client.post(f"/uws/jobs/{running_job.job_id}/callback", content=b"{}", headers=bearer())

    metrics = (await client.get("/metrics")).text
    for outcome in ("accepted", "unauthorized", "forbidden", "invalid"):
        assert f'gateway_callbacks_total{{outcome="{outcome}"}} 1.0' in metrics
    assert 'gateway_callbacks_total{outcome="unavailable"} 0.0' in metrics


async def test_a_report_after_the_jobs_end_is_refused_and_counted_late(client, catalog, publisher, make_job) -> None:
    ended = make_job(phase=Phase.COMPLETED)
    catalog.tokens[ended.job_id] = TOKEN
    done = {"status": "Done", "exit_code": 0}

    single = await client.post(f"/uws/jobs/{ended.job_id}/callback", json=done, headers=bearer())
    batched = await client.post("/uws/callbacks", json=batch((ended.job_id, TOKEN, done),
                                                              (ended.job_id, "w" * 30, done)))

    assert single.status_code == 403
    assert [(o["accepted"], o["late"]) for o in batched.json()["outcomes"]] == [(False, True), (False, False)]
    assert publisher.published == []
    metrics = (await client.get("/metrics")).text
    assert 'gateway_callbacks_total{outcome="late"} 2.0' in metrics
    assert 'gateway_callbacks_total{outcome="forbidden"} 1.0' in metrics


def batch(*reports: tuple[object, str, dict[str, object]]) -> dict[str, object]:
    return {"reports": [{"job_id": str(job_id), "token": token, "report": report}
                        for job_id, token, report in reports]}


async def test_a_batch_is_checked_report_by_report_and_answered_in_order(client, catalog, publisher, make_job,
                                                                         running_job) -> None:
    other = make_job(phase=Phase.EXECUTING)
    catalog.tokens[other.job_id] = "o" * 30
    body = batch((running_job.job_id, TOKEN, {"status": "Running"}),
                 (other.job_id, TOKEN, {"status": "Running"}),  # another job's token
                 (new_id(), TOKEN, {"status": "Running"}),  # no such job
                 (running_job.job_id, TOKEN, {"status": "Done", "exit_code": 0}),
                 (other.job_id, "o" * 30, {"status": "Failed", "exit_code": 2}))

    response = await client.post("/uws/callbacks", json=body)

    assert response.status_code == 200
    outcomes = response.json()["outcomes"]
    assert [o["accepted"] for o in outcomes] == [True, False, False, True, True]
    assert [o["job_id"] for o in outcomes] == [r["job_id"] for r in body["reports"]]  # type: ignore[index]
    assert [v.final for v in catalog.calls_to("verify_callback")] == [False, False, False, True, True]
    published = [(e.job_id, e.status) for e in publisher.published]
    assert published == [(running_job.job_id, DiracStatus.RUNNING), (running_job.job_id, DiracStatus.DONE),
                         (other.job_id, DiracStatus.FAILED)]


async def test_a_used_token_in_a_later_batch_is_refused(client, catalog, publisher, running_job) -> None:
    done = batch((running_job.job_id, TOKEN, {"status": "Done", "exit_code": 0}))
    first = await client.post("/uws/callbacks", json=done)
    again = await client.post("/uws/callbacks", json=done)
    assert [o["accepted"] for o in first.json()["outcomes"] + again.json()["outcomes"]] == [True, False]
    assert len(publisher.published) == 1


@pytest.mark.parametrize("body", [b"", b"[]", b'{"reports": []}', b'{"reports": [{"job_id": "x"}]}',
                                  b'{"reports": [{"job_id": "00000000-0000-0000-0000-000000000000", '
                                  b'"token": "short", "report": {"status": "Running"}}]}'])
async def test_a_malformed_batch_is_a_422_and_publishes_nothing(client, publisher, body) -> None:
    response = await client.post("/uws/callbacks", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert publisher.published == []


async def test_a_batch_meeting_the_catalog_or_broker_down_is_a_503(client, catalog, publisher, running_job) -> None:
    body = batch((running_job.job_id, TOKEN, {"status": "Running"}))
    publisher.refuse = True
    broker_down = await client.post("/uws/callbacks", json=body)
    catalog.down = True
    catalog_down = await client.post("/uws/callbacks", json=body)
    assert (broker_down.status_code, catalog_down.status_code) == (503, 503)
