"""The UWS rules of the gateway, in one place: requests and what each may do to a job in each phase.

Requests: names case-insensitive, reserved names and their values, as the standard has them. The name/value pairs
of a form or query string become typed requests (``parse_*``), or ``InvalidRequestError`` naming the field; the
HTTP layer calls these once per request (handlers.requests) and the services take the typed values. Parameters of a
workflow are passed on as given; matching them is ``domain.parameters``' work.
Phases: which change a job in a given phase accepts (``check_*``), refused with ``NotAllowedError`` saying why.
Must not depend on HTTP, the adapters or I/O: pure functions.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from esap_gateway.domain.errors import InvalidRequestError, NotAllowedError, NotFoundError
from esap_messages import DEFAULT_LISTED_PHASES, FINAL_PHASES, WAITABLE_PHASES, Phase

Pairs = Sequence[tuple[str, str]]
"""Name/value pairs in the order sent, names as the client spelled them."""

RESERVED = frozenset({"PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION", "WORKFLOW", "FACILITY", "SWEEP",
                      "NOTIFY"})

MAX_RUN_ID = 256
MAX_VALUE = 65536
MAX_INT = 2**31 - 1
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class PhaseAction(StrEnum):
    RUN = "RUN"
    ABORT = "ABORT"


@dataclass(frozen=True)
class CreationRequest:
    workflow: str
    facility: str | None
    """None: not named (the service's default facility, else the best offer of execution planning)."""
    run: bool
    run_id: str | None
    execution_duration: int
    destruction: datetime | None
    parameters: tuple[tuple[str, str], ...]
    """The workflow's parameters as sent (names not matched yet)."""
    sweeps: tuple[str, ...] = ()
    """The SWEEP values as sent (``<parameter>=<values>``, domain.sweeps): a campaign of one child per combination."""
    notify: tuple[str, ...] = ()
    """The NOTIFY targets as sent (checked by domain.notifications); none: the owner's defaults."""


@dataclass(frozen=True)
class ListFilters:
    phases: tuple[Phase, ...]
    after: datetime | None
    last: int | None
    workflow: str | None = None
    facility: str | None = None
    run_id: str | None = None
    cursor: str | None = None
    parent: UUID | None = None
    """A campaign's children; None: parents and single jobs."""


@dataclass(frozen=True)
class WaitRequest:
    seconds: int
    """0: answer at once."""
    phase: Phase | None


class Fields:
    """Request parameters by upper-cased name; every value kept, in order."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._by_name: dict[str, list[tuple[str, str]]] = {}
        for name, value in pairs:
            if "\x00" in name or "\x00" in value:
                raise InvalidRequestError(name.replace("\x00", ""), "NUL characters are not allowed")
            if len(value) > MAX_VALUE:
                raise InvalidRequestError(name, f"longer than {MAX_VALUE} characters")
            self._by_name.setdefault(name.upper(), []).append((name, value))

    def all(self, name: str) -> list[str]:
        return [value for _, value in self._by_name.get(name, ())]

    def one(self, name: str) -> str | None:
        """The single value of a reserved name; empty counts as absent; twice is an error."""
        values = self.all(name)
        if len(values) > 1:
            raise InvalidRequestError(name, "given more than once")
        return values[0] if values and values[0] != "" else None

    def others(self) -> tuple[tuple[str, str], ...]:
        return tuple(pair for key, pairs in self._by_name.items() if key not in RESERVED for pair in pairs)


@dataclass(frozen=True)
class PlanRequest:
    workflow: str
    execution_duration: int
    parameters: tuple[tuple[str, str], ...]
    sweeps: tuple[str, ...] = ()
    """SWEEP values: the plan is for a campaign of their children."""


def parse_plan(pairs: Pairs) -> PlanRequest:
    """The job a plan is asked for: as for creation; FACILITY, PHASE and the other reserved names are ignored."""
    fields = Fields(pairs)
    duration = fields.one("EXECUTIONDURATION")
    return PlanRequest(
        workflow=_slug("WORKFLOW", fields.one("WORKFLOW")),
        execution_duration=0 if duration is None else _integer("EXECUTIONDURATION", duration, minimum=0),
        parameters=fields.others(), sweeps=tuple(v for v in fields.all("SWEEP") if v.strip()),
    )


def parse_creation(pairs: Pairs) -> CreationRequest:
    fields = Fields(pairs)
    phase = fields.one("PHASE")
    if phase is not None and phase.upper() != PhaseAction.RUN:
        raise InvalidRequestError("PHASE", f"only RUN is accepted when creating a job, not {phase!r}")
    duration = fields.one("EXECUTIONDURATION")
    destruction = fields.one("DESTRUCTION")
    return creation(
        fields.one("WORKFLOW"), facility=fields.one("FACILITY"), run=phase is not None, run_id=fields.one("RUNID"),
        execution_duration=0 if duration is None else _integer("EXECUTIONDURATION", duration, minimum=0),
        destruction=None if destruction is None else _instant("DESTRUCTION", destruction),
        parameters=fields.others(), sweeps=tuple(fields.all("SWEEP")), notify=tuple(fields.all("NOTIFY")),
    )


@dataclass(frozen=True)
class Resubmission:
    """Run a job again: what changes (None or empty: as the original), and for a campaign which children."""

    facility: str | None
    execution_duration: int | None
    run: bool
    every_child: bool
    """SCOPE=all: every child of a campaign; else the children that did not complete."""
    parameters: tuple[tuple[str, str], ...]
    """Workflow parameters that override the original's (names not matched yet)."""
    run_id: str | None = None
    destruction: datetime | None = None
    notify: tuple[str, ...] | None = None
    """NOTIFY targets of the new job; None: the original's."""


SCOPES = ("unfinished", "all")


def parse_resubmission(pairs: Pairs) -> Resubmission:
    """POST /uws/jobs/{id}/resubmit: FACILITY, EXECUTIONDURATION, PHASE=RUN, SCOPE and workflow parameters."""
    fields = Fields(pairs)
    phase = fields.one("PHASE")
    if phase is not None and phase.upper() != PhaseAction.RUN:
        raise InvalidRequestError("PHASE", f"only RUN is accepted when running a job again, not {phase!r}")
    scope = (fields.one("SCOPE") or SCOPES[0]).lower()
    if scope not in SCOPES:
        raise InvalidRequestError("SCOPE", f"one of {', '.join(SCOPES)}, not {scope[:50]!r}")
    duration = fields.one("EXECUTIONDURATION")
    for name in ("WORKFLOW", "SWEEP"):
        if fields.all(name):
            raise InvalidRequestError(name, "a job run again keeps its original's; create a new job to change it")
    destruction, run_id = fields.one("DESTRUCTION"), fields.one("RUNID")
    if run_id is not None and len(run_id) > MAX_RUN_ID:
        raise InvalidRequestError("RUNID", f"longer than {MAX_RUN_ID} characters")
    return Resubmission(
        facility=_optional_slug("FACILITY", fields.one("FACILITY")),
        execution_duration=None if duration is None else _integer("EXECUTIONDURATION", duration, minimum=0),
        run=phase is not None, every_child=scope == "all",
        parameters=tuple((n, v) for n, v in fields.others() if n.upper() != "SCOPE"),
        run_id=run_id, destruction=None if destruction is None else _instant("DESTRUCTION", destruction),
        notify=tuple(n for n in fields.all("NOTIFY") if n.strip()) or None,
    )


def creation(workflow: str | None, *, facility: str | None, run: bool, run_id: str | None,
             parameters: Sequence[tuple[str, str]], execution_duration: int = 0,
             destruction: datetime | None = None, sweeps: Sequence[str] = (),
             notify: Sequence[str] = ()) -> CreationRequest:
    """A creation request from values already apart (the console's form), checked as a UWS one is; ``parameters``
    as ``Fields.others()`` gives them (checked, reserved names apart)."""
    if run_id is not None and len(run_id) > MAX_RUN_ID:
        raise InvalidRequestError("RUNID", f"longer than {MAX_RUN_ID} characters")
    return CreationRequest(
        workflow=_slug("WORKFLOW", workflow), facility=_optional_slug("FACILITY", facility or None), run=run,
        run_id=run_id or None, execution_duration=execution_duration, destruction=destruction,
        parameters=tuple(parameters), sweeps=tuple(s for s in sweeps if s.strip()),
        notify=tuple(n for n in notify if n.strip()),
    )


def parse_list_filters(pairs: Pairs) -> ListFilters:
    fields = Fields(pairs)
    phases = tuple(dict.fromkeys(_phase("PHASE", value) for value in fields.all("PHASE") if value))
    after = fields.one("AFTER")
    last = fields.one("LAST")
    workflow, facility, cursor = fields.one("WORKFLOW"), fields.one("FACILITY"), fields.one("CURSOR")
    parent = fields.one("PARENT")
    if cursor is not None and len(cursor) > MAX_RUN_ID:
        raise InvalidRequestError("CURSOR", "not a cursor of this service")
    return ListFilters(
        phases=phases or DEFAULT_LISTED_PHASES,
        after=None if after is None else _instant("AFTER", after),
        last=None if last is None else _integer("LAST", last, minimum=1),
        workflow=None if workflow is None else _slug("WORKFLOW", workflow),
        facility=None if facility is None else _slug("FACILITY", facility),
        run_id=fields.one("RUNID"),
        cursor=cursor,
        parent=None if parent is None else _uuid("PARENT", parent),
    )


def _uuid(name: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidRequestError(name, f"not a job id: {value[:100]!r}") from None


def parse_execution_duration(pairs: Pairs) -> int:
    value = Fields(pairs).one("EXECUTIONDURATION")
    if value is None:
        raise InvalidRequestError("EXECUTIONDURATION", "required: seconds, 0 for unlimited")
    return _integer("EXECUTIONDURATION", value, minimum=0)


def parse_destruction(pairs: Pairs) -> datetime:
    value = Fields(pairs).one("DESTRUCTION")
    if value is None:
        raise InvalidRequestError("DESTRUCTION", "required: an ISO 8601 date and time")
    return _instant("DESTRUCTION", value)


def parse_job_id(value: str) -> UUID:
    """A job id in a URL: anything but a UUID names no job (404, not 400: the resource does not exist)."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(f"No job {value[:100]!r}.") from None


def check_run(phase: Phase) -> None:
    if phase is not Phase.PENDING:
        raise NotAllowedError(f"PHASE=RUN needs a PENDING job; this job is {phase.value}.")


def check_abort(phase: Phase) -> None:
    if phase in FINAL_PHASES:
        raise NotAllowedError(f"The job has already ended ({phase.value}); there is nothing to abort.")


def check_pending(phase: Phase, what: str) -> None:
    """Parameters and the execution duration change only before the job is run."""
    if phase is not Phase.PENDING:
        raise NotAllowedError(f"Only a PENDING job may change {what}; this job is {phase.value}.")


def check_destruction(phase: Phase, destruction: datetime, now: datetime) -> None:
    if destruction <= now:
        raise InvalidRequestError("DESTRUCTION", "must be in the future")
    if phase is Phase.ARCHIVED:
        raise NotAllowedError("The job is ARCHIVED: it has been destroyed already.")


def parse_job_action(pairs: Pairs) -> None:
    """POST to a job: ACTION=DELETE is the only action."""
    value = Fields(pairs).one("ACTION")
    if value is None or value.upper() != "DELETE":
        raise InvalidRequestError("ACTION", f"must be DELETE, not {value!r}" if value else "required: DELETE")


def parse_parameters(pairs: Pairs) -> tuple[tuple[str, str], ...]:
    """Parameters sent to ``{job}/parameters``: every pair is a workflow parameter; reserved names are refused."""
    fields = Fields(pairs)
    for name, _ in pairs:
        if name.upper() in RESERVED:
            raise InvalidRequestError(name, "not a workflow parameter; it has a resource of its own")
    return fields.others()


def parse_wait(pairs: Pairs, max_wait: int) -> WaitRequest:
    """WAIT=n (capped; -1 is the cap), with an optional PHASE; blocking only ever from an active phase."""
    fields = Fields(pairs)
    raw_wait = fields.one("WAIT")
    raw_phase = fields.one("PHASE")
    phase = None if raw_phase is None else _phase("PHASE", raw_phase)
    if raw_wait is None:
        return WaitRequest(0, phase)
    wait = _integer("WAIT", raw_wait, minimum=-1)
    seconds = max_wait if wait == -1 else min(wait, max_wait)
    if phase is not None and phase not in WAITABLE_PHASES:
        seconds = 0
    return WaitRequest(seconds, phase)


def parse_phase_action(pairs: Pairs) -> PhaseAction:
    value = Fields(pairs).one("PHASE")
    if value is None:
        raise InvalidRequestError("PHASE", "required: RUN or ABORT")
    try:
        return PhaseAction(value.upper())
    except ValueError:
        raise InvalidRequestError("PHASE", f"must be RUN or ABORT, not {value!r}") from None


def _slug(field: str, value: str | None) -> str:
    if value is None:
        raise InvalidRequestError(field, "required")
    if not _SLUG.fullmatch(value):
        raise InvalidRequestError(field, f"{value!r} is not a valid identifier")
    return value


def _optional_slug(field: str, value: str | None) -> str | None:
    return None if value is None else _slug(field, value)


def _integer(field: str, value: str, *, minimum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidRequestError(field, f"must be an integer, not {value!r}") from None
    if not minimum <= number <= MAX_INT:
        raise InvalidRequestError(field, f"must be between {minimum} and {MAX_INT}, not {number}")
    return number


def _instant(field: str, value: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequestError(field, f"must be an ISO 8601 date and time, not {value!r}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise InvalidRequestError(field, f"{value!r} is out of range") from None


def _phase(field: str, value: str) -> Phase:
    try:
        return Phase(value.strip().upper())
    except ValueError:
        raise InvalidRequestError(field, f"{value!r} is not a UWS phase") from None

