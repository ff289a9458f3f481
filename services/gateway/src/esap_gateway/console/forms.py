"""The submission form of a workflow, made from its parameter schema: one field per parameter with its default,
the HTML input type and the limits the browser checks (min, max, step, choices), and the same limits checked
again on the server before the request goes to the job service. Beside each field, an optional sweep (``s.<name>``:
``1,2,5``, ``1..100``, ``0..90:10`` or a JSON array) that makes the job a campaign; a swept parameter's own value
is ignored, each child's being checked by the job service.

Limits the catalogue does not declare yet (minimum, maximum, choices, unit) are read when present, so the form
grows with the schema. Must not depend on FastAPI or on any client: pure functions.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from esap_messages.api import ParameterView

_INTEGER = frozenset({"int", "integer", "long"})
_NUMBER = frozenset({"float", "double", "number", "real"})
_BOOLEAN = frozenset({"bool", "boolean"})


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str
    """text, number, checkbox, select or file (how the browser shows it)."""
    value: str
    required: bool
    description: str
    unit: str = ""
    choices: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    sweep: str = ""
    """The values to sweep the parameter over, as typed (empty: not swept)."""


def _declared(parameter: ParameterView, name: str) -> object | None:
    return getattr(parameter, name, None)


def _choices(parameter: ParameterView) -> list[str]:
    found = _declared(parameter, "choices")
    return [str(c) for c in found] if isinstance(found, list | tuple) else []


def to_field(parameter: ParameterView, value: str | None = None, sweep: str = "") -> FormField:
    kind = parameter.type.lower()
    attributes: dict[str, str] = {}
    choices = _choices(parameter)
    if choices or kind == "choice":
        shown = "select"
    elif kind in _INTEGER or kind in _NUMBER:
        shown = "number"
        attributes["step"] = "1" if kind in _INTEGER else "any"
        for bound, attribute in (("minimum", "min"), ("maximum", "max")):
            limit = _declared(parameter, bound)
            if limit is not None:
                attributes[attribute] = str(limit)
    elif kind in _BOOLEAN:
        shown = "checkbox"
    elif kind == "file":
        shown = "text"
        attributes["placeholder"] = "a file URL or path"
    else:
        shown = "text"
    unit = _declared(parameter, "unit")
    return FormField(
        name=parameter.name, label=parameter.name, kind=shown,
        value=value if value is not None else (parameter.default or ""),
        required=parameter.required and parameter.default is None, description=parameter.description,
        unit=str(unit) if unit else "", choices=choices, attributes=attributes, sweep=sweep,
    )


def to_fields(parameters: Sequence[ParameterView], values: dict[str, str] | None = None,
              sweeps: dict[str, str] | None = None) -> list[FormField]:
    given, swept = values or {}, sweeps or {}
    return [to_field(p, given.get(p.name), swept.get(p.name, "")) for p in parameters]


def _limit_error(parameter: ParameterView, value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return None  # the job service refuses a value of the wrong type, naming it
    minimum, maximum = _declared(parameter, "minimum"), _declared(parameter, "maximum")
    if isinstance(minimum, int | float) and number < minimum:
        return f"{parameter.name} must be at least {minimum}"
    if isinstance(maximum, int | float) and number > maximum:
        return f"{parameter.name} must be at most {maximum}"
    return None


def _rule_error(parameter: ParameterView, value: str) -> str | None:
    """The schema's own check, where the catalogue's model has one."""
    rule = getattr(parameter, "violation", None)
    broken = rule(value) if callable(rule) else None
    return f"{parameter.name} {broken}" if broken else None


def check_values(parameters: Sequence[ParameterView], values: dict[str, str],
                 swept: Iterable[str] = ()) -> list[str]:
    """What is wrong with the submitted values, one sentence each (empty: nothing); a ``swept`` parameter's values
    are the job service's to check, child by child."""
    problems: list[str] = []
    skipped = set(swept)
    for parameter in parameters:
        if parameter.name in skipped:
            continue
        value = values.get(parameter.name)
        if value is None or value == "":
            if parameter.required and parameter.default is None:
                problems.append(f"{parameter.name} is required")
            continue
        choices = _choices(parameter)
        if choices and value not in choices:
            problems.append(f"{parameter.name} must be one of {', '.join(choices)}")
            continue
        problem = _rule_error(parameter, value) or _limit_error(parameter, value)
        if problem:
            problems.append(problem)
    return problems


def form_sweeps(parameters: Sequence[ParameterView], form: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The swept parameters' values as typed (``s.<name>`` fields that are not blank), by parameter name."""
    sent = {name[2:]: value.strip() for name, value in form if name.startswith("s.")}
    return {p.name: sent[p.name] for p in parameters if sent.get(p.name)}


def to_sweeps(sweeps: dict[str, str]) -> list[str]:
    """The SWEEP values the job service takes: ``<parameter>=<values>``."""
    return [f"{name}={values}" for name, values in sweeps.items()]


def form_values(parameters: Sequence[ParameterView], form: Sequence[tuple[str, str]],
                swept: Iterable[str] = ()) -> dict[str, str]:
    """The parameters' values from a submitted form (``p.<name>`` fields; an unchecked box is false); a ``swept``
    parameter has none (its children's values are its sweep's)."""
    sent = {name[2:]: value for name, value in form if name.startswith("p.")}
    skipped = set(swept)
    values: dict[str, str] = {}
    for parameter in parameters:
        if parameter.name in skipped:
            continue
        if parameter.type.lower() in _BOOLEAN and _choices(parameter) == []:
            values[parameter.name] = "true" if sent.get(parameter.name) else "false"
        elif parameter.name in sent:
            values[parameter.name] = sent[parameter.name]
    return values
