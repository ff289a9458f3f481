"""The console's job pages: the user's job list (filters, paging, counts, a campaign's progress), one job
(timeline, DIRAC status, parameters, results with previews, error summary; a campaign's progress and table of
children) kept up to date by server-sent events, result downloads, and the RUN, ABORT, ARCHIVE, DELETE and
"Run again" actions.

Routes only: every rule is the gateway's job service's, for the signed-in owner. Must not hold job rules.
"""

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from esap_gateway.console.campaigns import CHILDREN_PAGE, children_page, progress
from esap_gateway.console.live import job_events, list_events, result_items
from esap_gateway.console.origin import same_origin
from esap_gateway.console.session import Console, ConsoleOwner, render, templates
from esap_gateway.domain.errors import InvalidRequestError, NotAllowedError, NotFoundError
from esap_gateway.domain.uws import PhaseAction, parse_job_id, parse_list_filters, parse_resubmission
from esap_gateway.handlers.dependencies import BaseUrl, Jobs
from esap_gateway.handlers.requests import Form, JobId, Query
from esap_gateway.services.jobs import JobService
from esap_messages import FINAL_PHASES, WAITABLE_PHASES, Phase, utcnow
from esap_messages.api import JobView

router = APIRouter(tags=["console"], include_in_schema=False, dependencies=[Depends(same_origin)])

ARCHIVE_DELAY = timedelta(seconds=2)
"""ARCHIVE sets the destruction time this close: the catalog's sweeper archives the job at its next pass."""
_FILTERS = ("phase", "workflow", "facility", "after")


def _list_query(query: dict[str, str], size: int) -> list[tuple[str, str]]:
    pairs = [("LAST", str(size))]
    for name in _FILTERS:
        value = query.get(name, "").strip()
        if value:
            pairs.append((name.upper(), f"{value}T00:00:00Z" if name == "after" and len(value) == 10 else value))
    if query.get("cursor"):
        pairs.append(("CURSOR", query["cursor"]))
    return pairs


@router.get("/jobs")
async def job_list(request: Request, console: Console, owner: ConsoleOwner, jobs: Jobs, query: Query) -> Response:
    chosen = {name: value for name, value in query if name in (*_FILTERS, "cursor")}
    try:
        page = await jobs.list(parse_list_filters(_list_query(chosen, console.settings.console_page_size)), owner)
    except InvalidRequestError as exc:
        return render(request, "jobs.html", {"rows": [], "chosen": chosen, "phases": list(Phase), "progress": {},
                                             "error": str(exc), "next_cursor": None, "active": ""}, 400)
    views = await asyncio.gather(*(jobs.view(j.job_id, owner) for j in page.jobs), return_exceptions=True)
    rows = [(summary, view if isinstance(view, JobView) else None) for summary, view in zip(page.jobs, views,
                                                                                             strict=True)]
    active = urlencode([("id", str(j.job_id)) for j in page.jobs if j.phase in WAITABLE_PHASES])
    shown = {view.job_id: progress(view.children) for _, view in rows if view and view.children is not None}
    return render(request, "jobs.html", {"rows": rows, "chosen": chosen, "phases": list(Phase), "error": "",
                                         "next_cursor": page.next_cursor, "active": active, "progress": shown})


@router.get("/jobs/events")
async def job_list_updates(owner: ConsoleOwner, jobs: Jobs, console: Console, query: Query) -> StreamingResponse:
    """Phase changes of the listed jobs still under way (``id`` repeated), for one open job list."""
    ids = [job_id for name, value in query if name == "id" and (job_id := _job_id(value)) is not None]
    ids = ids[:console.settings.console_page_size]
    return StreamingResponse(list_events(jobs, ids, owner, progress=_progress_html), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _job_id(value: str) -> UUID | None:
    """A listed job's id, or None for what is not one (such a job simply has no events)."""
    try:
        return parse_job_id(value)
    except NotFoundError:
        return None


def _progress_html(view: JobView) -> str:
    """A campaign's progress as its row in the job list shows it."""
    if view.children is None:
        return ""
    return templates.get_template("progress.html").render({"p": progress(view.children)})


async def _campaign(jobs: JobService, view: JobView, owner: str | None, start: int) -> dict[str, Any] | None:
    """A campaign's progress and one page of its children (None for any other job)."""
    if view.children is None:
        return None
    total = view.children.total
    start = max(0, min(start, max(0, total - 1)))  # a page past the end shows the last rows
    page = children_page(await jobs.children(view.job_id, owner, start, CHILDREN_PAGE))
    return {"progress": progress(view.children), "page": page}


async def _live_html(request: Request, jobs: JobService, view: JobView, owner: str | None,
                     campaign: dict[str, Any] | None) -> str:
    context = {"request": request, "job": view, "results": await result_items(jobs, view, owner),
               "final": view.phase in FINAL_PHASES, "campaign": campaign}
    return templates.get_template("job_live.html").render(context)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, owner: ConsoleOwner, jobs: Jobs, job_id: JobId, notice: str = "",
                   children: int = 0) -> Response:
    """``children``: where a campaign's table starts (its rows are paged)."""
    view = await jobs.view(job_id, owner)
    campaign = await _campaign(jobs, view, owner, children)
    return render(request, "job.html", {"job": view, "notice": notice, "children_start": children,
                                        "swept": campaign["page"].swept if campaign else [],
                                        "live": await _live_html(request, jobs, view, owner, campaign)})


@router.get("/jobs/{job_id}/events")
async def job_updates(request: Request, owner: ConsoleOwner, jobs: Jobs, job_id: JobId,
                      children: int = 0) -> StreamingResponse:
    await jobs.view(job_id, owner)  # 404/403 before the stream starts

    async def live(view: JobView) -> str:
        return await _live_html(request, jobs, view, owner, await _campaign(jobs, view, owner, children))

    return StreamingResponse(job_events(jobs, job_id, owner, live), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/jobs/{job_id}/results/{result_id}")
async def result_file(owner: ConsoleOwner, jobs: Jobs, job_id: JobId, result_id: str, base: BaseUrl) -> Response:
    content = await jobs.result_content(job_id, result_id, owner, base)
    if content.path is None:
        disposition = f'attachment; filename="{result_id}"'
        return Response(content.body, media_type=content.mime_type, headers={"Content-Disposition": disposition})
    return FileResponse(content.path, media_type=content.mime_type, filename=content.path.name)


async def _act(jobs: JobService, job_id: UUID, action: str, owner: str | None) -> str:
    if action in ("run", "abort"):
        await jobs.change_phase(job_id, PhaseAction(action.upper()), owner)
        return f"{action.upper()} requested."
    if action == "archive":
        await jobs.set_destruction(job_id, utcnow() + ARCHIVE_DELAY, owner)
        return "ARCHIVE requested: the job's results are dropped in a moment, its record kept."
    raise InvalidRequestError("action", f"unknown action {action!r}")


@router.post("/jobs/{job_id}/actions")
async def job_action(owner: ConsoleOwner, jobs: Jobs, job_id: JobId, form: Form) -> Response:
    action = dict(form).get("action", "")
    if action == "delete":
        await jobs.delete(job_id, owner)
        return RedirectResponse("/jobs", status_code=303)
    try:
        notice = await _act(jobs, job_id, action, owner)
    except (InvalidRequestError, NotAllowedError) as exc:
        notice = str(exc)
    return RedirectResponse(_job_url(job_id, notice), status_code=303)


@router.post("/jobs/{job_id}/again")
async def run_again(owner: ConsoleOwner, jobs: Jobs, job_id: JobId, form: Form) -> Response:
    """A new job (or campaign) like this one, run at once: as POST /uws/jobs/{id}/resubmit with PHASE=RUN and,
    for a campaign, ``scope`` (its unfinished children, or all)."""
    scope = dict(form).get("scope", "unfinished")
    try:
        new = await jobs.resubmit(job_id, parse_resubmission([("PHASE", "RUN"), ("SCOPE", scope)]), owner)
    except (InvalidRequestError, NotAllowedError) as exc:
        return RedirectResponse(_job_url(job_id, str(exc)), status_code=303)
    return RedirectResponse(_job_url(new, f"Runs job {job_id} again."), status_code=303)


def _job_url(job_id: UUID, notice: str) -> str:
    return f"/jobs/{job_id}?notice={quote(notice)}"

