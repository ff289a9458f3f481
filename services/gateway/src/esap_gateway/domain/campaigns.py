"""A campaign's results: the table of its children, as ``children.csv`` and ``children.json``, the CSV also being
the campaign's main result ``result`` (domain.results).

A row per child in sweep order: its id, its swept values (one CSV column per swept parameter), its phase, how many
times it was handed to its backend (more than once after automatic retries), the link to the child and to each of
its results. The tables are made when asked for, from the catalog's current table, so
they are never stale and have no size until made.
Must not depend on anything but the API models and the gateway's URL rules: pure functions, no I/O.
"""

import csv
import io
import json
from collections.abc import Callable
from uuid import UUID

from esap_messages.api import CAMPAIGN_TABLES, ChildList, JobView, ResultView

CAMPAIGN_LOCATION = "campaign:"
"""Where a campaign's tables are: made by the gateway, not kept by a backend."""



def with_tables(view: JobView) -> JobView:
    """A campaign's view with its tables as its results; any other job's as it is."""
    if view.children is None:
        return view
    tables = [ResultView(id=name, mime_type=mime, location=f"{CAMPAIGN_LOCATION}{name}")
              for name, mime in CAMPAIGN_TABLES.items()]
    return view.model_copy(update={"results": tables})


def table_of(location: str) -> str | None:
    """The table a result's location names, or None for a backend's file."""
    name = location.removeprefix(CAMPAIGN_LOCATION)
    return name if location.startswith(CAMPAIGN_LOCATION) and name in CAMPAIGN_TABLES else None


def render(table: str, campaign: UUID, children: ChildList, job_url: Callable[[UUID], str],
           result_url: Callable[[UUID, str], str]) -> bytes:
    """``children.csv`` or ``children.json`` of the campaign."""
    if table == "children.json":
        rows = [{"job_id": str(c.job_id), "swept": c.swept, "phase": c.phase.value, "attempts": c.attempts,
                 "href": job_url(c.job_id),
                 "results": [{"id": r, "href": result_url(c.job_id, r)} for r in c.results]}
                for c in children.children]
        return json.dumps({"campaign": str(campaign), "children": rows}, separators=(",", ":")).encode()
    swept = list(dict.fromkeys(name for c in children.children for name in c.swept))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["job_id", *swept, "phase", "attempts", "href", "results"])
    for c in children.children:
        writer.writerow([str(c.job_id), *(c.swept.get(name, "") for name in swept), c.phase.value, c.attempts,
                         job_url(c.job_id), " ".join(result_url(c.job_id, r) for r in c.results)])
    return out.getvalue().encode()
