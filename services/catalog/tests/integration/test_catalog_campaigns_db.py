"""A campaign through the catalog on real PostgreSQL and RabbitMQ: its children are made in the batch that makes
the parent, listed only under their parent, counted by phase in the parent's view, and tabled in sweep order; the
parent moves with them."""

from typing import Any

from esap_messages import CreateCampaign, DiracStatus, JobStatusObserved, JobSubmitted, StatusSource, new_id, utcnow
from esap_runtime.bus import Bus

from .conftest import GRACE, Catalog, eventually


def campaign(n: int, **fields: Any) -> CreateCampaign:
    values: dict[str, Any] = {"job_id": new_id(), "owner": "alice", "workflow": "sleep", "facility": "local",
                              "children": [{"seconds": str(i)} for i in range(n)]}
    values.update(fields)
    return CreateCampaign.model_validate(values)


async def test_a_campaign_is_one_row_with_its_children_beneath(catalog: Catalog, bus: Bus) -> None:
    made = campaign(250, run=True)
    small = campaign(1).model_copy(update={"children": [{"seconds": "1"}]})
    await bus.publish(made)
    parent = (await catalog.http.get(f"/internal/jobs/{made.job_id}", params=GRACE)).json()
    assert parent["phase"] == "QUEUED" and parent["parent_id"] is None
    assert parent["children"] == {"total": 250, "phases": {"QUEUED": 250}, "submitted": 0}
    await bus.publish(small)
    await catalog.http.get(f"/internal/jobs/{small.job_id}", params=GRACE)

    top = (await catalog.http.get("/internal/jobs", params={"owner": "alice"})).json()["jobs"]
    assert [(j["job_id"], j["children"]) for j in top] == [(str(small.job_id), 1), (str(made.job_id), 250)]
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"owner": "alice", "parent": str(made.job_id), "last": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await catalog.http.get("/internal/jobs", params=params)).json()
        pages.append(page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    listed = [j for page in pages for j in page]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert {j["parent_id"] for j in listed} == {str(made.job_id)} and len({j["job_id"] for j in listed}) == 250

    table = (await catalog.http.get(f"/internal/jobs/{made.job_id}/children", params={"owner": "alice"})).json()
    assert [c["swept"] for c in table["children"]] == [{"seconds": str(i)} for i in range(250)]
    foreign = await catalog.http.get(f"/internal/jobs/{made.job_id}/children", params={"owner": "bob"})
    assert foreign.status_code == 403
    assert (await catalog.http.get(f"/internal/jobs/{new_id()}/children")).status_code == 404
    page = (await catalog.http.get(f"/internal/jobs/{made.job_id}/children", params={"offset": 240})).json()
    assert (page["total"], page["offset"], len(page["children"])) == (250, 240, 10)
    child = (await catalog.http.get(f"/internal/jobs/{table['children'][7]['job_id']}")).json()
    assert child["parent_id"] == str(made.job_id) and child["swept"] == {"seconds": "7"}
    assert child["parameters"]["seconds"] == "7" and child["children"] is None

    for row in table["children"]:
        job_id = row["job_id"]
        await bus.publish(JobSubmitted(job_id=job_id, facility="local", backend_job_id=f"b{job_id}"))
        await bus.publish(JobStatusObserved(job_id=job_id, source=StatusSource.MONITOR, status=DiracStatus.DONE,
                                            observed_at=utcnow(), started_at=utcnow(), ended_at=utcnow()))

    async def completed() -> dict[str, Any] | None:
        view = (await catalog.http.get(f"/internal/jobs/{made.job_id}")).json()
        return view if view["phase"] == "COMPLETED" else None

    done = await eventually(completed, within=30)
    assert done["children"] == {"total": 250, "phases": {"COMPLETED": 250}, "submitted": 250}
    assert [h["phase"] for h in done["history"]] == ["QUEUED", "EXECUTING", "COMPLETED"]
