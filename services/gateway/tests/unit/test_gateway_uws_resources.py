"""The rest of the UWS 1.1 REST binding over the fakes: DELETE and ACTION=DELETE, executionduration,
destruction, parameters, error, quote, owner; two users kept apart by static tokens; JSON; list filters and
paging; the synchronous pattern. Every XML answer is validated against the UWS 1.1 schema."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esap_gateway.config import Settings
from esap_messages import CreateJob, DeleteJob, ErrorType, Message, Phase, UpdateJob
from esap_messages.api import ErrorView, JobView, ResultView

ALICE = {"Authorization": "Bearer token-a"}
BOB = {"Authorization": "Bearer token-b"}


@pytest.fixture
def settings(work_root: Path) -> Settings:
    return Settings(local_work_root=work_root, static_tokens='{"token-a": "alice", "token-b": "bob"}',
                    sync_timeout_seconds=5)


@pytest.mark.parametrize("how", ["DELETE", "ACTION=DELETE", "action=delete"])
async def test_delete_publishes_delete_job_and_redirects_to_a_short_list(client, publisher, make_job, how) -> None:
    job = make_job(owner="alice", phase=Phase.EXECUTING)
    if how == "DELETE":
        response = await client.delete(f"/uws/jobs/{job.job_id}", headers=ALICE)
    else:
        name, value = how.split("=")
        response = await client.post(f"/uws/jobs/{job.job_id}", data={name: value}, headers=ALICE)

    assert response.status_code == 303 and response.headers["location"] == "/uws/jobs?LAST=20"
    [command] = publisher.published
    assert isinstance(command, DeleteJob) and command.job_id == job.job_id and command.owner == "alice"


async def test_another_action_is_a_400(client, publisher, make_job) -> None:
    job = make_job(owner="alice")
    response = await client.post(f"/uws/jobs/{job.job_id}", data={"ACTION": "ARCHIVE"}, headers=ALICE)
    assert response.status_code == 400 and response.text.startswith("ACTION:")
    assert publisher.published == []


async def test_users_cannot_see_or_touch_each_other_s_jobs(client, publisher, make_job, uws_job_list) -> None:
    mine = make_job(owner="alice")
    theirs = make_job(owner="bob")

    listed = uws_job_list(await client.get("/uws/jobs", headers=ALICE))
    assert [j.jobid for j in listed] == [str(mine.job_id)]
    for method, path, form in (("GET", "", None), ("GET", "/phase", None), ("GET", "/parameters", None),
                               ("POST", "/phase", {"PHASE": "ABORT"}), ("DELETE", "", None),
                               ("POST", "/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"})):
        response = await client.request(method, f"/uws/jobs/{theirs.job_id}{path}", data=form, headers=ALICE)
        assert response.status_code == 403, (method, path)
        assert response.headers["content-type"].startswith("text/plain") and "another user" in response.text
    assert publisher.published == []
    assert (await client.get("/uws/jobs", headers={"Authorization": "Bearer nobody"})).status_code == 401


async def test_a_created_job_belongs_to_its_creator(client, publisher) -> None:
    response = await client.post("/uws/jobs", data={"WORKFLOW": "noop"}, headers=BOB)
    assert response.status_code == 303
    [command] = publisher.published
    assert isinstance(command, CreateJob) and command.owner == "bob"


async def test_text_resources(client, make_job) -> None:
    job = make_job(owner="alice", execution_duration=90, destruction=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
                   phase=Phase.ERROR, error=ErrorView(type=ErrorType.FATAL, message="it broke"))
    bare = make_job(owner="alice")

    async def text(target: JobView, name: str) -> str:
        response = await client.get(f"/uws/jobs/{target.job_id}/{name}", headers=ALICE)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        return response.text

    assert await text(job, "executionduration") == "90"
    assert await text(job, "destruction") == "2030-01-02T03:04:05Z"
    assert await text(job, "error") == "it broke"
    assert await text(job, "owner") == "alice"
    assert await text(job, "quote") == ""
    assert await text(bare, "error") == "" and await text(bare, "destruction") == ""


async def test_duration_destruction_and_parameters_of_a_pending_job(client, publisher, make_job) -> None:
    job = make_job(owner="alice", parameters={"Parameter1": "1", "Parameter2": "2"})
    later = datetime.now(UTC) + timedelta(days=2)

    for name, form in (("executionduration", {"executionDuration": "120"}),
                       ("destruction", {"DESTRUCTION": later.isoformat()}),
                       ("parameters", {"parameter2": "twenty", "PARAMETER5": "five"})):
        response = await client.post(f"/uws/jobs/{job.job_id}/{name}", data=form, headers=ALICE)
        assert response.status_code == 303 and response.headers["location"] == f"/uws/jobs/{job.job_id}"

    duration, destruction, parameters = publisher.published
    assert isinstance(duration, UpdateJob) and duration.execution_duration == 120 and duration.parameters is None
    assert isinstance(destruction, UpdateJob) and destruction.destruction is not None
    assert abs((destruction.destruction - later).total_seconds()) < 1
    assert isinstance(parameters, UpdateJob) and parameters.parameters == {
        "Parameter1": "1", "Parameter2": "twenty", "Parameter3": "33", "Parameter4": "GG", "Parameter5": "five",
        "Parameter6": "default"}


@pytest.mark.parametrize(("name", "form", "status", "start"), [
    ("executionduration", {"EXECUTIONDURATION": "-1"}, 400, "EXECUTIONDURATION:"),
    ("executionduration", {"EXECUTIONDURATION": "soon"}, 400, "EXECUTIONDURATION:"),
    ("destruction", {"DESTRUCTION": "tomorrow"}, 400, "DESTRUCTION:"),
    ("destruction", {"DESTRUCTION": "2001-01-01T00:00:00Z"}, 400, "DESTRUCTION:"),
    ("parameters", {"Nonsense": "1"}, 400, "Nonsense:"),
    ("parameters", {"PHASE": "RUN"}, 400, "PHASE:"),
])
async def test_malformed_changes_are_a_400_naming_the_field(client, publisher, make_job, name, form, status,
                                                            start) -> None:
    job = make_job(owner="alice")
    response = await client.post(f"/uws/jobs/{job.job_id}/{name}", data=form, headers=ALICE)
    assert response.status_code == status and response.text.startswith(start), response.text
    assert publisher.published == []


@pytest.mark.parametrize("name", ["executionduration", "parameters"])
async def test_changes_after_pending_are_a_403_saying_why(client, publisher, make_job, name) -> None:
    job = make_job(owner="alice", phase=Phase.EXECUTING)
    form = {"EXECUTIONDURATION": "5"} if name == "executionduration" else {"Parameter1": "5"}
    response = await client.post(f"/uws/jobs/{job.job_id}/{name}", data=form, headers=ALICE)
    assert response.status_code == 403 and "PENDING" in response.text and "EXECUTING" in response.text
    assert publisher.published == []


async def test_parameters_and_results_documents_are_valid_uws(client, make_job, uws_schema) -> None:
    job = make_job(owner="alice", phase=Phase.COMPLETED,
                   results=[ResultView(id="out.json", size=3, mime_type="application/json", location="file:///x")])
    for name in ("parameters", "results"):
        response = await client.get(f"/uws/jobs/{job.job_id}/{name}", headers=ALICE)
        assert response.status_code == 200
        uws_schema.validate(response.content)


async def test_json_has_the_fields_of_the_xml(client, make_job) -> None:
    job = make_job(owner="alice", run_id="r1", backend_job_id="77")
    response = await client.get(f"/uws/jobs/{job.job_id}", headers={**ALICE, "Accept": "application/json"})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["jobId"] == str(job.job_id) and body["ownerId"] == "alice" and body["phase"] == "PENDING"
    assert body["runId"] == "r1" and body["parameters"] == {"Parameter1": "1"}
    assert body["jobInfo"]["backendJobId"] == "77" and body["creationTime"].startswith("2025-03-01T12:00:00")
    listed = (await client.get("/uws/jobs", headers={**ALICE, "Accept": "application/json"})).json()
    assert [j["jobId"] for j in listed["jobs"]] == [str(job.job_id)] and listed["next"] is None


async def test_list_filters_and_paging(client, catalog, make_job, uws_job_list) -> None:
    jobs = [make_job(owner="alice", creation_time=datetime(2025, 3, 1, 12, i, tzinfo=UTC)) for i in range(3)]

    first = await client.get("/uws/jobs", params={"LAST": "2", "workflow": "hello-world"}, headers=ALICE)
    assert [j.jobid for j in uws_job_list(first)] == [str(jobs[2].job_id), str(jobs[1].job_id)]
    link = first.headers["link"]
    assert link.endswith('>; rel="next"') and "CURSOR=2" in link and "workflow=hello-world" in link
    url = link[1:link.index(">")]
    second = await client.get(url, headers=ALICE)
    assert [j.jobid for j in uws_job_list(second)] == [str(jobs[0].job_id)] and "link" not in second.headers
    assert catalog.calls_to("list_jobs")[0]["workflow"] == "hello-world"
    await client.get("/uws/jobs", params={"RUNID": "r9", "FACILITY": "local"}, headers=ALICE)
    assert catalog.calls_to("list_jobs")[-1]["run_id"] == "r9"
    assert (await client.get("/uws/jobs", params={"WORKFLOW": "../x"}, headers=ALICE)).status_code == 400


async def test_sync_runs_the_job_and_redirects_to_its_main_result(client, catalog, publisher, make_job) -> None:
    def complete(message: Message) -> None:
        if isinstance(message, CreateJob):
            result = ResultView(id="result.json", size=2, mime_type="application/json", location="file:///r")
            make_job(job_id=message.job_id, owner=message.owner, phase=Phase.COMPLETED, results=[result])

    publisher.listeners.append(complete)
    response = await client.post("/uws/sync", data={"WORKFLOW": "noop"}, headers=ALICE)

    [command] = publisher.published
    assert isinstance(command, CreateJob) and command.run and command.owner == "alice"
    assert response.status_code == 303
    assert response.headers["location"] == f"/uws/jobs/{command.job_id}/results/result"
    assert catalog.calls_to("get_job")[-1]["wait"] in (4, 5)  # the sync timeout, counted down


async def test_sync_of_a_failed_job_redirects_to_the_job(client, publisher, make_job) -> None:
    publisher.listeners.append(lambda m: make_job(job_id=m.job_id, owner="alice", phase=Phase.ERROR)
                               if isinstance(m, CreateJob) else None)
    response = await client.get("/uws/sync", params={"WORKFLOW": "noop"}, headers=ALICE)
    [command] = publisher.published
    assert response.status_code == 303 and response.headers["location"] == f"/uws/jobs/{command.job_id}"


async def test_the_openapi_document_describes_every_route(client) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/uws/jobs", "/uws/jobs/{job_id}", "/uws/jobs/{job_id}/phase", "/uws/jobs/{job_id}/parameters",
                 "/uws/jobs/{job_id}/executionduration", "/uws/jobs/{job_id}/destruction",
                 "/uws/jobs/{job_id}/error", "/uws/jobs/{job_id}/quote", "/uws/jobs/{job_id}/owner",
                 "/uws/jobs/{job_id}/results", "/uws/jobs/{job_id}/results/{result_id}", "/uws/sync"):
        assert path in paths, path
    job = paths["/uws/jobs/{job_id}"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/xml"} <= set(job)
    # Job creation runs without FastAPI's request handler, and is described all the same.
    assert paths["/uws/jobs"]["post"]["summary"].startswith("Create a job: WORKFLOW, FACILITY")
    assert "303" in paths["/uws/jobs"]["post"]["responses"]
