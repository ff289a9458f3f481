"""The public catalogue (``/catalogue/...``), ESAP's search routes (``/esap-api/batch/...``) and execution
planning (``/uws/plan``): routes only; the rules are in ``services.search`` and ``services.planning``.

JSON only. Must not depend on a concrete client or hold a rule: each route parses, makes one call, maps it.
"""

from typing import TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, TypeAdapter

from esap_gateway.adapters.esap import EsapFacility, EsapWorkflow, to_esap_facility, to_esap_workflow
from esap_gateway.handlers.dependencies import BaseUrl, Planning, Search
from esap_gateway.handlers.representations import ERRORS, PLAN_FIELDS, SEARCH_QUERY, form, query
from esap_gateway.handlers.requests import EsapSearch, FacilitySearch, PlanFromForm, PlanFromQuery, WorkflowSearch
from esap_messages.api import ExecutionPlan, FacilityMatches, FacilityView, WorkflowMatches, WorkflowView

router = APIRouter(tags=["catalogue"], responses=ERRORS)
Item = TypeVar("Item")
_TEXT = {"type": "string", "maxLength": 500}
_WORKFLOW_SEARCH = {"parameters": [*SEARCH_QUERY["parameters"], *query(
    ("KEYWORD", _TEXT, "A keyword."), ("TYPE", _TEXT, "The workflow type."),
    ("RUNTIME_ENGINE", _TEXT, "A runtime engine."),
    ("FACILITY_TYPE", _TEXT, "A facility type it runs on."))["parameters"]]}
_FACILITY_SEARCH = {"parameters": [*SEARCH_QUERY["parameters"], *query(
    ("TYPE", _TEXT, "The facility type."), ("RUNTIME_ENGINE", _TEXT, "A runtime engine."),
    ("STATUS", _TEXT, "online, offline..."))["parameters"]]}
_ESAP_SEARCH = query(("keyword", _TEXT, "Free text."))
_PLAN_QUERY = query(*((name, schema, schema.get("description", "")) for name, schema in PLAN_FIELDS.items()),
                    others=True)

_ESAP_WORKFLOWS = TypeAdapter(list[EsapWorkflow])
_ESAP_FACILITIES = TypeAdapter(list[EsapFacility])
_SEARCH = ("q: free text over name, keywords and description (ranked; quotes, 'or', '-word'); "
           "limit (1-200, default 50), offset")


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _json_list(adapter: TypeAdapter[list[Item]], items: list[Item]) -> Response:
    """ESAP's answers are bare JSON lists, which no model of ours wraps: serialised by their TypeAdapter."""
    return Response(adapter.dump_json(items), media_type="application/json")


@router.get("/catalogue/workflows", response_model=WorkflowMatches,
            summary=f"Search workflows. {_SEARCH}; filters keyword, type, runtime_engine, facility_type",
            openapi_extra=_WORKFLOW_SEARCH)
async def search_workflows(query: WorkflowSearch, search: Search) -> Response:
    return _json(await search.workflows(query))


@router.get("/catalogue/workflows/{slug}", response_model=WorkflowView, summary="One workflow, with its "
            "parameter schema (name, type, default, required, minimum, maximum, choices, unit, description)")
async def get_workflow(slug: str, search: Search) -> Response:
    return _json(await search.workflow(slug))


@router.get("/catalogue/facilities", response_model=FacilityMatches,
            summary=f"Search facilities. {_SEARCH}; filters type, runtime_engine, status",
            openapi_extra=_FACILITY_SEARCH)
async def search_facilities(query: FacilitySearch, search: Search) -> Response:
    return _json(await search.facilities(query))


@router.get("/catalogue/facilities/{slug}", response_model=FacilityView, summary="One facility")
async def get_facility(slug: str, search: Search) -> Response:
    return _json(await search.facility(slug))


@router.get("/esap-api/batch/workflows/search", response_model=list[EsapWorkflow],
            summary="ESAP's workflow search: keyword (free text); ESAP's field names", openapi_extra=_ESAP_SEARCH)
async def esap_workflows(query: EsapSearch, search: Search, base: BaseUrl) -> Response:
    found = await search.workflows(query)
    return _json_list(_ESAP_WORKFLOWS, [to_esap_workflow(w, base) for w in found.workflows])


@router.get("/esap-api/batch/facilities/search", response_model=list[EsapFacility],
            summary="ESAP's facility search: keyword (free text); ESAP's field names", openapi_extra=_ESAP_SEARCH)
async def esap_facilities(query: EsapSearch, search: Search, base: BaseUrl) -> Response:
    found = await search.facilities(query)
    return _json_list(_ESAP_FACILITIES, [to_esap_facility(f, base) for f in found.facilities])


@router.get("/uws/plan", response_model=ExecutionPlan, summary="Execution planning: WORKFLOW, EXECUTIONDURATION "
            "and the workflow's parameters; offers per able facility (estimated start and end), best first",
            openapi_extra=_PLAN_QUERY)
async def plan_get(request: PlanFromQuery, planning: Planning) -> Response:
    return _json(await planning.answer(request))


@router.post("/uws/plan", response_model=ExecutionPlan, summary="Execution planning, parameters as a form",
             openapi_extra=form(PLAN_FIELDS, required=("WORKFLOW",), parameters=True))
async def plan_post(request: PlanFromForm, planning: Planning) -> Response:
    return _json(await planning.answer(request))
