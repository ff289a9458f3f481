"""Security headers on every answer of the gateway: what a browser may load, frame or send along.

- ``Content-Security-Policy``: the console loads its own scripts, styles and images only, posts forms to itself,
  and may not be framed (``frame-ancestors 'none'``: no clickjacking); the API documentation pages (``/docs``,
  ``/redoc``), whose scripts are inline and from a CDN, only may not be framed;
- ``X-Content-Type-Options: nosniff``: a result served as text/plain is never run as a script or page;
- ``Referrer-Policy: same-origin``: job ids in the console's URLs never leave for another site;
- ``X-Frame-Options: DENY`` for browsers that predate frame-ancestors.
A plain ASGI middleware (esap_runtime.ops.HttpMiddleware). Depends on Starlette and esap_runtime only.
"""

from starlette.types import Message, Receive, Scope, Send

from esap_runtime.ops import HttpMiddleware

CONSOLE_POLICY = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                  b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                  b"object-src 'none'")
DOCUMENTATION_POLICY = b"frame-ancestors 'none'"
DOCUMENTATION_PATHS = ("/docs", "/redoc")

_COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]


class SecurityHeaders(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        policy = DOCUMENTATION_POLICY if path.startswith(DOCUMENTATION_PATHS) else CONSOLE_POLICY
        added = [(b"content-security-policy", policy), *_COMMON]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self._app(scope, receive, send_with_headers)
