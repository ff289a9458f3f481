"""How the UWS routes answer: an XML or JSON document, and the OpenAPI description of both.

Must not depend on anything but FastAPI and the adapters' media types and JSON models.
"""

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from esap_gateway.adapters.uws_json import JSON_MEDIA_TYPE, JobJson
from esap_gateway.adapters.uws_xml import XML_MEDIA_TYPE

TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed value; the text names the field."},
    401: {"description": "A bearer token was needed, or the one sent is not accepted."},
    403: {"description": "Not allowed in the job's phase, or another user's job; the text says why."},
    404: {"description": "No such job or result."},
    503: {"description": "The catalog or the broker is unavailable; try again (Retry-After)."},
}


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
