"""POST /uws/jobs: reserved names, workflow parameters matched case-insensitively, refusals naming the field."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from structlog.testing import capture_logs

from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import CreateJob

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def create(client: httpx.AsyncClient, data: dict[str, str] | list[tuple[str, str]]) -> httpx.Response:
    return await client.post("/uws/jobs", content=urlencode(data), headers=FORM)


async def test_a_job_is_created_and_the_client_redirected_to_it(client, publisher) -> None:
    response = await create(client, {"WORKFLOW": "hello-world", "Parameter1": "999", "PHASE": "RUN",
                                     "RUNID": "my run", "EXECUTIONDURATION": "30",
                                     "DESTRUCTION": "2030-01-02T03:04:05Z"})

    assert response.status_code == 303
    [command] = publisher.published
    assert isinstance(command, CreateJob)
    assert response.headers["location"] == f"/uws/jobs/{command.job_id}"
    assert command.job_id.version == 7
    assert command.workflow == "hello-world" and command.facility == "local"
    assert command.run is True and command.run_id == "my run" and command.execution_duration == 30
    assert command.destruction == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert command.owner is None
    assert command.parameters == {"Parameter1": "999", "Parameter2": "2", "Parameter3": "33",
                                  "Parameter4": "GG", "Parameter5": "test", "Parameter6": "default"}


async def test_names_are_case_insensitive_and_parameters_keep_the_workflows_spelling(client, publisher) -> None:
    response = await create(client, {"workflow": "hello-world", "Facility": "local", "phase": "run",
                                     "parameter3": "x", "PARAMETER4": "y", "runId": "r"})

    assert response.status_code == 303
    [command] = publisher.published
    assert command.run is True and command.run_id == "r"
    assert command.parameters["Parameter3"] == "x" and command.parameters["Parameter4"] == "y"


async def test_without_phase_the_job_stays_pending_and_facility_defaults(client, publisher, settings) -> None:
    response = await create(client, {"WORKFLOW": "noop"})

    assert response.status_code == 303
    [command] = publisher.published
    assert command.run is False and command.facility == settings.default_facility
    assert command.parameters == {} and command.run_id is None
    assert command.destruction is not None
    lifetime = command.destruction - command.occurred_at
    assert abs(lifetime.total_seconds() - settings.default_destruction_days * 86400) < 5


async def test_multipart_forms_are_read_too(client, publisher) -> None:
    response = await client.post("/uws/jobs", files={"WORKFLOW": (None, "noop"), "PHASE": (None, "RUN")})

    assert response.status_code == 303
    assert publisher.published[0].run is True


async def test_a_public_base_url_makes_the_redirect_absolute(catalog, publisher, work_root) -> None:
    app = create_app(Settings(local_work_root=work_root, public_base_url="https://esap.example/batch/"),
                     catalog=catalog, publisher=publisher)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal") as http:
        response = await http.post("/uws/jobs", data={"WORKFLOW": "noop"})

    assert response.headers["location"] == f"https://esap.example/batch/uws/jobs/{publisher.published[0].job_id}"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "WORKFLOW"),
        ({"WORKFLOW": ""}, "WORKFLOW"),
        ({"WORKFLOW": "no-such-workflow"}, "WORKFLOW"),
        ({"WORKFLOW": "../etc/passwd"}, "WORKFLOW"),
        ({"WORKFLOW": "noop", "FACILITY": "nowhere"}, "FACILITY"),
        ({"WORKFLOW": "grid-only", "FACILITY": "local"}, "FACILITY"),
        ({"WORKFLOW": "noop", "PHASE": "ABORT"}, "PHASE"),
        ({"WORKFLOW": "noop", "EXECUTIONDURATION": "soon"}, "EXECUTIONDURATION"),
        ({"WORKFLOW": "noop", "EXECUTIONDURATION": "-1"}, "EXECUTIONDURATION"),
        ({"WORKFLOW": "noop", "EXECUTIONDURATION": "9" * 30}, "EXECUTIONDURATION"),
        ({"WORKFLOW": "noop", "DESTRUCTION": "tomorrow"}, "DESTRUCTION"),
        ({"WORKFLOW": "noop", "RUNID": "r" * 257}, "RUNID"),
        ({"WORKFLOW": "noop", "Colour": "blue"}, "Colour"),
        ({"WORKFLOW": "hello-world", "parameter1": "a", "PARAMETER1": "b"}, "Parameter1"),
        ({"WORKFLOW": "typed"}, "count"),
        ({"WORKFLOW": "typed", "count": "three"}, "count"),
        ({"WORKFLOW": "typed", "count": "3", "ratio": "half"}, "ratio"),
        ({"WORKFLOW": "typed", "count": "3", "flag": "maybe"}, "flag"),
        ({"WORKFLOW": "noop", "RUNID": "a\x00b"}, "RUNID"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(client, publisher, form, field) -> None:
    response = await create(client, form)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(f"{field}:")
    assert publisher.published == []


async def test_a_reserved_name_given_twice_is_refused(client, publisher) -> None:
    response = await create(client, [("WORKFLOW", "noop"), ("phase", "RUN"), ("PHASE", "RUN")])

    assert response.status_code == 400
    assert response.text.startswith("PHASE:")


async def test_typed_parameters_accept_good_values(client, publisher) -> None:
    response = await create(client, {"WORKFLOW": "typed", "COUNT": "3", "ratio": "0.5", "flag": "true"})

    assert response.status_code == 303
    assert publisher.published[0].parameters == {"count": "3", "ratio": "0.5", "flag": "true"}


async def test_a_body_that_is_not_a_form_is_refused(client, publisher) -> None:
    json_body = await client.post("/uws/jobs", json={"WORKFLOW": "noop"})
    not_utf8 = await client.post("/uws/jobs", content=b"WORKFLOW=%FF",
                                 headers=FORM)

    assert json_body.status_code == 415
    assert not_utf8.status_code == 400
    assert publisher.published == []


async def test_an_unconfirmed_publish_is_a_503(client, publisher) -> None:
    publisher.refuse = True

    response = await create(client, {"WORKFLOW": "noop"})

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert "broker" in response.text


async def test_an_unreachable_catalog_is_a_503(client, catalog, publisher) -> None:
    catalog.down = True

    response = await create(client, {"WORKFLOW": "noop"})

    assert response.status_code == 503
    assert "catalog" in response.text
    assert publisher.published == []


async def test_the_catalogue_is_read_once_for_many_jobs(client, catalog, publisher) -> None:
    for _ in range(20):
        assert (await create(client, {"WORKFLOW": "hello-world"})).status_code == 303

    assert catalog.calls_to("get_workflow") == ["hello-world"]
    assert catalog.calls_to("get_facility") == ["local"]
    assert len({c.job_id for c in publisher.published}) == 20


async def test_submitted_jobs_are_counted(client, publisher) -> None:
    await create(client, {"WORKFLOW": "noop"})
    await create(client, {"WORKFLOW": "missing"})

    metrics = (await client.get("/metrics")).text
    assert "gateway_jobs_submitted_total 1.0" in metrics


async def test_an_outage_is_logged_once_however_many_requests_it_refuses(client, catalog, app) -> None:
    catalog.down = True

    with capture_logs() as logs:
        answers = [await create(client, {"WORKFLOW": "noop"}) for _ in range(5)]

    assert {(a.status_code, a.headers["retry-after"]) for a in answers} == {(503, "5")}
    started = [e for e in logs if e["event"].startswith("A dependency is unavailable")]
    assert [e["dependency"] for e in started] == ["catalog"]
    registry = app.state.factory.jobs._metrics.registry
    assert registry.get_sample_value("gateway_requests_refused_total", {"dependency": "catalog"}) == 5
