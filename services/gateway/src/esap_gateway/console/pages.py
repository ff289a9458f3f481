"""The console's search and submission pages: workflows and facilities searched as you type, and a workflow's
form made from its parameter schema (a parameter swept makes a campaign), with the planner's offers to choose the
facility from.

Routes only: the search is in ``catalogue``, the form in ``forms``, job creation in the gateway's job service.
Must not hold job rules.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from esap_gateway.adapters.catalog import CatalogUnavailableError
from esap_gateway.console.catalogue import facilities_for, search
from esap_gateway.console.forms import check_values, form_sweeps, form_values, to_fields, to_sweeps
from esap_gateway.console.origin import same_origin
from esap_gateway.console.session import Console, ConsoleOwner, render
from esap_gateway.domain.errors import InvalidRequestError, NotFoundError
from esap_gateway.domain.uws import Fields, creation
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import Jobs, get_factory
from esap_gateway.handlers.requests import Form
from esap_messages.api import ExecutionPlan, WorkflowView

router = APIRouter(tags=["console"], include_in_schema=False, dependencies=[Depends(same_origin)])

AppFactory = Annotated[Factory, Depends(get_factory)]


@router.get("/")
async def home(request: Request, console: Console, owner: ConsoleOwner, q: str = "") -> Response:
    found = search(await console.catalogue.workflows(), await console.catalogue.facilities(), q)
    return render(request, "search.html", {"q": q, "found": found, "owner": owner})


@router.get("/search")
async def search_results(request: Request, console: Console, owner: ConsoleOwner, q: str = "") -> Response:
    """The result lists alone, replaced in the page as the user types."""
    found = search(await console.catalogue.workflows(), await console.catalogue.facilities(), q)
    return render(request, "search_results.html", {"q": q, "found": found})


async def _plan(factory: Factory, workflow: WorkflowView) -> ExecutionPlan | None:
    """The planner's offers for this workflow (best first); None when it cannot answer now."""
    try:
        return await factory.planning.plan(workflow, {}, 0)
    except (CatalogUnavailableError, InvalidRequestError):
        return None


async def _submission(request: Request, console: Console, factory: Factory, slug: str, values: dict[str, str],
                      chosen: dict[str, str], errors: list[str], status: int = 200,
                      sweeps: dict[str, str] | None = None) -> Response:
    workflow = next((w for w in await console.catalogue.workflows() if w.slug == slug), None)
    if workflow is None:
        raise NotFoundError(f"No workflow {slug!r}.")
    facilities = facilities_for(workflow, await console.catalogue.facilities())
    return render(request, "submit.html", {
        "workflow": workflow, "fields": to_fields(workflow.parameters, values, sweeps), "facilities": facilities,
        "plan": await _plan(factory, workflow), "chosen": chosen, "errors": errors,
    }, status)


@router.get("/workflows/{slug}")
async def submit_page(request: Request, console: Console, factory: AppFactory, owner: ConsoleOwner,
                      slug: str) -> Response:
    return await _submission(request, console, factory, slug, {}, {}, [])


@router.post("/workflows/{slug}")
async def submit(request: Request, console: Console, factory: AppFactory, owner: ConsoleOwner, jobs: Jobs,
                 slug: str, form: Form) -> Response:
    workflow = next((w for w in await console.catalogue.workflows() if w.slug == slug), None)
    if workflow is None:
        raise NotFoundError(f"No workflow {slug!r}.")
    sent = dict(form)
    sweeps = form_sweeps(workflow.parameters, form)
    values = form_values(workflow.parameters, form, swept=sweeps)
    chosen = {"facility": sent.get("facility", ""), "run_id": sent.get("run_id", "").strip()}
    errors = check_values(workflow.parameters, values, swept=sweeps)
    if not errors:
        try:
            job_id = await jobs.create(creation(slug, facility=chosen["facility"], run=sent.get("action") == "run",
                                                run_id=chosen["run_id"], parameters=Fields(values.items()).others(),
                                                sweeps=to_sweeps(sweeps)), owner)
        except InvalidRequestError as exc:
            errors = [str(exc)]
        else:
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    return await _submission(request, console, factory, slug, values, chosen, errors, 400, sweeps)

