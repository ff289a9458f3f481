"""The catalogue's definitions as files hold them (``workflows/*.json``, ``facilities/*.json``), validated.

A definition has the fields of its API view, stricter: the facility types, runtime engines and statuses this
service knows, secrets only by reference, and an optional ``$schema`` (the published JSON Schema, for editors).
Conversions to what the state machine needs are named here: ``to_spec`` (with ``to_runtime``).
No I/O. Depends on pydantic and esap_messages only.
"""

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from esap_catalog.domain.model import FacilitySpec, WorkflowSpec
from esap_messages.api import FacilityView, RuntimeEngine, WorkflowView
from esap_messages.catalogue import FACILITY_TYPES
from esap_messages.model import ContainerEngine, ContainerRuntime

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
SECRET_REFERENCE = r"^(env|file):[A-Za-z0-9_./-]{1,255}$"  # noqa: S105 (a pattern, not a secret)

FacilityStatus = Literal["online", "draining", "offline"]
ENGINES = ("process", "docker", "singularity", "apptainer")


def _only(field: str, values: list[str], allowed: tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise ValueError(f"{field}: {value!r} is not one of {', '.join(allowed)}")


class WorkflowDefinition(WorkflowView):
    """A steering file (``workflows/*.json``); its JSON Schema is ``steering_schema()``, published in the repo."""

    schema_reference: str = Field("", alias="$schema", exclude=True,
                                  description="The JSON Schema the file follows, for editors; not stored.")
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    steering_file: str = Field("", description="Path of the workflow's steering file in its repository.")
    facility_types: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _parameter_names_unique(self) -> Self:
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameters named more than once: {', '.join(duplicates)}")
        _only("facility_types", self.facility_types, tuple(FACILITY_TYPES))
        return self

    def to_view(self) -> WorkflowView:
        return WorkflowView.model_validate(self.model_dump())

    def to_spec(self) -> WorkflowSpec:
        defaults = {p.name: p.default for p in self.parameters if p.default is not None}
        return WorkflowSpec(self.slug, self.run, defaults, tuple(self.facility_types), self.to_runtime())

    def to_runtime(self) -> ContainerRuntime | None:
        """The container a job of this workflow names to its backend; None for a plain process."""
        if self.runtime.engine is RuntimeEngine.PROCESS or not self.runtime.image:
            return None
        return ContainerRuntime(engine=ContainerEngine(self.runtime.engine.value), image=self.runtime.image)


class FacilityDefinition(FacilityView):
    schema_reference: str = Field("", alias="$schema", exclude=True,
                                  description="The JSON Schema the file follows, for editors; not stored.")
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    backend: str = Field(min_length=1)
    facility_type: str = Field(json_schema_extra={"enum": list(FACILITY_TYPES)})
    max_parallel: int = Field(ge=1)
    runtime_engines: list[str] = Field(min_length=1)
    status: FacilityStatus
    secrets: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _type_and_engines_known_and_secrets_by_reference(self) -> Self:
        """Connection settings name where a secret is (env:NAME, file:PATH); the secret itself never is here."""
        _only("facility_type", [self.facility_type], tuple(FACILITY_TYPES))
        _only("runtime_engines", self.runtime_engines, ENGINES)
        for key, reference in self.secrets.items():
            if not re.fullmatch(SECRET_REFERENCE, reference):
                raise ValueError(f"secrets.{key}: must be a reference such as env:NAME or file:PATH")
        return self

    def to_view(self) -> FacilityView:
        return FacilityView.model_validate(self.model_dump())

    def to_spec(self) -> FacilitySpec:
        return FacilitySpec(self.slug, self.backend, self.facility_type, self.max_retries, self.max_parallel)
