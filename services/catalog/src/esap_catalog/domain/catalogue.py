"""The catalogue's definitions as files hold them (``workflows/*.json``, ``facilities/*.json``), validated.

A definition has the fields of its API view, plus what only the catalog keeps (a workflow's steering file).
Conversions to what the state machine needs are named here: ``to_spec``.
No I/O. Depends on pydantic and esap_messages only.
"""

from typing import Self

from pydantic import Field, model_validator

from esap_catalog.domain.model import FacilitySpec, WorkflowSpec
from esap_messages.api import FacilityView, WorkflowView

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"


class WorkflowDefinition(WorkflowView):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    steering_file: str = Field("", description="Path of the workflow's steering file in its repository.")

    @model_validator(mode="after")
    def _parameter_names_unique(self) -> Self:
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameters named more than once: {', '.join(duplicates)}")
        return self

    def to_view(self) -> WorkflowView:
        return WorkflowView.model_validate(self.model_dump(exclude={"steering_file"}))

    def to_spec(self) -> WorkflowSpec:
        defaults = {p.name: p.default for p in self.parameters if p.default is not None}
        return WorkflowSpec(self.slug, self.run, defaults, tuple(self.facility_types))


class FacilityDefinition(FacilityView):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    backend: str = Field(min_length=1)
    facility_type: str = Field(min_length=1)
    max_parallel: int = Field(ge=1)

    def to_view(self) -> FacilityView:
        return FacilityView.model_validate(self.model_dump())

    def to_spec(self) -> FacilitySpec:
        return FacilitySpec(self.slug, self.backend, self.facility_type)
