"""Reading UWS request parameters off HTTP: form bodies and query strings as name/value pairs.

Form-encoded bodies are parsed directly (the common case, and the fast one); multipart bodies through Starlette.
Must not depend on anything but Starlette and the services' errors; it knows no UWS rule.
"""

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from esap_gateway.services.errors import InvalidRequestError, UnsupportedMediaTypeError
from esap_gateway.services.requests import Pairs

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
