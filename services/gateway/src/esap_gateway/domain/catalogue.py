"""A search of the public catalogue, as a typed query: free text, filters, a page.

Query names are case-insensitive, as in UWS: ``Q`` (free text), the filters of what is searched, ``LIMIT`` and
``OFFSET``. A value too long or a page out of bounds is refused, naming the field.
Must not depend on HTTP or I/O: pure functions.
"""

from dataclasses import dataclass, field

from esap_gateway.domain.errors import InvalidRequestError
from esap_gateway.domain.uws import Fields, Pairs

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_TEXT = 500

WORKFLOW_FILTERS = (("KEYWORD", "keyword"), ("TYPE", "workflow_type"), ("RUNTIME_ENGINE", "runtime_engine"),
                    ("FACILITY_TYPE", "facility_type"))
FACILITY_FILTERS = (("TYPE", "facility_type"), ("RUNTIME_ENGINE", "runtime_engine"), ("STATUS", "status"))


@dataclass(frozen=True)
class CatalogueQuery:
    text: str | None = None
    filters: tuple[tuple[str, str], ...] = field(default=())
    """The catalog's filter names and their values."""
    limit: int = DEFAULT_PAGE
    offset: int = 0

    def params(self) -> list[tuple[str, str]]:
        """As the catalog's search takes it."""
        text = [("q", self.text)] if self.text is not None else []
        return [*text, *self.filters, ("limit", str(self.limit)), ("offset", str(self.offset))]


def parse_search(query: Pairs, filters: tuple[tuple[str, str], ...]) -> CatalogueQuery:
    fields = Fields(query)
    found: dict[str, str] = {}
    for public, internal in (("Q", "q"), *filters):
        value = fields.one(public)
        if value is not None:
            if len(value) > MAX_TEXT:
                raise InvalidRequestError(public.lower(), f"longer than {MAX_TEXT} characters")
            found[internal] = value.strip()
    text = found.pop("q", None)
    return CatalogueQuery(text=text, filters=tuple(found.items()),
                          limit=_bounded(fields, "LIMIT", DEFAULT_PAGE, 1, MAX_PAGE),
                          offset=_bounded(fields, "OFFSET", 0, 0, 1_000_000))


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
