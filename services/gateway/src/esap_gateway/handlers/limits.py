"""How much a request may send: a body limit per route, enforced while the body is read.

A request whose Content-Length is over its route's limit is answered 413 at once, without reading anything; one
that sends more than its limit without saying so is stopped at the limit (413), so the gateway never holds more
than a limit's worth of a body. The limits fit what each route takes: a job's report (a few KiB), a batch of up
to 1,000 reports, a UWS or console form (a job's parameters take at most 32 KiB together, percent-encoding
multiplies that by up to 9).
A plain ASGI middleware (esap_runtime.ops.HttpMiddleware). Depends on Starlette, FastAPI's HTTPException and
esap_runtime only.
"""

from fastapi import HTTPException
from starlette.types import Message, Receive, Scope, Send

from esap_runtime.ops import HttpMiddleware

KIB = 1024
CALLBACK_BYTES = 64 * KIB
CALLBACK_BATCH_BYTES = 8 * 1024 * KIB
FORM_BYTES = 1024 * KIB


def body_limit(path: str) -> int:
    if path == "/uws/callbacks":
        return CALLBACK_BATCH_BYTES
    if path.startswith("/uws/jobs/") and path.endswith("/callback"):
        return CALLBACK_BYTES
    return FORM_BYTES


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"The request's body is larger than this route takes ({limit} bytes at most).")


class BodyLimit(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit(scope.get("path", ""))
        declared = next((value for name, value in scope.get("headers", ()) if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self._app(scope, limited, send)


async def _refuse(send: Send, limit: int) -> None:
    body = str(_too_large(limit).detail).encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
