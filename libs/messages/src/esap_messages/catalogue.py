"""The catalogue's HTTP bodies: workflows with their parameter rules and runtime, facilities, search pages, and
execution planning (recent times from the catalog, offers from the gateway).

Two words, two things: the catalogue is the workflows and facilities jobs may name; the catalog is the service
(esap_catalog) that keeps them, and every job. docs/ARCHITECTURE.md says so too.

Part of ``esap_messages.api`` (which re-exports every name); kept apart for size. Depends on pydantic only.
"""

import math
from enum import StrEnum
from types import MappingProxyType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from esap_messages.base import UtcDatetime
from esap_messages.model import WorkflowRun

PARAMETER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
"""What a workflow parameter's name looks like: an identifier of at most 64 characters, one a command can name as a
placeholder ``{name}``. The gateway checks the names a request sweeps against it too."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParameterType(StrEnum):
    """The kinds of value a workflow parameter takes; values always travel as text."""

    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    FILE = "file"


TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


class ParameterView(_View):
    """One parameter of a workflow and the rule its value must follow (``violation`` says which it breaks)."""

    name: str = Field(pattern=PARAMETER_NAME_PATTERN)
    type: ParameterType = ParameterType.STRING
    default: str | None = Field(
        default=None, description="Text; numbers and booleans in a file become text.",
        json_schema_extra={"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]},
    )
    required: bool = False
    minimum: float | None = Field(default=None, description="integer, number: smallest value allowed.")
    maximum: float | None = Field(default=None, description="integer, number: largest value allowed.")
    choices: list[str] | None = Field(default=None, description="choice: the values allowed.")
    unit: str = Field(default="", description="Unit of a number, e.g. TeV, deg, s.")
    description: str = ""

    @field_validator("default", mode="before")
    @classmethod
    def _default_as_text(cls, value: object) -> object:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type is ParameterType.CHOICE and not self.choices:
            raise ValueError(f"parameter {self.name!r}: a choice needs choices")
        if self.choices is not None and self.type is not ParameterType.CHOICE:
            raise ValueError(f"parameter {self.name!r}: choices belong to type choice only")
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.type not in (ParameterType.INTEGER, ParameterType.NUMBER):
            raise ValueError(f"parameter {self.name!r}: minimum and maximum belong to integer and number only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"parameter {self.name!r}: minimum is above maximum")
        if self.default is not None and (broken := self.violation(self.default)):
            raise ValueError(f"parameter {self.name!r}: default {self.default!r} {broken}")
        return self

    def violation(self, value: str) -> str | None:
        """The rule ``value`` breaks, in words, or None when it is acceptable."""
        match self.type:
            case ParameterType.INTEGER:
                try:
                    number: float = int(value.strip())
                except ValueError:
                    return f"must be an integer, not {value!r}"
                return self._range(number)
            case ParameterType.NUMBER:
                try:
                    number = float(value.strip())
                except ValueError:
                    return f"must be a number, not {value!r}"
                if not math.isfinite(number):
                    return f"must be a finite number, not {value!r}"
                return self._range(number)
            case ParameterType.BOOLEAN:
                if value.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
                    return f"must be true or false, not {value!r}"
            case ParameterType.CHOICE:
                if value not in (self.choices or ()):
                    return f"must be one of {', '.join(self.choices or ())}, not {value!r}"
            case ParameterType.FILE:
                return _file_violation(value)
        return None

    def _range(self, number: float) -> str | None:
        if self.minimum is not None and number < self.minimum:
            return f"must be at least {_plain(self.minimum)}{self._unit()}, not {_plain(number)}"
        if self.maximum is not None and number > self.maximum:
            return f"must be at most {_plain(self.maximum)}{self._unit()}, not {_plain(number)}"
        return None

    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _file_violation(value: str) -> str | None:
    """A file is an http(s) URL, or a path relative to the job's directory that stays inside it."""
    if value.startswith(("http://", "https://")):
        return None if len(value) > len("https://") else f"must be a URL or a relative path, not {value!r}"
    parts = value.split("/")
    if not value or value.startswith("/") or ".." in parts or "\\" in value or ":" in value:
        return f"must be an http(s) URL or a relative path inside the job's directory, not {value!r}"
    return None


class RuntimeEngine(StrEnum):
    PROCESS = "process"
    DOCKER = "docker"
    SINGULARITY = "singularity"
    APPTAINER = "apptainer"


class RuntimeView(_View):
    """What a workflow needs to run: a plain process, or a container image for an engine."""

    engine: RuntimeEngine = RuntimeEngine.PROCESS
    image: str | None = Field(default=None, description="Container image, e.g. docker://... for Singularity.")

    @model_validator(mode="after")
    def _image_for_containers(self) -> Self:
        if self.engine is RuntimeEngine.PROCESS and self.image is not None:
            raise ValueError("a process runtime takes no image")
        if self.engine is not RuntimeEngine.PROCESS and not self.image:
            raise ValueError(f"the {self.engine.value} runtime needs an image")
        return self

    def runs_on(self, engines: list[str]) -> bool:
        """Apptainer runs Singularity images and the other way round."""
        offered = {e.lower() for e in engines}
        if self.engine in (RuntimeEngine.SINGULARITY, RuntimeEngine.APPTAINER):
            return bool(offered & {RuntimeEngine.SINGULARITY.value, RuntimeEngine.APPTAINER.value})
        return self.engine.value in offered


class WorkflowView(_View):
    slug: str
    name: str
    description: str
    keywords: list[str]
    version: str
    workflow_type: str
    parameters: list[ParameterView]
    run: WorkflowRun
    facility_types: list[str]
    runtime: RuntimeView = RuntimeView()
    steering_file: str = Field(default="", description="Path of the steering file in the repository.")
    expected_run_seconds: int = Field(default=60, ge=0, description="Run time assumed before any job ran.")


FACILITY_TYPES = MappingProxyType({"local": "Local", "dirac": "DIRAC", "diracx": "DiracX"})
"""Every facility type, by the name of the backend kind that runs it (``esap_backends.registry.KINDS``, which a
test holds equal to this), and the name people know it by (ESAP's ``facilitytype``)."""


class FacilityView(_View):
    slug: str
    name: str
    description: str
    url: str
    facility_type: str = Field(description=f"{', '.join(FACILITY_TYPES)}.")
    backend: str
    runtime_engines: list[str]
    max_parallel: int
    status: str = Field(description="online, draining (takes no new jobs) or offline.")
    max_execution_duration: int = Field(default=0, ge=0, description="Seconds a job may run; 0: no limit.")
    expected_queue_seconds: int = Field(default=60, ge=0, description="Queue time assumed before any job ran.")
    max_retries: int = Field(default=2, ge=0, le=10, description="Automatic retries of a job after a transient "
                             "failure (the node or site lost it); 0: none.")
    secrets: dict[str, str] = Field(
        default_factory=dict, description="Connection settings by reference (e.g. env:ESAP_DIRACX_API_KEY).")


class WorkflowList(_View):
    workflows: list[WorkflowView]


class FacilityList(_View):
    facilities: list[FacilityView]


class WorkflowMatches(_View):
    """One page of a catalogue search, best match first; ``total`` counts every match."""

    workflows: list[WorkflowView]
    total: int


class FacilityMatches(_View):
    facilities: list[FacilityView]
    total: int


class FacilityStatistics(_View):
    """A facility and its recent times, for planning: medians over its latest jobs (None: no job yet)."""

    facility: FacilityView
    queue_seconds: float | None = Field(description="Median wait from creation to start, any workflow.")
    run_seconds: float | None = Field(description="Median run time of this workflow's completed jobs there.")
    samples: int = Field(description="How many completed runs of the workflow ``run_seconds`` rests on.")
    active: int = Field(description="Jobs QUEUED or EXECUTING there now.")


class PlanningStatistics(_View):
    workflow: str
    facilities: list[FacilityStatistics]


class Offer(_View):
    """Where a job could run and when it would start and end, estimated from recent history."""

    facility: str
    facility_name: str
    facility_type: str
    runtime_engine: str
    estimated_start: UtcDatetime
    estimated_end: UtcDatetime
    queue_seconds: float
    run_seconds: float
    basis: str = Field(description="history: from recent jobs; default: from the catalogue's assumptions.")


class Refusal(_View):
    facility: str
    reason: str


class ExecutionPlan(_View):
    """The gateway's answer to ``/uws/plan``: offers best first (earliest end), and why the others cannot."""

    workflow: str
    parameters: dict[str, str]
    offers: list[Offer]
    refused: list[Refusal]
    children: int = Field(default=1, ge=1, description="Jobs the plan is for: a campaign's children (SWEEP), "
                          "whose run is counted in waves of each facility's max_parallel; 1 for a single job.")
