"""Each request parsed once, into the typed values the services take: FastAPI dependencies.

Form bodies and query strings are read as name/value pairs (form-encoded bodies directly, the common case and the
fast one; multipart bodies through Starlette), then made typed by ``domain.uws``' parsers: a creation request, a
wait request, list filters, a phase action, a job id as a UUID... A route declares what it takes
(``NewJob``, ``Wait``, ``JobId``...) and never sees pairs or header strings.
Must not depend on anything but FastAPI, the domain and the factory (through handlers.dependencies, for the
settings a parser needs).
"""

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import Depends, Request

from esap_gateway.domain.catalogue import FACILITY_FILTERS, MAX_PAGE, WORKFLOW_FILTERS, CatalogueQuery, parse_search
from esap_gateway.domain.errors import InvalidRequestError, UnsupportedMediaTypeError
from esap_gateway.domain.uws import (
    CreationRequest,
    ListFilters,
    Pairs,
    PhaseAction,
    PlanRequest,
    WaitRequest,
    parse_creation,
    parse_destruction,
    parse_execution_duration,
    parse_job_action,
    parse_job_id,
    parse_list_filters,
    parse_parameters,
    parse_phase_action,
    parse_plan,
    parse_wait,
)
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import get_factory

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
MAX_FIELDS = 1000


async def form_pairs(request: Request) -> Pairs:
    media_type = request.headers.get("content-type", _FORM).split(";", 1)[0].strip().lower()
    if media_type == _MULTIPART:
        form = await request.form()
        pairs = []
        for name, value in form.multi_items():
            if not isinstance(value, str):
                raise InvalidRequestError(name, "file uploads are not accepted")
            pairs.append((name, value))
        return pairs
    body = await request.body()
    if media_type != _FORM and body:
        raise UnsupportedMediaTypeError(f"Send the parameters as {_FORM} or {_MULTIPART}, not {media_type}.")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict",
                         max_num_fields=MAX_FIELDS)
    except ValueError:  # not UTF-8, or too many fields
        raise InvalidRequestError("body", f"must be UTF-8, with at most {MAX_FIELDS} parameters") from None


async def query_pairs(request: Request) -> Pairs:
    return request.query_params.multi_items()


Form = Annotated[Pairs, Depends(form_pairs)]
Query = Annotated[Pairs, Depends(query_pairs)]


async def creation_request(form: Form) -> CreationRequest:
    return parse_creation(form)


async def creation_from_query(query: Query) -> CreationRequest:
    return parse_creation(query)


async def wait_request(query: Query, factory: Annotated[Factory, Depends(get_factory)]) -> WaitRequest:
    return parse_wait(query, factory.settings.max_wait_seconds)


async def list_filters(query: Query) -> ListFilters:
    return parse_list_filters(query)


async def job_id(job_id: str) -> UUID:
    return parse_job_id(job_id)


async def phase_action(form: Form) -> PhaseAction:
    return parse_phase_action(form)


async def execution_duration(form: Form) -> int:
    return parse_execution_duration(form)


async def destruction(form: Form) -> datetime:
    return parse_destruction(form)


async def workflow_parameters(form: Form) -> tuple[tuple[str, str], ...]:
    return parse_parameters(form)


async def delete_action(form: Form) -> None:
    parse_job_action(form)


async def plan_query(query: Query) -> PlanRequest:
    return parse_plan(query)


async def plan_form(form: Form) -> PlanRequest:
    return parse_plan(form)


async def workflow_search(query: Query) -> CatalogueQuery:
    return parse_search(query, WORKFLOW_FILTERS)


async def facility_search(query: Query) -> CatalogueQuery:
    return parse_search(query, FACILITY_FILTERS)


async def esap_search(query: Query) -> CatalogueQuery:
    """ESAP's ``keyword`` is free text here; the page is the largest one."""
    text = next((value.strip() for name, value in query if name.lower() == "keyword" and value.strip()), None)
    return CatalogueQuery(text=text, limit=MAX_PAGE)


NewJob = Annotated[CreationRequest, Depends(creation_request)]
NewJobFromQuery = Annotated[CreationRequest, Depends(creation_from_query)]
Wait = Annotated[WaitRequest, Depends(wait_request)]
Filters = Annotated[ListFilters, Depends(list_filters)]
JobId = Annotated[UUID, Depends(job_id)]
NewPhase = Annotated[PhaseAction, Depends(phase_action)]
NewExecutionDuration = Annotated[int, Depends(execution_duration)]
NewDestruction = Annotated[datetime, Depends(destruction)]
NewParameters = Annotated[tuple[tuple[str, str], ...], Depends(workflow_parameters)]
DeleteAction = Depends(delete_action)
PlanFromQuery = Annotated[PlanRequest, Depends(plan_query)]
PlanFromForm = Annotated[PlanRequest, Depends(plan_form)]
WorkflowSearch = Annotated[CatalogueQuery, Depends(workflow_search)]
FacilitySearch = Annotated[CatalogueQuery, Depends(facility_search)]
EsapSearch = Annotated[CatalogueQuery, Depends(esap_search)]
