"""A job as the console shows it (timeline, DIRAC status, results with previews), and the server-sent events
that carry each phase change to an open job page.

The events come from the gateway's own WAIT (woken by the bus' JobPhaseChanged, or the catalog's blocking read
while that subscription is down): one read per change, none while nothing happens; a comment line keeps the
connection open between changes. The stream ends once the job reached a final phase.
A campaign's parent hears JobPhaseChanged only when its summary phase changes, not when a child moves: while it is
under way it is read again every ``CAMPAIGN_REFRESH`` seconds instead (one read of the parent, whose counts the
catalog keeps), and an event is sent only when its counts or its phase changed.
Must not depend on FastAPI routes; it is given the job service and a renderer.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from esap_gateway.domain.campaigns import table_of
from esap_gateway.domain.errors import NotFoundError
from esap_gateway.domain.uws import WaitRequest
from esap_gateway.services.jobs import JobService
from esap_messages import WAITABLE_PHASES, Phase
from esap_messages.api import JobView, ResultView

PREVIEW_BYTES = 4096
_PREVIEWED = ("text/", "application/json", "application/xml", "application/x-yaml")
CAMPAIGN_REFRESH = 2
"""Seconds between two reads of a campaign under way (its children move without changing its phase)."""


@dataclass(frozen=True)
class ResultItem:
    result: ResultView
    preview: str | None


def previewable(result: ResultView) -> bool:
    return result.mime_type.startswith(_PREVIEWED)


def _head(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(PREVIEW_BYTES + 1)
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + ("\n…" if len(data) > PREVIEW_BYTES else "")


async def result_items(jobs: JobService, view: JobView, owner: str | None) -> list[ResultItem]:
    """The job's results, with the first few kilobytes of those that are text or JSON."""
    items = []
    for result in view.results:
        preview = None
        if previewable(result) and table_of(result.location) is None:  # a campaign's table is on its page
            try:
                content = await jobs.result_content(view.job_id, result.id, owner)
                if content.path is None:
                    body = content.body or b""
                    preview = body[:PREVIEW_BYTES].decode("utf-8", errors="replace")
                else:
                    preview = await asyncio.to_thread(_head, content.path)
            except (NotFoundError, OSError):  # a missing preview must not hide the job
                preview = None
        items.append(ResultItem(result, preview))
    return items


def _fingerprint(view: JobView) -> tuple[object, ...]:
    return (view.phase, view.dirac, len(view.history), len(view.results), view.error, view.children)


async def _next(jobs: JobService, view: JobView, owner: str | None, refresh: float) -> JobView:
    """The job after its next change; a campaign under way, read again ``refresh`` seconds later."""
    if view.children is not None and view.phase is not Phase.PENDING:
        await asyncio.sleep(refresh)  # one read per period: cheaper than a WAIT cut short (two reads)
        return await jobs.view(view.job_id, owner)
    # PHASE: a change between two reads answers at once instead of becoming the phase waited on
    return await jobs.get(view.job_id, WaitRequest(jobs.max_wait, view.phase), owner)


def encode(view: JobView, html: str) -> str:
    data = json.dumps({"phase": view.phase.value, "final": view.phase not in WAITABLE_PHASES, "html": html})
    return f"event: job\ndata: {data}\n\n"


async def job_events(jobs: JobService, job_id: UUID, owner: str | None,
                     render: Callable[[JobView], Awaitable[str]], *,
                     refresh: float = CAMPAIGN_REFRESH) -> AsyncIterator[str]:
    """``event: job`` with the rendered live part of the page, at once and on every change, until final."""
    view = await jobs.view(job_id, owner)
    yield encode(view, await render(view))
    while view.phase in WAITABLE_PHASES:
        following = await _next(jobs, view, owner, refresh)
        if _fingerprint(following) != _fingerprint(view):
            yield encode(following, await render(following))
        else:
            yield ": still waiting\n\n"
        view = following


async def _follow(jobs: JobService, job_id: UUID, owner: str | None, changes: "asyncio.Queue[JobView]",
                  refresh: float) -> None:
    view = await jobs.view(job_id, owner)
    while view.phase in WAITABLE_PHASES:
        following = await _next(jobs, view, owner, refresh)
        if following.phase is not view.phase or following.children != view.children:
            await changes.put(following)
        view = following


async def list_events(jobs: JobService, job_ids: list[UUID], owner: str | None, *,
                      progress: Callable[[JobView], str] | None = None,
                      keep_alive: float = 30.0, refresh: float = CAMPAIGN_REFRESH) -> AsyncIterator[str]:
    """``event: phase`` ({job_id, phase}) whenever one of ``job_ids`` changes phase, or a campaign's counts
    change (then with ``progress``, its row's progress rendered by ``progress``); ``event: end`` once all have
    left the active phases."""
    changes: asyncio.Queue[JobView] = asyncio.Queue()
    followers = [asyncio.create_task(_follow(jobs, job_id, owner, changes, refresh)) for job_id in job_ids]
    everyone = asyncio.gather(*followers, return_exceptions=True)  # a deleted job ends its follower: ignored
    try:
        while True:
            getter = asyncio.ensure_future(changes.get())
            waited: set[asyncio.Future[Any]] = {getter, everyone}
            done, _ = await asyncio.wait(waited, timeout=keep_alive,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield _phase_event(getter.result(), progress)
                continue
            getter.cancel()
            if everyone.done():
                while not changes.empty():
                    yield _phase_event(changes.get_nowait(), progress)
                break
            yield ": still waiting\n\n"
        yield "event: end\ndata: {}\n\n"  # tells the browser not to reconnect
    finally:
        for follower in followers:
            follower.cancel()
        await everyone


def _phase_event(view: JobView, progress: Callable[[JobView], str] | None) -> str:
    data = {"job_id": str(view.job_id), "phase": view.phase.value}
    if view.children is not None and progress is not None:
        data["progress"] = progress(view)
    return f"event: phase\ndata: {json.dumps(data)}\n\n"
