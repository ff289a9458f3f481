"""The catalogue as the services see it: a cache of what the state machine needs, and the API views.

The cache serves CreateJob without a query per message: a slug is read from the database when it is missing
or older than ``max_age`` seconds (so a re-seeded workflow is picked up). Unknown slugs are not cached: a
workflow seeded later is found at once. Depends on the domain and storage.
"""

import time
from collections.abc import Callable, Iterable, Mapping

from esap_catalog.domain.model import FacilitySpec, WorkflowSpec
from esap_catalog.services.unit_of_work import CatalogueReader
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.search import CatalogueSearchStore, FacilityQuery, WorkflowQuery
from esap_messages.api import (
    FacilityList,
    FacilityMatches,
    FacilityStatistics,
    FacilityView,
    PlanningStatistics,
    WorkflowList,
    WorkflowMatches,
    WorkflowView,
)


class CatalogueCache:
    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._workflows: dict[str, tuple[float, WorkflowSpec]] = {}
        self._facilities: dict[str, tuple[float, FacilitySpec]] = {}

    def _missing(self, cache: Mapping[str, tuple[float, object]], slugs: Iterable[str]) -> set[str]:
        now = self._clock()
        return {s for s in slugs if s not in cache or now - cache[s][0] > self._max_age}

    async def resolve(self, reader: CatalogueReader, workflows: Iterable[str], facilities: Iterable[str],
                      ) -> tuple[dict[str, WorkflowSpec], dict[str, FacilitySpec]]:
        """The specs of the named workflows and facilities that exist, missing ones read from ``reader`` (the unit
        of work's, inside its transaction); at most one query for each kind."""
        workflows, facilities = set(workflows), set(facilities)
        now = self._clock()
        missing = self._missing(self._workflows, workflows)
        if missing:
            for w in await reader.workflows(missing):
                self._workflows[w.slug] = (now, w.to_spec())
        missing = self._missing(self._facilities, facilities)
        if missing:
            for f in await reader.facilities(missing):
                self._facilities[f.slug] = (now, f.to_spec())
        return ({s: self._workflows[s][1] for s in workflows if s in self._workflows},
                {s: self._facilities[s][1] for s in facilities if s in self._facilities})


class CatalogueService:
    """The catalogue's read API: reads by slug, search, and the recent times planning rests on."""

    def __init__(self, store: CatalogueStore, search: CatalogueSearchStore) -> None:
        self._store = store
        self._search = search

    async def search_workflows(self, query: WorkflowQuery) -> WorkflowMatches:
        found, total = await self._search.workflows(query)
        return WorkflowMatches(workflows=[w.to_view() for w in found], total=total)

    async def search_facilities(self, query: FacilityQuery) -> FacilityMatches:
        found, total = await self._search.facilities(query)
        return FacilityMatches(facilities=[f.to_view() for f in found], total=total)

    async def statistics(self, workflow: str) -> PlanningStatistics | None:
        """Every facility with its recent times for ``workflow``; None when the workflow is unknown."""
        if not await self._store.workflows([workflow]):
            return None
        views = {f.slug: f.to_view() for f in await self._store.facilities()}
        times = await self._search.times(workflow)
        return PlanningStatistics(workflow=workflow, facilities=[
            FacilityStatistics(facility=views[t.slug], queue_seconds=t.queue_seconds, run_seconds=t.run_seconds,
                               samples=t.samples, active=t.active)
            for t in times if t.slug in views
        ])

    async def workflows(self) -> WorkflowList:
        return WorkflowList(workflows=[w.to_view() for w in await self._store.workflows()])

    async def workflow(self, slug: str) -> WorkflowView | None:
        found = await self._store.workflows([slug])
        return found[0].to_view() if found else None

    async def facilities(self) -> FacilityList:
        return FacilityList(facilities=[f.to_view() for f in await self._store.facilities()])

    async def facility(self, slug: str) -> FacilityView | None:
        found = await self._store.facilities([slug])
        return found[0].to_view() if found else None
