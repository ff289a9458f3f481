"""What makes a job request acceptable to a workflow and a facility, read from the catalogue.

Parameter names match the workflow's case-insensitively and are kept with the workflow's spelling; a name the
workflow does not declare, a required one left out, or a value of the wrong type is refused, naming it.
Declared defaults are filled in, so that the job shows every value it runs with.
Must not depend on anything but esap_messages: pure functions, no I/O.
"""

from collections.abc import Sequence

from esap_gateway.services.errors import InvalidRequestError
from esap_messages.api import FacilityView, ParameterView, WorkflowView

_TRUE_OR_FALSE = frozenset({"true", "false", "1", "0", "yes", "no"})


def check_facility(workflow: WorkflowView, facility: FacilityView) -> None:
    """A workflow that names the facility types it runs on runs on nothing else."""
    if workflow.facility_types and facility.facility_type not in workflow.facility_types:
        raise InvalidRequestError(
            "FACILITY",
            f"workflow {workflow.slug!r} does not run on facility {facility.slug!r} "
            f"(type {facility.facility_type!r}; it runs on {', '.join(workflow.facility_types)})",
        )


def resolve_parameters(workflow: WorkflowView, given: Sequence[tuple[str, str]]) -> dict[str, str]:
    declared = {p.name.upper(): p for p in workflow.parameters}
    values: dict[str, str] = {}
    for name, value in given:
        parameter = declared.get(name.upper())
        if parameter is None:
            raise InvalidRequestError(name, f"not a parameter of workflow {workflow.slug!r}")
        if parameter.name in values:
            raise InvalidRequestError(parameter.name, "given more than once")
        _check_type(parameter, value)
        values[parameter.name] = value
    for parameter in workflow.parameters:
        if parameter.name in values:
            continue
        if parameter.default is not None:
            values[parameter.name] = parameter.default
        elif parameter.required:
            raise InvalidRequestError(parameter.name, f"required by workflow {workflow.slug!r}")
    return values


def _check_type(parameter: ParameterView, value: str) -> None:
    kind = parameter.type.lower()
    try:
        if kind in ("int", "integer", "long"):
            int(value)
        elif kind in ("float", "double", "number", "real"):
            float(value)
        elif kind in ("bool", "boolean") and value.lower() not in _TRUE_OR_FALSE:
            raise ValueError(value)
    except ValueError:
        raise InvalidRequestError(parameter.name, f"must be of type {parameter.type}, not {value!r}") from None
