"""The public catalogue (/catalogue/...) and ESAP's batch search routes, in ESAP's response shape."""

import httpx

from ..conftest import FakeCatalog


async def test_esap_workflow_search_answers_in_esaps_shape(client: httpx.AsyncClient, catalog: FakeCatalog) -> None:
    response = await client.get("/esap-api/batch/workflows/search", params={"keyword": "hello"})
    assert response.status_code == 200
    [found] = response.json()
    assert found == {"id": "hello-world", "name": "Hello-World", "description": "", "keywords": "",
                     "url": "http://gateway.test/catalogue/workflows/hello-world", "ref": "1", "filepath": "",
                     "workflowtype": "process", "runtimeengine": "Process"}
    assert catalog.calls_to("search_workflows")[-1] == [("q", "hello"), ("limit", "200"), ("offset", "0")]
    everything = await client.get("/esap-api/batch/workflows/search")
    assert len(everything.json()) == len(catalog.workflows)


async def test_esap_facility_search_answers_in_esaps_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/esap-api/batch/facilities/search", params={"keyword": "cta"})
    assert response.json() == [{"id": "cta-dirac", "name": "cta-dirac", "description": "",
                                "url": "http://gateway.test/catalogue/facilities/cta-dirac",
                                "facilitytype": "DIRAC", "runtimeengine": "Process", "status": "online"}]


async def test_catalogue_search_passes_filters_and_paging(client: httpx.AsyncClient, catalog: FakeCatalog) -> None:
    response = await client.get("/catalogue/workflows", params={"Q": "world", "keyword": "example", "TYPE": "process",
                                                               "runtime_engine": "docker", "limit": "10",
                                                               "offset": "20"})
    assert response.status_code == 200
    assert catalog.calls_to("search_workflows")[-1] == [
        ("q", "world"), ("keyword", "example"), ("workflow_type", "process"), ("runtime_engine", "docker"),
        ("limit", "10"), ("offset", "20")]
    facilities = await client.get("/catalogue/facilities", params={"status": "online", "type": "local"})
    assert facilities.json()["total"] == 2
    assert catalog.calls_to("search_facilities")[-1][:2] == [("facility_type", "local"), ("status", "online")]
    too_many = await client.get("/catalogue/workflows", params={"limit": "5000"})
    assert too_many.status_code == 400 and "limit: must be between 1 and 200" in too_many.text


async def test_one_workflow_shows_its_parameter_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/catalogue/workflows/typed")
    assert response.status_code == 200
    count = response.json()["parameters"][0]
    assert count == {"name": "count", "type": "integer", "default": None, "required": True, "minimum": None,
                     "maximum": None, "choices": None, "unit": "", "description": ""}
    assert (await client.get("/catalogue/workflows/nope")).status_code == 404
    assert (await client.get("/catalogue/facilities/local")).json()["status"] == "online"
