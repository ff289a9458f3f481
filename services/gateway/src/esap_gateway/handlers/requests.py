"""Each request parsed once, into the typed values the services take: FastAPI dependencies.

Form bodies and query strings are read as name/value pairs (form-encoded bodies directly, the common case and the
fast one; multipart bodies through Starlette), then made typed by ``domain.uws``' parsers: a creation request, a
wait request, list filters, a phase action, a job id as a UUID... A route declares what it takes
(``NewJob``, ``Wait``, ``JobId``...) and never sees pairs or header strings.
Must not depend on anything but FastAPI, the domain and the factory (through handlers.dependencies, for the
settings a parser needs).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
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
    Resubmission,
    WaitRequest,
    parse_creation,
    parse_job_action,
    parse_job_id,
    parse_list_filters,
    parse_parameters,
    parse_phase_action,
    parse_plan,
    parse_resubmission,
    parse_wait,
)
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import get_factory

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
MAX_FIELDS = 1000

T = TypeVar("T")


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


def parsed_form(parse: Callable[[Pairs], T]) -> Callable[[Pairs], Awaitable[T]]:
    """A dependency: the form's pairs, made typed by ``parse``."""
    async def dependency(form: Form) -> T:
        return parse(form)
    return dependency


def parsed_query(parse: Callable[[Pairs], T]) -> Callable[[Pairs], Awaitable[T]]:
    """A dependency: the query string's pairs, made typed by ``parse``."""
    async def dependency(query: Query) -> T:
        return parse(query)
    return dependency


async def wait_request(query: Query, factory: Annotated[Factory, Depends(get_factory)]) -> WaitRequest:
    return parse_wait(query, factory.settings.max_wait_seconds)


async def job_id(job_id: str) -> UUID:
    return parse_job_id(job_id)


def esap_search(query: Pairs) -> CatalogueQuery:
    """ESAP's ``keyword`` is free text here; the page is the largest one."""
    text = next((value.strip() for name, value in query if name.lower() == "keyword" and value.strip()), None)
    return CatalogueQuery(text=text, limit=MAX_PAGE)


# What a route declares: from the form body, from the query string, from the path.
NewJob = Annotated[CreationRequest, Depends(parsed_form(parse_creation))]
NewPhase = Annotated[PhaseAction, Depends(parsed_form(parse_phase_action))]
Again = Annotated[Resubmission, Depends(parsed_form(parse_resubmission))]
NewParameters = Annotated[tuple[tuple[str, str], ...], Depends(parsed_form(parse_parameters))]
PlanFromForm = Annotated[PlanRequest, Depends(parsed_form(parse_plan))]
DeleteAction = Depends(parsed_form(parse_job_action))

NewJobFromQuery = Annotated[CreationRequest, Depends(parsed_query(parse_creation))]
Wait = Annotated[WaitRequest, Depends(wait_request)]
Filters = Annotated[ListFilters, Depends(parsed_query(parse_list_filters))]
PlanFromQuery = Annotated[PlanRequest, Depends(parsed_query(parse_plan))]
WorkflowSearch = Annotated[CatalogueQuery, Depends(parsed_query(lambda query: parse_search(query, WORKFLOW_FILTERS)))]
FacilitySearch = Annotated[CatalogueQuery, Depends(parsed_query(lambda query: parse_search(query, FACILITY_FILTERS)))]
EsapSearch = Annotated[CatalogueQuery, Depends(parsed_query(esap_search))]

JobId = Annotated[UUID, Depends(job_id)]
