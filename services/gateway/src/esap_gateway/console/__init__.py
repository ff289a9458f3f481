"""The web console for scientists, served by the gateway at ``/``: search, submit, follow and manage jobs.

``install_console(app)`` adds its routes and its static files; its resources come from ``open_console`` in the
gateway's lifespan. Must not hold job rules: it calls the gateway's own services, as the UWS routes do.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from esap_gateway.console import jobs, pages, signin
from esap_gateway.console.session import install_sign_in_redirect

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    install_sign_in_redirect(app)
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(jobs.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
