"""The public catalogue: search workflows and facilities (ranked full text, filters, paging), read one by slug.

It takes typed queries (domain.catalogue). Search runs in the catalog, the service that keeps the catalogue
(PostgreSQL full-text search); a single workflow or facility comes from the gateway's short-lived cache.
Must not depend on FastAPI or a concrete client: it is given the catalog port and the cache.
"""

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.domain.catalogue import CatalogueQuery
from esap_gateway.domain.errors import NotFoundError
from esap_gateway.services.catalogue import CatalogueCache
from esap_messages.api import FacilityMatches, FacilityView, WorkflowMatches, WorkflowView


class CatalogueSearchService:
    def __init__(self, catalog: CatalogClient, catalogue: CatalogueCache) -> None:
        self._catalog = catalog
        self._catalogue = catalogue

    async def workflows(self, query: CatalogueQuery) -> WorkflowMatches:
        return await self._catalog.search_workflows(query.params())

    async def facilities(self, query: CatalogueQuery) -> FacilityMatches:
        return await self._catalog.search_facilities(query.params())

    async def workflow(self, slug: str) -> WorkflowView:
        found = await self._catalogue.workflow(slug)
        if found is None:
            raise NotFoundError(f"no workflow {slug!r}")
        return found

    async def facility(self, slug: str) -> FacilityView:
        found = await self._catalogue.facility(slug)
        if found is None:
            raise NotFoundError(f"no facility {slug!r}")
        return found
