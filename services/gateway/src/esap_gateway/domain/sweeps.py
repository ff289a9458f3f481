"""Parameter sweeps: the job-control parameter ``SWEEP``, given once per swept parameter, turned into the swept
values of each child job.

``SWEEP=<parameter>=<values>``; the values are, by their first characters:
- a JSON array when they start with ``[``: strings, kept as written, and numbers, as JSON writes them (``2``,
  ``1.5``); the form for values holding commas or ``..``;
- an integer range when they hold ``..`` and no comma: ``1..10`` (both ends included), ``-5..5``, ``0..90:10`` (a
  positive step; an end the step does not land on is left out);
- otherwise a comma list, ``1,2,5``, each item stripped of white space; a single item is an axis of one child.
Several SWEEPs give their cartesian product, the first one varying slowest.

Refused, naming the SWEEP and what is wrong with it: a name that cannot be a workflow parameter's; a parameter swept
twice (compared without case, as workflow parameters are matched); an empty list item, array or range; a value twice
on one axis (two identical children are surely a mistake); more children than the limit. The count comes from the
axes' lengths, a range's from its ends, before any range is expanded or any child built, so an absurd request costs
neither time nor memory. Whether a value suits its parameter is not checked here: the caller checks every child
against the workflow. Names are kept as given; the workflow's spelling is the caller's to apply.

Must not depend on anything but the gateway's errors and the contracts' parameter name pattern: pure functions, no I/O.
"""

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from esap_gateway.domain.errors import InvalidRequestError
from esap_messages.api import PARAMETER_NAME_PATTERN

FIELD = "SWEEP"

_NAME = re.compile(PARAMETER_NAME_PATTERN)
# ASCII digits only: int() would also take "1_000", "+1", " 1" and the digits of other scripts.
_INTEGER = re.compile(r"-?[0-9]+")
_SHOWN = 80
"""Characters of a SWEEP or an item an error quotes: enough to find it, not a 64 KiB echo."""


@dataclass(frozen=True)
class SweepAxis:
    """One swept parameter and its values, in the order given: at least one, none twice."""

    parameter: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Pending:
    """A parsed SWEEP whose length is known and whose range, if it is one, is not expanded yet."""

    sweep: str
    parameter: str
    length: int
    values: range | tuple[str, ...]

    def axis(self) -> SweepAxis:
        if isinstance(self.values, range):
            return SweepAxis(self.parameter, tuple(map(str, self.values)))
        return SweepAxis(self.parameter, self.values)


def parse_sweep(value: str, max_values: int) -> SweepAxis:
    """One SWEEP; more than ``max_values`` values is refused, a range's before it is expanded."""
    pending = _parse(value)
    _check_length(pending, max_values)
    return pending.axis()


def parse_sweeps(values: Sequence[str], max_children: int) -> tuple[SweepAxis, ...]:
    """Every SWEEP of a request, in order; refused if their product has more than ``max_children`` children."""
    pending: list[_Pending] = []
    swept: set[str] = set()
    for value in values:
        parsed = _parse(value)
        if parsed.parameter.upper() in swept:
            _refuse(value, f"parameter {parsed.parameter!r} is swept more than once")
        swept.add(parsed.parameter.upper())
        _check_length(parsed, max_children)
        pending.append(parsed)
    total = math.prod(p.length for p in pending)
    if total > max_children:
        lengths = " x ".join(str(p.length) for p in pending)
        raise InvalidRequestError(FIELD, f"the sweep has {total} children ({lengths}), more than the limit of "
                                         f"{max_children}")
    return tuple(p.axis() for p in pending)


def count(axes: Sequence[SweepAxis]) -> int:
    """How many children the axes make; 1 for no axes, the one job itself."""
    return math.prod(len(axis.values) for axis in axes)


def children_of(axes: Sequence[SweepAxis]) -> list[dict[str, str]]:
    """Each child's swept values, the first axis varying slowest; ``[{}]`` for no axes, as ``count`` says."""
    names = [axis.parameter for axis in axes]
    return [dict(zip(names, combination, strict=True))
            for combination in itertools.product(*(axis.values for axis in axes))]


def _parse(sweep: str) -> _Pending:
    name, equals, spec = sweep.partition("=")
    name, spec = name.strip(), spec.strip()
    if not equals:
        _refuse(sweep, "expected <parameter>=<values>")
    if not _NAME.fullmatch(name):
        _refuse(sweep, f"{_shown(name)!r} is not a parameter name (a letter or _, then letters, digits or _, "
                       f"64 at most)")
    if not spec:
        _refuse(sweep, "no values after '='")
    if spec.startswith("["):
        values = _json_values(sweep, spec)
    elif ".." in spec and "," not in spec:
        return _range(sweep, name, spec)
    else:
        values = _listed_values(sweep, spec)
    _refuse_repeats(sweep, values)
    return _Pending(sweep, name, len(values), values)


def _range(sweep: str, name: str, spec: str) -> _Pending:
    span, colon, step_text = spec.partition(":")
    start_text, _, end_text = span.partition("..")
    start = _integer(sweep, "start", start_text.strip())
    end = _integer(sweep, "end", end_text.strip())
    step = 1
    if colon:
        step = _integer(sweep, "step", step_text.strip(), "a positive integer")
        if step <= 0:
            _refuse(sweep, f"the range's step {step_text.strip()!r} is not a positive integer")
    if end < start:
        _refuse(sweep, f"the range {start}..{end} is empty: its end is below its start")
    # Computed, not len(range): len() overflows past sys.maxsize, and a huge range must be refused, not crash.
    length = (end - start) // step + 1
    return _Pending(sweep, name, length, range(start, end + 1, step))


def _integer(sweep: str, part: str, text: str, kind: str = "an integer") -> int:
    if _INTEGER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (4300 by default)
            pass
    _refuse(sweep, f"the range's {part} {_shown(text)!r} is not {kind}")


def _listed_values(sweep: str, spec: str) -> tuple[str, ...]:
    values = tuple(item.strip() for item in spec.split(","))
    if "" in values:
        _refuse(sweep, f"item {values.index('') + 1} of the list is empty")
    return values


def _json_values(sweep: str, spec: str) -> tuple[str, ...]:
    try:
        items = json.loads(spec, parse_constant=_no_constant)
    except ValueError as exc:  # json.JSONDecodeError is one
        _refuse(sweep, f"not a JSON array: {exc}")
    if not isinstance(items, list):
        _refuse(sweep, "not a JSON array")
    if not items:
        _refuse(sweep, "the JSON array is empty")
    return tuple(_json_value(sweep, position, item) for position, item in enumerate(items, start=1))


def _json_value(sweep: str, position: int, item: object) -> str:
    if isinstance(item, str):
        return item
    # bool is an int in Python; true and false are not numbers in JSON.
    if isinstance(item, int | float) and not isinstance(item, bool):
        if not math.isfinite(item):
            _refuse(sweep, f"item {position} of the JSON array is not a finite number")
        return json.dumps(item)
    _refuse(sweep, f"item {position} of the JSON array, {_shown(json.dumps(item))}, is not a string or a number")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _refuse_repeats(sweep: str, values: tuple[str, ...]) -> None:
    if len(set(values)) == len(values):
        return
    seen: set[str] = set()
    for value in values:
        if value in seen:
            _refuse(sweep, f"the value {_shown(value)!r} is given twice: two children would be the same")
        seen.add(value)


def _check_length(pending: _Pending, limit: int) -> None:
    if pending.length > limit:
        _refuse(pending.sweep, f"{pending.length} values, more than the limit of {limit} children")


def _refuse(sweep: str, problem: str) -> NoReturn:
    raise InvalidRequestError(FIELD, f"{_shown(sweep.strip())}: {problem}")


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN - 1]}…"
