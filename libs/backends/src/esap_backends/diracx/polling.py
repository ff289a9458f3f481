"""Status searches against DiracX: by job ids (``JobID in [...]``, chunked), incrementally (only the jobs whose
LastUpdateTime moved since the last answer), so a poll of 100,000 tracked jobs costs one small search while
little changes, or for the jobs updated since a given time (``updated_since``, the backend's ``changes_since``).

The incremental mode keeps the last status of every job it was asked about, asks DiracX for the rows updated
since its watermark (the newest LastUpdateTime seen, less a margin, at DiracX's one-second precision), and reads
each job by id again once it was not so read for ``full_every`` seconds (and any job it does not know yet), so
nothing is missed for long (DiracX does not move LastUpdateTime on every metadata change).
Depends on the DiracX client and the backend's row conversion; knows nothing of the bus.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from esap_backends.base import BackendStatus
from esap_backends.diracx.client import DiracXClient

STATUS_PARAMETERS = ("JobID", "Status", "MinorStatus", "ApplicationStatus", "Site", "StartExecTime",
                     "EndExecTime", "LastUpdateTime")
WATERMARK_MARGIN = timedelta(seconds=5)
UPDATES_COALESCE_SECONDS = 0.25
_SEARCH_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # what DiracX 0.7.0 parses in a search on a time column

Convert = Callable[[Mapping[str, Any]], BackendStatus | None]


class StatusSearch:
    def __init__(self, client: DiracXClient, convert: Convert, *, chunk_size: int, job_group: str,
                 full_every: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._convert = convert
        self._chunk_size = max(1, chunk_size)
        self._job_group = job_group
        self._full_every = full_every
        self._clock = clock
        self._known: dict[int, BackendStatus] = {}
        self._read_at: dict[int, float] = {}
        self._watermark: datetime | None = None
        self._updates_at = float("-inf")
        self._pruned_at = float("-inf")
        self.full_searches = 0
        self.incremental_searches = 0

    async def by_id(self, ids: Sequence[int]) -> dict[int, BackendStatus]:
        """Read every job of ``ids`` now (a chunked ``in`` search)."""
        found: dict[int, BackendStatus] = {}
        for first in range(0, len(ids), self._chunk_size):
            chunk = list(ids[first:first + self._chunk_size])
            rows = await self._client.search(STATUS_PARAMETERS, [
                {"parameter": "JobID", "operator": "in", "values": chunk}])
            found.update(self._take(rows))
        self.full_searches += 1
        return found

    async def polled(self, ids: Sequence[int]) -> dict[int, BackendStatus]:
        """The jobs' statuses for a poll: by id for jobs not read so for ``full_every`` seconds (or never),
        from one search for what was updated since the last answer for the rest."""
        if self._full_every <= 0:
            return await self.by_id(ids)
        now = self._clock()
        stale = [i for i in ids if now - self._read_at.get(i, float("-inf")) >= self._full_every]
        # Calls within a moment of the last answer (the chunks of one poll cycle) share one search for updates.
        if len(stale) < len(ids) and now - self._updates_at >= UPDATES_COALESCE_SECONDS:
            await self._read_updates()
        if stale:
            self._known.update(await self.by_id(stale))
            self._read_at.update(dict.fromkeys(stale, now))
        self._prune(now)
        return {i: self._known[i] for i in ids if i in self._known}

    async def updated_since(self, since: datetime, ids: Sequence[int]) -> dict[int, BackendStatus]:
        """Those of ``ids`` whose LastUpdateTime is at or after ``since``: one search of the job group (DiracX
        compares whole seconds, with ``gt`` only), whatever the number of ids. Leaves the poll's own state alone."""
        after = since.astimezone(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=1)
        rows = await self._updated_after(after)
        wanted = set(ids)
        return {job_id: status for job_id, status in self._convert_rows(rows).items() if job_id in wanted}

    async def _read_updates(self) -> None:
        if self._watermark is None:
            return
        rows = await self._updated_after(self._watermark - WATERMARK_MARGIN)
        self.incremental_searches += 1
        self._updates_at = self._clock()  # when the answer came: a slow search must not split a cycle's chunks
        self._known.update(self._take(rows))

    async def _updated_after(self, after: datetime) -> list[dict[str, Any]]:
        """Rows of the job group updated after ``after`` (naive UTC, as DiracX keeps it)."""
        return await self._client.search(STATUS_PARAMETERS, [
            {"parameter": "LastUpdateTime", "operator": "gt", "value": after.strftime(_SEARCH_TIME_FORMAT)},
            {"parameter": "JobGroup", "operator": "eq", "value": self._job_group}])

    def _prune(self, now: float) -> None:
        """Forget jobs nobody asked about for a while (they ended, or left the monitor)."""
        if now - self._pruned_at < self._full_every:
            return
        self._pruned_at = now
        forgotten = [i for i, at in self._read_at.items() if now - at >= 3 * self._full_every]
        for job_id in forgotten:
            del self._read_at[job_id]
            self._known.pop(job_id, None)
        self._known = {i: s for i, s in self._known.items() if i in self._read_at}

    def _take(self, rows: list[dict[str, Any]]) -> dict[int, BackendStatus]:
        """The rows' statuses; the watermark moves on to the newest LastUpdateTime among them."""
        for row in rows:
            updated = _time(row.get("LastUpdateTime"))
            if updated is not None and (self._watermark is None or updated > self._watermark):
                self._watermark = updated
        return self._convert_rows(rows)

    def _convert_rows(self, rows: list[dict[str, Any]]) -> dict[int, BackendStatus]:
        taken: dict[int, BackendStatus] = {}
        for row in rows:
            status = self._convert(row)
            if status is not None:
                taken[int(row["JobID"])] = status
        return taken


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
