"""GET /uws/jobs, /uws/jobs/{id} (with WAIT) and /phase: schema-valid UWS 1.1 XML that pyvo reads."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest

from esap_gateway.adapters.uws_xml import JOBINFO_NAMESPACE
from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import DiracStatus, ErrorType, Phase, new_id
from esap_messages.api import DiracView, ErrorView, ResultView

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


async def test_a_job_is_a_valid_uws_document_with_everything_it_knows(client, make_job, uws_job) -> None:
    job = make_job(
        run_id="run-7", phase=Phase.ERROR, parameters={"Parameter1": "a<b", "Parameter2": "2"},
        start_time=T0 + timedelta(seconds=5), end_time=T0 + timedelta(seconds=9), execution_duration=60,
        destruction=T0 + timedelta(days=7), quote=T0 + timedelta(minutes=1), backend_job_id="4242",
        dirac=DiracView(status=DiracStatus.FAILED, minor_status="Application Finished With Errors",
                        application_status="exit 3", site="LCG.IN2P3-CC.fr"),
        error=ErrorView(type=ErrorType.FATAL, message="the payload ended with exit code 3"),
        results=[ResultView(id="stdout", size=12, mime_type="text/plain", location="file:///x/stdout.txt")],
    )

    response = await client.get(f"/uws/jobs/{job.job_id}")
    parsed = uws_job(response)

    assert parsed.jobid == str(job.job_id) and parsed.runid == "run-7" and parsed.ownerid is None
    assert parsed.phase == "ERROR"
    assert b"<uws:creationTime>2025-03-01T12:00:00.000Z</uws:creationTime>" in response.content
    assert b"<uws:startTime>2025-03-01T12:00:05.000Z</uws:startTime>" in response.content
    assert b'version="1.1"' in response.content
    assert parsed.executionduration.to_value("s") == 60
    assert [(p.id_, p.content) for p in parsed.parameters] == [("Parameter1", "a<b"), ("Parameter2", "2")]
    main, result = parsed.results
    assert main.id_ == "result" and main.href == f"http://gateway.test/uws/jobs/{job.job_id}/results/result"
    assert result.id_ == "stdout" and int(result.size) == 12 and result.mimetype == "text/plain"
    assert result.href == f"http://gateway.test/uws/jobs/{job.job_id}/results/stdout"
    assert parsed.errorsummary.type_ == "fatal"
    assert parsed.errorsummary.message.content == "the payload ended with exit code 3"
    info = parsed.jobinfo
    assert info.get("backendJobId").text == "4242" and info.get("status").text == "Failed"
    assert info.get("minorStatus").text == "Application Finished With Errors"
    assert info.get("applicationStatus").text == "exit 3" and info.get("site").text == "LCG.IN2P3-CC.fr"
    assert JOBINFO_NAMESPACE.encode() in response.content


async def test_a_new_job_shows_nil_times_and_no_optional_elements(client, make_job, uws_job) -> None:
    job = make_job()

    response = await client.get(f"/uws/jobs/{job.job_id}")
    parsed = uws_job(response)

    assert parsed.phase == "PENDING" and parsed.runid is None and parsed.starttime is None
    assert parsed.errorsummary is None and list(parsed.results) == []
    assert b'<uws:ownerId xsi:nil="true"' in response.content
    assert b"runId" not in response.content and b"quote" not in response.content
    assert b"backendJobId" not in response.content


async def test_links_use_the_public_base_url_when_set(catalog, publisher, work_root, make_job, uws_job) -> None:
    job = make_job(results=[ResultView(id="out.json", size=2, mime_type="application/json", location="file:///x")])
    app = create_app(Settings(local_work_root=work_root, public_base_url="https://esap.example/batch"),
                     catalog=catalog, publisher=publisher)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8000") as http:
        parsed = uws_job(await http.get(f"/uws/jobs/{job.job_id}"))

    assert parsed.results[1].href == f"https://esap.example/batch/uws/jobs/{job.job_id}/results/out.json"


@pytest.mark.parametrize("job_id", ["not-a-uuid", str(UUID(int=0)), "../../etc"])
async def test_an_unknown_job_is_a_plain_404(client, job_id) -> None:
    response = await client.get(f"/uws/jobs/{job_id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


async def test_wait_passes_to_the_catalog_capped_and_counted(client, catalog, make_job, uws_job) -> None:
    job = make_job(phase=Phase.QUEUED)

    for wait, expected in (("5", 5), ("-1", 60), ("600", 60), ("0", 0)):
        uws_job(await client.get(f"/uws/jobs/{job.job_id}", params={"WAIT": wait}))
        assert catalog.calls_to("get_job")[-1] == {"job_id": job.job_id, "wait": expected, "phase": None,
                                                   "owner": None, "grace": False}

    uws_job(await client.get(f"/uws/jobs/{job.job_id}", params={"wait": "10", "phase": "queued"}))
    assert catalog.calls_to("get_job")[-1] == {"job_id": job.job_id, "wait": 10, "phase": Phase.QUEUED,
                                               "owner": None, "grace": False}
    assert "gateway_open_waits 0.0" in (await client.get("/metrics")).text


async def test_wait_on_a_phase_that_cannot_change_returns_at_once(client, catalog, make_job, uws_job) -> None:
    job = make_job(phase=Phase.COMPLETED)

    uws_job(await client.get(f"/uws/jobs/{job.job_id}", params={"WAIT": "30", "PHASE": "COMPLETED"}))

    assert catalog.calls_to("get_job")[-1]["wait"] == 0


@pytest.mark.parametrize(("params", "field"), [({"WAIT": "soon"}, "WAIT"), ({"WAIT": "-2"}, "WAIT"),
                                               ({"WAIT": "5", "PHASE": "SLEEPING"}, "PHASE")])
async def test_bad_wait_values_are_a_400(client, make_job, params, field) -> None:
    job = make_job()

    response = await client.get(f"/uws/jobs/{job.job_id}", params=params)

    assert response.status_code == 400 and response.text.startswith(f"{field}:")


async def test_the_phase_resource_is_plain_text(client, make_job) -> None:
    job = make_job(phase=Phase.EXECUTING)

    response = await client.get(f"/uws/jobs/{job.job_id}/phase")

    assert response.status_code == 200 and response.text == "EXECUTING"
    assert response.headers["content-type"].startswith("text/plain")
    assert (await client.get(f"/uws/jobs/{new_id()}/phase")).status_code == 404


async def test_the_job_list_hides_archived_jobs_unless_asked(client, catalog, make_job, uws_job_list) -> None:
    pending = make_job(run_id="p", creation_time=T0)
    done = make_job(phase=Phase.COMPLETED, creation_time=T0 + timedelta(minutes=1))
    archived = make_job(phase=Phase.ARCHIVED, creation_time=T0 + timedelta(minutes=2))

    response = await client.get("/uws/jobs")
    jobs = uws_job_list(response)

    assert [j.jobid for j in jobs] == [str(done.job_id), str(pending.job_id)]
    assert jobs[1].runid == "p" and jobs[1].phase == "PENDING" and jobs[1].ownerid is None
    assert f'xlink:href="http://gateway.test/uws/jobs/{done.job_id}"'.encode() in response.content
    assert jobs[0].creationtime is not None
    assert Phase.ARCHIVED not in catalog.calls_to("list_jobs")[-1]["phases"]

    only_archived = uws_job_list(await client.get("/uws/jobs", params={"phase": "ARCHIVED"}))
    assert [j.jobid for j in only_archived] == [str(archived.job_id)]


async def test_the_job_list_filters_pass_to_the_catalog(client, catalog, make_job, uws_job_list) -> None:
    make_job()

    response = await client.get("/uws/jobs", params=[("PHASE", "QUEUED"), ("phase", "EXECUTING"),
                                                     ("After", "2025-03-01T00:00:00Z"), ("LAST", "10")])
    uws_job_list(response)

    assert catalog.calls_to("list_jobs")[-1] == {
        "owner": None, "phases": (Phase.QUEUED, Phase.EXECUTING), "after": datetime(2025, 3, 1, tzinfo=UTC),
        "last": 10, "workflow": None, "facility": None, "run_id": None, "cursor": None, "parent": None,
    }
    parent = uuid4()
    uws_job_list(await client.get("/uws/jobs", params={"PARENT": str(parent)}))
    assert catalog.calls_to("list_jobs")[-1]["parent"] == parent
    refused = await client.get("/uws/jobs", params={"PARENT": "not-a-job"})
    assert refused.status_code == 400 and "PARENT" in refused.text


async def test_an_empty_job_list_is_valid(client, uws_job_list) -> None:
    assert list(uws_job_list(await client.get("/uws/jobs"))) == []


@pytest.mark.parametrize(("params", "field"), [({"PHASE": "DONE"}, "PHASE"), ({"AFTER": "yesterday"}, "AFTER"),
                                               ({"LAST": "0"}, "LAST"), ({"LAST": "ten"}, "LAST")])
async def test_bad_list_filters_are_a_400(client, params, field) -> None:
    response = await client.get("/uws/jobs", params=params)

    assert response.status_code == 400 and response.text.startswith(f"{field}:")


async def test_reads_answer_503_while_the_catalog_is_down(client, catalog, make_job) -> None:
    job = make_job()
    catalog.down = True

    assert (await client.get(f"/uws/jobs/{job.job_id}")).status_code == 503
    assert (await client.get("/uws/jobs")).status_code == 503
