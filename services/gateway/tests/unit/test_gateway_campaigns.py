"""POST /uws/jobs with SWEEP: one CreateCampaign, every child's values checked first, refusals naming the
parameter and the value; a campaign's jobInfo, its children listed under PARENT, and its tables as results."""

import csv
import io
import json
from urllib.parse import urlencode

import httpx
from lxml import etree

from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import CreateCampaign, CreateJob, Phase
from esap_messages.api import ChildrenView, NotificationView, ResultView

FORM = {"content-type": "application/x-www-form-urlencoded"}
ESAP = "{urn:esap-batch:jobinfo:v1}"


async def create(client: httpx.AsyncClient, data: list[tuple[str, str]]) -> httpx.Response:
    return await client.post("/uws/jobs", content=urlencode(data), headers=FORM)


async def test_a_sweep_is_one_campaign_of_the_cartesian_product(client, publisher) -> None:
    response = await create(client, [("WORKFLOW", "typed"), ("SWEEP", "COUNT=1..3"), ("sweep", "flag=true,false"),
                                     ("ratio", "0.5"), ("PHASE", "RUN")])

    assert response.status_code == 303
    [command] = publisher.published
    assert isinstance(command, CreateCampaign) and command.run
    assert response.headers["location"] == f"/uws/jobs/{command.job_id}"
    assert command.parameters == {"ratio": "0.5"}  # the swept ones are each child's own
    assert command.children == [{"count": c, "flag": f} for c in ("1", "2", "3") for f in ("true", "false")]


async def test_every_childs_value_is_checked_before_anything_is_published(client, publisher) -> None:
    refused = await create(client, [("WORKFLOW", "typed"), ("SWEEP", "count=1,2,x")])
    assert refused.status_code == 400
    assert "count" in refused.text and "'x'" in refused.text
    unknown = await create(client, [("WORKFLOW", "typed"), ("count", "1"), ("SWEEP", "nope=1,2")])
    assert unknown.status_code == 400 and "nope" in unknown.text
    twice = await create(client, [("WORKFLOW", "typed"), ("count", "1"), ("SWEEP", "count=1,2")])
    assert twice.status_code == 400 and "both as a parameter and in SWEEP" in twice.text
    bad_range = await create(client, [("WORKFLOW", "typed"), ("SWEEP", "count=1..x")])
    assert bad_range.status_code == 400 and "SWEEP" in bad_range.text
    assert publisher.published == []


async def test_more_children_than_the_limit_is_refused(work_root, catalog, publisher) -> None:
    settings = Settings(local_work_root=work_root, default_facility="local", max_sweep_children=10)
    app = create_app(settings, catalog=catalog, publisher=publisher)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://g") as client:
        refused = await create(client, [("WORKFLOW", "typed"), ("SWEEP", "count=1..11")])
        accepted = await create(client, [("WORKFLOW", "typed"), ("SWEEP", "count=1..10")])
    assert refused.status_code == 400 and "10" in refused.text
    assert accepted.status_code == 303
    assert [type(m) for m in publisher.published] == [CreateCampaign]


async def test_without_sweep_a_single_job_is_made(client, publisher) -> None:
    assert (await create(client, [("WORKFLOW", "typed"), ("count", "3")])).status_code == 303
    [command] = publisher.published
    assert type(command) is CreateJob


async def test_a_campaign_shows_its_children_and_its_tables(client, make_job, uws_job) -> None:
    parent = make_job(phase=Phase.EXECUTING, children=ChildrenView(
        total=3, submitted=2, phases={Phase.COMPLETED: 1, Phase.EXECUTING: 1, Phase.QUEUED: 1}))
    kids = [make_job(parent_id=parent.job_id, swept={"Parameter1": str(i)}, phase=phase, results=results)
            for i, (phase, results) in enumerate([
                (Phase.COMPLETED, [ResultView(id="out.txt", size=2, mime_type="text/plain", location="file:///x")]),
                (Phase.EXECUTING, []), (Phase.QUEUED, [])])]

    job = uws_job(await client.get(f"/uws/jobs/{parent.job_id}"))
    assert [r.id_ for r in job.results] == ["result", "children.csv", "children.json"]
    xml = etree.fromstring((await client.get(f"/uws/jobs/{parent.job_id}")).content)
    children = xml.find(f".//{ESAP}children")
    assert children is not None and children.get("total") == "3" and children.get("submitted") == "2"
    assert {c.get("phase"): c.text for c in children} == {"COMPLETED": "1", "EXECUTING": "1", "QUEUED": "1"}

    table = (await client.get(f"/uws/jobs/{parent.job_id}/results/children.csv")).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["job_id"], r["Parameter1"], r["phase"]) for r in rows] == [
        (str(k.job_id), str(i), k.phase.value) for i, k in enumerate(kids)]
    assert rows[0]["results"] == f"http://gateway.test/uws/jobs/{kids[0].job_id}/results/out.txt"
    assert (await client.get(f"/uws/jobs/{parent.job_id}/results/result")).text == table
    doc = json.loads((await client.get(f"/uws/jobs/{parent.job_id}/results/children.json")).content)
    assert doc["campaign"] == str(parent.job_id) and [c["swept"] for c in doc["children"]] == [
        {"Parameter1": "0"}, {"Parameter1": "1"}, {"Parameter1": "2"}]

    child = etree.fromstring((await client.get(f"/uws/jobs/{kids[1].job_id}")).content)
    assert child.findtext(f".//{ESAP}parent") == str(parent.job_id)
    assert [(v.get("name"), v.text) for v in child.iterfind(f".//{ESAP}swept/{ESAP}value")] == [("Parameter1", "1")]
    as_json = (await client.get(f"/uws/jobs/{parent.job_id}", headers={"accept": "application/json"})).json()
    assert as_json["jobInfo"]["children"]["total"] == 3


async def test_a_job_runs_again_with_its_changes_and_names_the_original(client, publisher, make_job) -> None:
    original = make_job(workflow="typed", parameters={"count": "3", "ratio": "0.5"}, execution_duration=30,
                        run_id="first", phase=Phase.ERROR, notifications=[
                            NotificationView(target="https://hooks.example/done", state="delivered")])

    response = await client.post(f"/uws/jobs/{original.job_id}/resubmit", content=urlencode(
        {"COUNT": "4", "PHASE": "RUN"}), headers=FORM)

    assert response.status_code == 303
    [command] = publisher.published
    assert type(command) is CreateJob and command.resubmit_of == original.job_id
    assert response.headers["location"] == f"/uws/jobs/{command.job_id}"
    assert command.parameters == {"count": "4", "ratio": "0.5"} and command.run
    assert (command.execution_duration, command.run_id, command.facility) == (30, "first", "local")
    assert command.notify == ["https://hooks.example/done"]  # told as the original was
    refused = await client.post(f"/uws/jobs/{original.job_id}/resubmit", content=urlencode({"count": "x"}),
                                headers=FORM)
    assert refused.status_code == 400 and "count" in refused.text
    assert (await client.post(f"/uws/jobs/{original.job_id}/resubmit", content=urlencode(
        {"SWEEP": "count=1,2"}), headers=FORM)).status_code == 400


async def test_a_campaign_runs_again_for_its_children_that_did_not_complete(client, publisher, make_job) -> None:
    parent = make_job(workflow="typed", parameters={"ratio": "0.5"}, phase=Phase.ERROR, children=ChildrenView(
        total=3, submitted=3, phases={Phase.COMPLETED: 1, Phase.ERROR: 2}))
    for count, phase in (("1", Phase.COMPLETED), ("2", Phase.ERROR), ("3", Phase.ERROR)):
        make_job(workflow="typed", parent_id=parent.job_id, swept={"count": count}, phase=phase,
                 parameters={"count": count, "ratio": "0.5"})

    failed = await client.post(f"/uws/jobs/{parent.job_id}/resubmit", content=urlencode({"ratio": "0.25"}),
                               headers=FORM)
    every = await client.post(f"/uws/jobs/{parent.job_id}/resubmit", content=urlencode({"SCOPE": "all"}),
                              headers=FORM)

    assert failed.status_code == every.status_code == 303
    first, second = publisher.published
    assert isinstance(first, CreateCampaign) and first.resubmit_of == parent.job_id and not first.run
    assert first.children == [{"count": "2"}, {"count": "3"}] and first.parameters == {"ratio": "0.25"}
    assert isinstance(second, CreateCampaign) and second.children == [{"count": c} for c in "123"]
