"""POST /uws/jobs/{id}/callback: bearer token checked by the catalog, JobReported published, refusals."""

from datetime import UTC, datetime

import pytest

from esap_messages import DiracStatus, JobReported, Phase, new_id

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
