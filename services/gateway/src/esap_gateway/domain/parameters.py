"""What makes a job request acceptable to a workflow and a facility, read from the catalogue.

Parameter names match the workflow's case-insensitively and are kept with the workflow's spelling; a name the
workflow does not declare, a required one left out, or a value that breaks its rule (type, range, choices, file)
is refused, naming the parameter and the rule.
Declared defaults are filled in, so that the job shows every value it runs with. A job's parameters together, as
UTF-8, may not exceed MAX_PARAMETERS_BYTES: every backend passes them to the job whole (the local executor as
environment variables and arguments, the DIRAC backends in one argument of the job's JDL), and the kernel refuses
one argument above 128 KiB ("Argument list too long") after the job was accepted.
Must not depend on anything but esap_messages, the planning rules and the sweeps: pure functions, no I/O.
"""

from collections.abc import Sequence

from esap_gateway.domain.errors import InvalidRequestError
from esap_gateway.domain.planning import refusal
from esap_gateway.domain.sweeps import SweepAxis, children_of
from esap_messages.api import FacilityView, ParameterView, WorkflowView

MAX_PARAMETERS_BYTES = 32 * 1024
"""Names and values of a job's parameters together, in UTF-8: encoded in base64 with a job wrapper of a few KiB,
they stay well inside one 128 KiB argument, the smallest limit of any backend."""


def check_facility(workflow: WorkflowView, facility: FacilityView, execution_duration: int) -> None:
    """The facility named must be able to run the workflow: its type, its runtime, online, within its limit."""
    reason = refusal(workflow, facility, execution_duration)
    if reason is not None:
        raise InvalidRequestError("FACILITY", f"facility {facility.slug!r} cannot run this job: {reason}")


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
    size = sum(len(name.encode()) + len(value.encode()) for name, value in values.items())
    if size > MAX_PARAMETERS_BYTES:
        raise InvalidRequestError("parameters", f"{size} bytes together (UTF-8, names and values), more than the "
                                                f"{MAX_PARAMETERS_BYTES} a job's parameters may take on every facility")
    return values


def resolve_sweep(workflow: WorkflowView, given: Sequence[tuple[str, str]], axes: Sequence[SweepAxis]
                  ) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A campaign's common parameters (without the swept ones) and each child's swept values, in the workflow's
    spelling. Every child is checked as a single job's parameters are, without building each child's whole set:
    each swept value against its parameter once, the rest with the first child's values, the size with the longest
    value of every axis (the largest child)."""
    declared = {p.name.upper(): p for p in workflow.parameters}
    named = {name.upper() for name, _ in given}
    spelled: list[SweepAxis] = []
    for axis in axes:
        parameter = declared.get(axis.parameter.upper())
        if parameter is None:
            raise InvalidRequestError("SWEEP", f"{axis.parameter!r} is not a parameter of workflow {workflow.slug!r}")
        if parameter.name.upper() in named:
            raise InvalidRequestError(parameter.name, "given both as a parameter and in SWEEP")
        for value in axis.values:
            broken = parameter.violation(value)
            if broken is not None:
                raise InvalidRequestError(parameter.name, f"SWEEP value {value[:80]!r}: {broken}")
        spelled.append(SweepAxis(parameter.name, axis.values))
    largest = [*given, *((a.parameter, max(a.values, key=lambda v: len(v.encode()))) for a in spelled)]
    resolve_parameters(workflow, largest)
    swept = {a.parameter for a in spelled}
    common = {name: value for name, value in resolve_parameters(workflow, [*given, *(
        (a.parameter, a.values[0]) for a in spelled)]).items() if name not in swept}
    return common, children_of(spelled)


def _check_type(parameter: ParameterView, value: str) -> None:
    broken = parameter.violation(value)
    if broken is not None:
        raise InvalidRequestError(parameter.name, broken)
