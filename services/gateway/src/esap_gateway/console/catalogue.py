"""What the console offers to search: every workflow and facility of the catalogue, read from the internal API of
the catalog (the service that keeps them) in one request each and kept for a few seconds, and the search over them.

The search is a pure function (words of the query, each found in a name, slug, description, keyword, type or
runtime engine), so typing costs no catalog request once the lists are held.
Must not depend on FastAPI or on the console's routes.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from esap_gateway.adapters.catalog import CatalogUnavailableError
from esap_messages.api import FacilityList, FacilityView, WorkflowList, WorkflowView
from esap_runtime.internal_http import InternalHttpClient


class CatalogueLister(Protocol):
    async def workflows(self) -> list[WorkflowView]: ...

    async def facilities(self) -> list[FacilityView]: ...


@dataclass(frozen=True)
class SearchResult:
    workflows: list[WorkflowView]
    facilities: list[FacilityView]


class HttpCatalogueLister:
    """Both lists from the catalog (``GET /internal/workflows``, ``/internal/facilities``), held ``ttl`` seconds."""

    def __init__(self, http: InternalHttpClient, base_url: str, *, ttl: float, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._ttl = ttl
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._held: tuple[float, list[WorkflowView], list[FacilityView]] | None = None
        self._lock = asyncio.Lock()

    async def workflows(self) -> list[WorkflowView]:
        return (await self._lists())[0]

    async def facilities(self) -> list[FacilityView]:
        return (await self._lists())[1]

    async def _lists(self) -> tuple[list[WorkflowView], list[FacilityView]]:
        async with self._lock:  # concurrent misses share one pair of requests
            if self._held is None or self._held[0] <= self._clock():
                workflows = WorkflowList.model_validate_json(await self._get("/internal/workflows")).workflows
                facilities = FacilityList.model_validate_json(await self._get("/internal/facilities")).facilities
                self._held = (self._clock() + self._ttl, workflows, facilities)
            return self._held[1], self._held[2]

    async def _get(self, path: str) -> bytes:
        try:
            async with self._http.request("GET", self._base + path, timeout=self._timeout) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CatalogUnavailableError(f"catalog request {path} failed: {exc!r}") from exc
        if response.status != 200:
            raise CatalogUnavailableError(f"catalog answered {response.status} to {path}")
        return body


def _matches(words: Sequence[str], fields: Iterable[str]) -> bool:
    text = " ".join(fields).lower()
    return all(word in text for word in words)


def search(workflows: Sequence[WorkflowView], facilities: Sequence[FacilityView], query: str) -> SearchResult:
    """Workflows and facilities containing every word of ``query`` (all of them for an empty query)."""
    words = query.lower().split()
    return SearchResult(
        workflows=[w for w in workflows
                   if _matches(words, [w.slug, w.name, w.description, w.workflow_type, w.runtime.engine.value,
                                       *w.keywords, *w.facility_types])],
        facilities=[f for f in facilities
                    if _matches(words, [f.slug, f.name, f.description, f.facility_type, *f.runtime_engines])],
    )


def facilities_for(workflow: WorkflowView, facilities: Sequence[FacilityView]) -> list[FacilityView]:
    """The facilities a workflow runs on (all of them when it names no facility type)."""
    if not workflow.facility_types:
        return list(facilities)
    return [f for f in facilities if f.facility_type in workflow.facility_types]
