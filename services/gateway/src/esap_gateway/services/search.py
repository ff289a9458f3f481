"""The public catalogue: search workflows and facilities (ranked full text, filters, paging), read one by slug.

Query names are case-insensitive, as in UWS. Search runs in the catalog (PostgreSQL full-text search); a single
workflow or facility comes from the gateway's short-lived cache.
Must not depend on FastAPI or a concrete client: it is given the catalog port and the cache.
"""

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.services.catalogue import CatalogueCache
from esap_gateway.services.errors import InvalidRequestError, NotFoundError
from esap_gateway.services.requests import Fields, Pairs
from esap_messages.api import FacilityMatches, FacilityView, WorkflowMatches, WorkflowView

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_TEXT = 500

WORKFLOW_FILTERS = (("KEYWORD", "keyword"), ("TYPE", "workflow_type"), ("RUNTIME_ENGINE", "runtime_engine"),
                    ("FACILITY_TYPE", "facility_type"))
FACILITY_FILTERS = (("TYPE", "facility_type"), ("RUNTIME_ENGINE", "runtime_engine"), ("STATUS", "status"))


def search_params(query: Pairs, filters: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The catalog's search parameters from a public query: Q (free text), the filters, LIMIT and OFFSET."""
    fields = Fields(query)
    params: list[tuple[str, str]] = []
    for public, internal in (("Q", "q"), *filters):
        value = fields.one(public)
        if value is not None:
            if len(value) > MAX_TEXT:
                raise InvalidRequestError(public.lower(), f"longer than {MAX_TEXT} characters")
            params.append((internal, value.strip()))
    params.append(("limit", str(_bounded(fields, "LIMIT", DEFAULT_PAGE, 1, MAX_PAGE))))
    params.append(("offset", str(_bounded(fields, "OFFSET", 0, 0, 1_000_000))))
    return params


def _bounded(fields: Fields, name: str, default: int, low: int, high: int) -> int:
    raw = fields.one(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(name.lower(), f"must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise InvalidRequestError(name.lower(), f"must be between {low} and {high}, not {value}")
    return value


class CatalogueSearchService:
    def __init__(self, catalog: CatalogClient, catalogue: CatalogueCache) -> None:
        self._catalog = catalog
        self._catalogue = catalogue

    async def workflows(self, query: Pairs) -> WorkflowMatches:
        return await self._catalog.search_workflows(search_params(query, WORKFLOW_FILTERS))

    async def facilities(self, query: Pairs) -> FacilityMatches:
        return await self._catalog.search_facilities(search_params(query, FACILITY_FILTERS))

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
