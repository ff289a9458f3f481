"""DiracXClient: the few DiracX 0.7.0 REST calls esap-batch makes, over one aiohttp session.

Authenticates either with the legacy-exchange API key (``GET /api/auth/legacy-exchange``) or with a credentials
file as diracx-client keeps it (its access token, refreshed with ``POST /api/auth/token`` and written back), and
takes a new token before the current one expires (and once more on a 401). Maps failures for the callers:
refused connections, timeouts and 5xx become BackendError (transient); other 4xx become PermanentBackendError
carrying DiracX's own message. Credentials that cannot be read or refreshed are BackendError: jobs wait for an
operator to log in again rather than fail. Rows stay DiracX's JSON dicts; the backend turns them into statuses.
Depends on aiohttp, pydantic's SecretStr, the credentials file module and the backend errors; knows nothing of
jobs, the bus or JDL.
"""

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from pydantic import SecretStr

from esap_backends.base import BackendError, PermanentBackendError
from esap_backends.diracx import credentials as credentials_file
from esap_backends.diracx.credentials import Credentials, CredentialsError

log = structlog.get_logger("esap.backends.diracx.client")

MAX_PER_PAGE = 10000
TOKEN_MARGIN_SECONDS = 120.0
DEFAULT_CLIENT_ID = "myDIRACClientID"  # diracx-client's own OAuth2 client id
_READS = frozenset({"/api/jobs/search", "/api/jobs/summary"})
"""POST routes that only read."""
LOGGING_INFO = "LoggingInfo"  # a search "parameter" that adds each job's logging history (DiracX 0.7.0)
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
    """Exactly one of ``api_key`` (legacy exchange) and ``credentials_path`` (a diracx-client credentials file)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, api_key: SecretStr | None, identity: DiracXIdentity,
                 *, credentials_path: Path | None = None, client_id: str = DEFAULT_CLIENT_ID,
                 timeout_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if (api_key is None) == (credentials_path is None):
            raise ValueError("a DiracX client needs exactly one of an API key and a credentials file")
        self._session = session
        self._base = url.rstrip("/")
        self._key = api_key
        self._credentials_path = credentials_path
        self._client_id = client_id
        self.identity = identity
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._wall_clock = wall_clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self.calls = 0
        self.refreshes = 0

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
            try:
                answer = await self.call("POST", "/api/jobs/search", body=body,
                                         params={"page": str(page), "per_page": str(per_page)})
            except PermanentBackendError as exc:
                # The previous page was exactly full and was the last: DiracX answers the next with 416.
                if page > 1 and "HTTP 416" in str(exc):
                    return rows
                raise
            if not isinstance(answer, list):
                raise BackendError(f"DiracX answered a search with {answer!r:.200}")
            rows.extend(answer)
            if len(answer) < per_page:
                return rows
            page += 1

    async def logging_info(self, job_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Each job's logging history ({Status, MinorStatus, ApplicationStatus, StatusTime, Source}, oldest
        first) in one search; jobs DiracX does not show are left out."""
        rows = await self.search(("Status", LOGGING_INFO), [
            {"parameter": "JobID", "operator": "in", "values": list(job_ids)}])
        found: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            entries = row.get(LOGGING_INFO)
            if "JobID" in row and isinstance(entries, list):
                found[int(row["JobID"])] = [entry for entry in entries if isinstance(entry, dict)]
        return found

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
                if self._credentials_path is not None:
                    await self._from_credentials(self._credentials_path, refused=self._token if force else None)
                else:
                    await self._exchange()
            assert self._token is not None
            return self._token

    async def _from_credentials(self, path: Path, *, refused: str | None) -> None:
        """Take the file's access token, refreshing it (and the file) first when it expires soon or is the one
        DiracX just ``refused``. Under the file's lock, so that processes sharing it refresh it once."""
        lock = asyncio.ensure_future(asyncio.to_thread(credentials_file.lock, path))
        try:
            fd = await asyncio.shield(lock)
        except asyncio.CancelledError:
            lock.add_done_callback(_unlock_when_taken)
            raise
        except CredentialsError as exc:
            raise BackendError(str(exc)) from exc
        try:
            current = await asyncio.to_thread(_read, path)
            remaining = current.expires_on - self._wall_clock()
            if remaining <= TOKEN_MARGIN_SECONDS or current.access_token == refused:
                current = await self._refresh(path, current)
                remaining = current.expires_on - self._wall_clock()
        finally:
            credentials_file.unlock(fd)
        self._token = current.access_token
        self._expires_at = self._clock() + remaining

    async def _refresh(self, path: Path, current: Credentials) -> Credentials:
        if not current.refresh_token:
            raise BackendError(f"the DiracX credentials in {path} expired and hold no refresh token")
        form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token, "client_id": self._client_id}
        status, payload = await self._send("POST", "/api/auth/token", None, None, {}, form=form)
        if status >= 400:
            detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
            raise BackendError(f"DiracX refused to refresh the credentials in {path}: HTTP {status}: {detail}"[:2000])
        try:
            fresh = Credentials.from_token_response(payload, self._wall_clock(), previous=current)
            await asyncio.to_thread(credentials_file.write_credentials, path, fresh)
        except (CredentialsError, OSError) as exc:
            raise BackendError(f"DiracX credentials not refreshed in {path}: {exc}") from exc
        self.refreshes += 1
        log.info("DiracX credentials refreshed.", path=str(path))
        return fresh

    async def _exchange(self) -> None:
        assert self._key is not None
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
                    headers: Mapping[str, str], *, form: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """One request: a JSON ``body``, or a url-encoded ``form``."""
        self.calls += 1
        data: str | dict[str, str] | None = None if body is None else json.dumps(body)
        all_headers = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
        if form is not None:
            data = dict(form)
        # A read may go again at once when the server had closed the kept-alive connection it was sent on; a
        # write may not (it may have been taken), it waits for the caller's retry instead.
        attempts = 2 if method == "GET" or path in _READS else 1
        for attempt in range(1, attempts + 1):
            try:
                async with self._session.request(method, self._base + path, data=data, params=params,
                                                 headers=all_headers, timeout=self._timeout) as response:
                    text = await response.text()
                    return response.status, _json_or_text(text)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if attempt == attempts:
                    raise BackendError(f"DiracX unreachable ({method} {path}): {exc!r}") from exc
                log.info("DiracX closed the connection; sending the read again.", method=method, path=path)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise BackendError(f"DiracX unreachable ({method} {path}): {exc!r}") from exc
        raise AssertionError("unreachable")


def _read(path: Path) -> Credentials:
    try:
        return credentials_file.read_credentials(path)
    except CredentialsError as exc:
        raise BackendError(str(exc)) from exc


def _unlock_when_taken(lock: "asyncio.Future[int]") -> None:
    """A lock taken after its taker was cancelled is given back at once."""
    if not lock.cancelled() and lock.exception() is None:
        credentials_file.unlock(lock.result())


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
