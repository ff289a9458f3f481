"""A campaign as the console shows it: its progress in words a scientist reads at a glance ("37 of 100 completed,
2 failed, 61 running"), the numbers a ``<progress>`` element needs, and one page of its table of children.

Its table is paged by the catalog (one page of rows read, not the whole table), so that a campaign of 10,000
children shows 200 rows and links to the next ones (or to children.csv) instead of a page no browser wants to lay
out.
Must not depend on FastAPI or on the console's routes: pure functions over the contracts' views.
"""

from dataclasses import dataclass

from esap_messages import Phase
from esap_messages.api import ChildList, ChildrenView, ChildView

CHILDREN_PAGE = 200
"""Rows of a campaign's table on one page."""

# The order the counts are told in, and their words: what is done first, then what is still to come.
_WORDS: tuple[tuple[tuple[Phase, ...], str], ...] = (
    ((Phase.ERROR,), "failed"),
    ((Phase.ABORTED,), "aborted"),
    ((Phase.EXECUTING,), "running"),
    ((Phase.QUEUED,), "queued"),
    ((Phase.PENDING,), "pending"),
    ((Phase.HELD, Phase.SUSPENDED, Phase.UNKNOWN), "held or unknown"),
    ((Phase.ARCHIVED,), "archived"),
)


@dataclass(frozen=True)
class Progress:
    total: int
    completed: int
    ended: int
    """Children in a final phase, completed or not: the ``<progress>`` bar's value."""
    submitted: int
    text: str


def progress(children: ChildrenView) -> Progress:
    """The campaign's counts, and one sentence of them (phases with no child left out)."""
    counts = children.phases
    completed = counts.get(Phase.COMPLETED, 0)
    parts = [f"{completed} of {children.total} completed"]
    for phases, word in _WORDS:
        count = sum(counts.get(phase, 0) for phase in phases)
        if count:
            parts.append(f"{count} {word}")
    ended = sum(counts.get(phase, 0) for phase in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED))
    return Progress(total=children.total, completed=completed, ended=ended, submitted=children.submitted,
                    text=", ".join(parts))


@dataclass(frozen=True)
class ChildrenPage:
    rows: list[ChildView]
    start: int
    """The first row's index (0-based) in the whole table."""
    total: int
    next_start: int | None
    """Where the next page starts; None on the last page."""
    previous_start: int | None
    swept: list[str]
    """The swept parameters' names, the table's columns, in the order of the first child's."""


def children_page(table: ChildList, size: int = CHILDREN_PAGE) -> ChildrenPage:
    """The page of a campaign's table the catalog answered (rows from ``table.offset``), with its neighbours."""
    total = table.total if table.total is not None else len(table.children)
    start = table.offset
    rows = table.children[:size]
    names: dict[str, None] = {}
    for child in rows:
        names.update(dict.fromkeys(child.swept))
    return ChildrenPage(rows=rows, start=start, total=total,
                        next_start=start + size if start + size < total else None,
                        previous_start=max(0, start - size) if start > 0 else None, swept=list(names))
