"""Jobs' logging histories from DiracX (DIRAC's LoggingInfo: every status a job took, when, and who set it).

One search per chunk of job ids, whatever their number: DiracX 0.7.0 adds each job's history to a search that
asks for the ``LoggingInfo`` parameter. Entries DiracX gives malformed are left out (logged); texts are clipped
to the message contract, and only the newest ``MAX_BACKEND_HISTORY`` entries of a job are kept.
Depends on the DiracX client and esap_messages' history entry; knows nothing of the bus.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from esap_backends.diracx.client import DiracXClient
from esap_messages import MAX_BACKEND_HISTORY, BackendHistoryEntry

log = structlog.get_logger("esap.backends.diracx.history")

HISTORY_CHUNK = 1000  # jobs per search: a job has a handful of entries, so one answer stays small


async def read_histories(client: DiracXClient, job_ids: Sequence[int],
                         chunk_size: int = HISTORY_CHUNK) -> dict[int, tuple[BackendHistoryEntry, ...]]:
    """The history of every job of ``job_ids`` DiracX shows, oldest entry first."""
    found: dict[int, tuple[BackendHistoryEntry, ...]] = {}
    ids = list(dict.fromkeys(job_ids))
    for first in range(0, len(ids), max(1, chunk_size)):
        answer = await client.logging_info(ids[first:first + chunk_size])
        for job_id, entries in answer.items():
            found[job_id] = to_history(job_id, entries)
    return found


def to_history(job_id: int, entries: Sequence[Mapping[str, Any]]) -> tuple[BackendHistoryEntry, ...]:
    """DiracX's LoggingInfo rows as history entries (the newest ones when there are too many)."""
    history: list[BackendHistoryEntry] = []
    for entry in entries:
        try:
            history.append(BackendHistoryEntry(
                status=_text(entry.get("Status"), 64), minor_status=_text(entry.get("MinorStatus"), 512),
                application_status=_text(entry.get("ApplicationStatus"), 512), at=_instant(entry.get("StatusTime")),
                source=_text(entry.get("Source"), 128)))
        except ValidationError as exc:
            log.warning("DIRAC logging entry unreadable, left out of the history.", dirac_job_id=job_id,
                        entry=repr(entry)[:500], error=str(exc)[:500])
    return tuple(history[-MAX_BACKEND_HISTORY:])


def _instant(value: object) -> object:
    """DiracX's StatusTime; a time without zone is UTC (what DIRAC stores)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return value


def _text(value: object, limit: int) -> str:
    return "" if value is None else str(value)[:limit]
