"""Client of the catalog's internal read API, as far as the monitor needs it: active jobs and facilities.

Bodies are the shared models of esap_messages.api. Requests go through ``esap_runtime.internal_http`` (its idle
timeouts and its retry of idempotent requests). Knows nothing of the bus or backends.
"""

from typing import TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from esap_messages.api import ActiveJobList, FacilityList
from esap_runtime.internal_http import InternalHttpClient

Body = TypeVar("Body", bound=BaseModel)


class CatalogUnavailableError(Exception):
    """The catalog did not answer, or answered something other than the contract."""


class CatalogClient:
    def __init__(self, http: InternalHttpClient, base_url: str, *, timeout: float) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def active_jobs(self) -> ActiveJobList:
        return await self._get("/internal/active-jobs", ActiveJobList)

    async def facilities(self) -> FacilityList:
        return await self._get("/internal/facilities", FacilityList)

    async def _get(self, path: str, model: type[Body]) -> Body:
        url = f"{self._base_url}{path}"
        try:
            async with self._http.request("GET", url, timeout=self._timeout) as response:
                body = await response.read()
                if response.status != 200:
                    raise CatalogUnavailableError(f"GET {path} answered {response.status}: {body[:200]!r}")
                return model.model_validate_json(body)
        except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
            raise CatalogUnavailableError(f"GET {path} failed: {exc!r}") from exc
