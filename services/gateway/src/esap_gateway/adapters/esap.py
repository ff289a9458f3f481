"""The catalogue in the shape ESAP's batch app gives it (``/esap-api/batch/.../search``), for the ESAP GUI.

ESAP lists plain objects with its own field names: a facility's ``facilitytype`` and ``runtimeengine``, a
workflow's ``keywords`` (one comma-separated string), ``workflowtype``, and where its steering file is.
Must not depend on the services: named conversions from the catalogue's views only.
"""

from pydantic import BaseModel, ConfigDict

from esap_messages.api import FacilityView, WorkflowView
from esap_messages.catalogue import FACILITY_TYPES

_ENGINE_NAMES = {"process": "Process", "docker": "Docker", "singularity": "Singularity", "apptainer": "Apptainer"}


class EsapFacility(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str
    url: str
    facilitytype: str
    runtimeengine: str
    status: str


class EsapWorkflow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str
    keywords: str
    url: str
    ref: str
    filepath: str
    workflowtype: str
    runtimeengine: str


def _engines(engines: list[str]) -> str:
    return ", ".join(_ENGINE_NAMES.get(e, e) for e in engines)


def to_esap_facility(view: FacilityView, base_url: str) -> EsapFacility:
    return EsapFacility(
        id=view.slug, name=view.name, description=view.description,
        url=view.url or f"{base_url}/catalogue/facilities/{view.slug}",
        facilitytype=FACILITY_TYPES.get(view.facility_type, view.facility_type),
        runtimeengine=_engines(view.runtime_engines), status=view.status,
    )


def to_esap_workflow(view: WorkflowView, base_url: str) -> EsapWorkflow:
    return EsapWorkflow(
        id=view.slug, name=view.name, description=view.description, keywords=", ".join(view.keywords),
        url=f"{base_url}/catalogue/workflows/{view.slug}", ref=view.version, filepath=view.steering_file,
        workflowtype=view.workflow_type, runtimeengine=_engines([view.runtime.engine.value]),
    )
