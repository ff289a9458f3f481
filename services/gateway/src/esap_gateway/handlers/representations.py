"""How the UWS routes answer: an XML or JSON document, and the OpenAPI description of both, of the errors each route
gives, and of the form fields and query parameters that the routes read themselves (UWS names are
case-insensitive, so FastAPI's own parameter parsing cannot read them; the description is written here instead).

Must not depend on anything but FastAPI, pydantic's BaseModel and the adapters' media types and JSON models.
"""

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from esap_gateway.adapters.uws_json import JSON_MEDIA_TYPE, JobJson
from esap_gateway.adapters.uws_xml import XML_MEDIA_TYPE

TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed value; the text names the field."},
    401: {"description": "A bearer token was needed, or the one sent is not accepted."},
    403: {"description": "Not allowed in the job's phase, or another user's job; the text says why."},
    404: {"description": "No such job or result."},
    413: {"description": "The body is larger than this route takes."},
    429: {"description": "Too many changes from this owner; try again after Retry-After.", "headers": _RETRY_AFTER},
    503: {"description": "The catalog or the broker is unavailable; try again after Retry-After.",
          "headers": _RETRY_AFTER},
}

_SLUG = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
_PHASES = ["PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN", "HELD", "SUSPENDED",
           "ARCHIVED"]
_INSTANT = {"type": "string", "format": "date-time"}
_SECONDS = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
CREATION_FIELDS: dict[str, dict[str, Any]] = {
    "WORKFLOW": {**_SLUG, "description": "The workflow to run (its slug)."},
    "FACILITY": {**_SLUG, "description": "Where to run it; left out: the best offer of execution planning."},
    "RUNID": {"type": "string", "maxLength": 256, "description": "The client's own label for the job."},
    "EXECUTIONDURATION": {**_SECONDS, "description": "Seconds the job may run; 0 is unlimited."},
    "DESTRUCTION": {**_INSTANT, "description": "When the job is destroyed; left out: in the default lifetime."},
    "PHASE": {"type": "string", "enum": ["RUN"], "description": "RUN: start the job at once."},
    "SWEEP": {"type": "string", "maxLength": 65536,
              "description": "<parameter>=<values>: a campaign of one child job per value (a comma list, a range "
              "such as 1..100 or 0..90:10, or a JSON array); repeated, the cartesian product."},
}
WORKFLOW_PARAMETER = {"type": "string", "maxLength": 65536,
                      "description": "Any other field is one of the workflow's parameters."}


def form(fields: dict[str, dict[str, Any]], *, required: tuple[str, ...] = (),
         parameters: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a route whose form body the route reads itself (names case-insensitive)."""
    schema: dict[str, Any] = {"type": "object", "properties": fields, "required": list(required)}
    schema["additionalProperties"] = WORKFLOW_PARAMETER if parameters else False
    content = {"application/x-www-form-urlencoded": {"schema": schema}, "multipart/form-data": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def query(*parameters: tuple[str, dict[str, Any], str], others: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a route whose query parameters the route reads itself."""
    described = [{"name": name, "in": "query", "required": False, "schema": schema, "description": text}
                 for name, schema, text in parameters]
    extra: dict[str, Any] = {"parameters": described}
    if others:
        extra["x-workflow-parameters"] = "Any other query parameter is one of the workflow's parameters."
    return extra


CREATE = form(CREATION_FIELDS, required=("WORKFLOW",), parameters=True)
PLAN_FIELDS = {"WORKFLOW": CREATION_FIELDS["WORKFLOW"], "EXECUTIONDURATION": CREATION_FIELDS["EXECUTIONDURATION"]}
LIST_QUERY = query(
    ("PHASE", {"type": "string", "enum": _PHASES}, "Jobs in this phase (repeatable); ARCHIVED only when asked."),
    ("AFTER", _INSTANT, "Jobs created after this instant."),
    ("LAST", {"type": "integer", "minimum": 1}, "The newest N jobs."),
    ("WORKFLOW", _SLUG, "Jobs of this workflow."), ("FACILITY", _SLUG, "Jobs on this facility."),
    ("RUNID", {"type": "string", "maxLength": 256}, "Jobs with this run id."),
    ("CURSOR", {"type": "string", "maxLength": 256}, "The next page, from the Link rel=next header."),
    ("PARENT", {"type": "string", "format": "uuid"}, "The children of this campaign (left out: campaigns and "
     "single jobs, never children)."),
)
WAIT_QUERY = query(
    ("WAIT", {"type": "integer", "minimum": -1}, "Block up to this many seconds (-1: the server's longest) while "
     "the job stays in its phase."),
    ("PHASE", {"type": "string", "enum": _PHASES}, "The phase the client last saw."),
)
SEARCH_QUERY = query(
    ("Q", {"type": "string", "maxLength": 500}, "Free text."), ("LIMIT", {"type": "integer", "minimum": 1,
                                                                        "maximum": 200}, "Page size."),
    ("OFFSET", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, "Page start."),
)


def job_responses(model: type[BaseModel], element: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"A UWS 1.1 {element} document (XML), or JSON with Accept: application/json.",
            "model": model,
            "content": {XML_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **ERRORS,
    }


JOB_RESPONSES = job_responses(JobJson, "uws:job")


def document(body: bytes, json: bool, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=JSON_MEDIA_TYPE if json else XML_MEDIA_TYPE, headers=headers)
