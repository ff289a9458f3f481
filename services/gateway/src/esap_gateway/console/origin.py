"""Cross-site request forgery: the console's state-changing requests (every POST, sign-in and sign-out included)
must come from the console's own pages.

Browsers say where a request comes from: ``Origin`` on every POST, and ``Sec-Fetch-Site``. A POST whose
``Sec-Fetch-Site`` is anything but same-origin (or none: typed by the user), or whose ``Origin`` is another origin
than the console's (or ``null``), is refused with 403. The console's origin is that of the configured public base
URL, else this request's own. A request with neither header comes from no browser (a script holding its own
token) and carries no ambient authority to abuse: it is let through, as the cookie's SameSite=Lax already keeps
cross-site browsers from sending it.
Must not depend on anything but FastAPI, the factory (through handlers.dependencies) and the gateway's errors.
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from esap_gateway.domain.errors import NotAllowedError
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import get_factory

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def console_origin(request: Request, public_base_url: str | None) -> str:
    if public_base_url:
        parts = urlsplit(public_base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()


async def same_origin(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> None:
    """Refuses a state-changing request a browser sent from another site."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ALLOWED_FETCH_SITES:
        raise NotAllowedError("This request came from another site and is refused; use the console's own pages.")
    if origin is not None and origin.lower() != console_origin(request, factory.settings.public_base_url):
        raise NotAllowedError("This request came from another site and is refused; use the console's own pages.")
