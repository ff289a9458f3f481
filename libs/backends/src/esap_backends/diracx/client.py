"""DiracXClient: the few DiracX 0.7.0 REST calls esap-batch makes, over one aiohttp session.

Authenticates with the legacy-exchange API key (``GET /api/auth/legacy-exchange``) and takes a new token before
the current one expires (and once more on a 401). Maps failures for the callers: refused connections, timeouts
and 5xx become BackendError (transient); other 4xx become PermanentBackendError carrying DiracX's own message.
Rows stay DiracX's JSON dicts; the backend turns them into statuses. Depends on aiohttp, pydantic's SecretStr and
the backend errors; knows nothing of jobs, the bus or JDL.
"""

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from esap_backends.base import BackendError, PermanentBackendError

MAX_PER_PAGE = 10000
TOKEN_MARGIN_SECONDS = 120.0
_TRANSIENT_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class DiracXIdentity:
    """Who esap-batch is to DiracX: a user of a VO acting in one group."""

    vo: str
    group: str
    username: str

    @property
    def scope(self) -> str:
        return f"vo:{self.vo} group:{self.group}"


class DiracXClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, api_key: SecretStr, identity: DiracXIdentity,
                 *, timeout_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._base = url.rstrip("/")
        self._key = api_key
        self.identity = identity
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self.calls = 0

    @property
    def url(self) -> str:
        return self._base

    # --- jobs ---------------------------------------------------------------------------------------------

    async def submit_jdl(self, jdls: Sequence[str]) -> list[dict[str, Any]]:
        """Submit many JDLs in one call; DiracX's answer rows ({JobID, Status, MinorStatus}) in order."""
        answer = await self.call("POST", "/api/jobs/jdl", body=list(jdls))
        if not isinstance(answer, list) or len(answer) != len(jdls):
            raise BackendError(f"DiracX answered a submission of {len(jdls)} jobs with {answer!r:.200}")
        return answer

    async def search(self, parameters: Sequence[str], search: Sequence[Mapping[str, Any]],
                     per_page: int = MAX_PER_PAGE) -> list[dict[str, Any]]:
        """Every row matching ``search`` (all pages)."""
        rows: list[dict[str, Any]] = []
        page = 1
        body = {"parameters": list(parameters), "search": list(search),
                "sort": [{"parameter": "JobID", "direction": "asc"}]}
        while True:
            answer = await self.call("POST", "/api/jobs/search", body=body,
                                     params={"page": str(page), "per_page": str(per_page)})
            if not isinstance(answer, list):
                raise BackendError(f"DiracX answered a search with {answer!r:.200}")
            rows.extend(answer)
            if len(answer) < per_page:
                return rows
            page += 1

    async def set_status(self, changes: Mapping[int, Mapping[str, str]], at: datetime,
                         force: bool = False) -> dict[str, Any]:
        """PATCH /api/jobs/status: one status record per job, all stamped ``at``; DiracX's success/failed map."""
        stamp = at.isoformat()
        body = {str(job_id): {stamp: dict(fields)} for job_id, fields in changes.items()}
        answer = await self.call("PATCH", "/api/jobs/status", body=body,
                                 params={"force": "true"} if force else None)
        if not isinstance(answer, dict):
            raise BackendError(f"DiracX answered a status change with {answer!r:.200}")
        return answer

    async def output_sandboxes(self, job_id: int) -> list[str]:
        """The PFNs of the job's output sandbox (empty until its pilot uploaded one)."""
        answer = await self.call("GET", f"/api/jobs/{job_id}/sandbox/output")
        return [str(pfn) for pfn in answer] if isinstance(answer, list) else []

    async def sandbox_download_url(self, pfn: str) -> str:
        answer = await self.call("GET", "/api/jobs/sandbox", params={"pfn": pfn})
        return str(answer["url"])

    # --- plumbing -----------------------------------------------------------------------------------------

    async def call(self, method: str, path: str, *, body: object = None,
                   params: Mapping[str, str] | None = None) -> Any:
        """One authenticated call; a 401 takes a fresh token and tries once more."""
        for attempt in (1, 2):
            token = await self._current_token(force=attempt == 2)
            status, payload = await self._send(method, path, body, params, {"Authorization": f"Bearer {token}"})
            if status == 401 and attempt == 1:
                continue
            return _checked(method, path, status, payload)
        raise AssertionError("unreachable")

    async def _current_token(self, *, force: bool) -> str:
        async with self._token_lock:
            if force or self._token is None or self._clock() >= self._expires_at - TOKEN_MARGIN_SECONDS:
                await self._exchange()
            assert self._token is not None
            return self._token

    async def _exchange(self) -> None:
        raw = base64.urlsafe_b64encode(self._key.get_secret_value().encode()).decode("ascii")
        params = {"preferred_username": self.identity.username, "scope": self.identity.scope}
        status, payload = await self._send("GET", "/api/auth/legacy-exchange", None, params,
                                           {"Authorization": f"Bearer diracx:legacy:{raw}"})
        answer = _checked("GET", "/api/auth/legacy-exchange", status, payload)
        try:
            self._token = str(answer["access_token"])
            self._expires_at = self._clock() + float(answer.get("expires_in", 600))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"DiracX gave no usable token: {answer!r:.200}") from exc

    async def _send(self, method: str, path: str, body: object, params: Mapping[str, str] | None,
                    headers: Mapping[str, str]) -> tuple[int, Any]:
        self.calls += 1
        data = None if body is None else json.dumps(body)
        all_headers = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
        try:
            async with self._session.request(method, self._base + path, data=data, params=params,
                                             headers=all_headers, timeout=self._timeout) as response:
                text = await response.text()
                return response.status, _json_or_text(text)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BackendError(f"DiracX unreachable ({method} {path}): {exc!r}") from exc


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _checked(method: str, path: str, status: int, payload: Any) -> Any:
    if status < 400:
        return payload
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    message = f"DiracX refused {method} {path}: HTTP {status}: {detail}"[:2000]
    if status >= 500 or status in _TRANSIENT_4XX:
        raise BackendError(message)
    raise PermanentBackendError(message)
