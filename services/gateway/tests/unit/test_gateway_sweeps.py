"""SWEEP values become the axes of a parameter sweep and their product the children: every form, the errors naming
the SWEEP and the offending part, and the limit on children checked before anything large is built."""

import json
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esap_gateway.domain.errors import InvalidRequestError
from esap_gateway.domain.sweeps import SweepAxis, children_of, count, parse_sweep, parse_sweeps


def refusal(value: str, max_values: int = 1000) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        parse_sweep(value, max_values)
    assert caught.value.field == "SWEEP"
    return str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("energy=1,2,5", ("1", "2", "5")),
    ("energy = 1 , 2 ,5 ", ("1", "2", "5")),
    ("mode=fast", ("fast",)),
    ("energy=1..5", ("1", "2", "3", "4", "5")),
    ("energy=3..3", ("3",)),
    ("angle=0..90:10", tuple(str(n) for n in range(0, 91, 10))),
    ("angle=0..95:10", tuple(str(n) for n in range(0, 91, 10))),
    ("angle=0..9:20", ("0",)),
    ("offset=-5..5", tuple(str(n) for n in range(-5, 6))),
    ("offset=-10..-4:3", ("-10", "-7", "-4")),
    ("offset= -2 .. 2 : 2 ", ("-2", "0", "2")),
    ("offset=007..9", ("7", "8", "9")),
    ('label=["a,b", "c"]', ("a,b", "c")),
    ('label=["x..y"]', ("x..y",)),
    ('label= [" padded ", ""]', (" padded ", "")),
    ("energy=[2, 1.5, -3, 1e2]", ("2", "1.5", "-3", "100.0")),
    ("version=a..b,c", ("a..b", "c")),
    ("_x9=1", ("1",)),
])
def test_every_form_gives_its_values_in_order(value: str, expected: tuple[str, ...]) -> None:
    assert parse_sweep(value, 1000) == SweepAxis(value.partition("=")[0].strip(), expected)


@pytest.mark.parametrize(("value", "problem"), [
    ("energy", "expected <parameter>=<values>"),
    ("=1,2", "'' is not a parameter name"),
    ("9lives=1,2", "'9lives' is not a parameter name"),
    ("en-ergy=1,2", "'en-ergy' is not a parameter name"),
    (f"{'a' * 65}=1", "is not a parameter name"),
    ("energy=", "no values after '='"),
    ("energy=  ", "no values after '='"),
    ("energy=1,,2", "item 2 of the list is empty"),
    ("energy=1,2,", "item 3 of the list is empty"),
    ("energy=1,2,1", "the value '1' is given twice"),
    ("energy= 1 ,1", "the value '1' is given twice"),
    ("energy=1..x", "the range's end 'x' is not an integer"),
    ("energy=a..5", "the range's start 'a' is not an integer"),
    ("energy=..5", "the range's start '' is not an integer"),
    ("energy=1..", "the range's end '' is not an integer"),
    ("energy=1.5..3", "the range's start '1.5' is not an integer"),
    ("energy=1_000..2000", "the range's start '1_000' is not an integer"),
    ("energy=+1..3", "the range's start '+1' is not an integer"),
    ("energy=1..2..3", "the range's end '2..3' is not an integer"),
    ("energy=5..1", "the range 5..1 is empty"),
    ("energy=0..90:0", "the range's step '0' is not a positive integer"),
    ("energy=0..90:-10", "the range's step '-10' is not a positive integer"),
    ("energy=0..90:x", "the range's step 'x' is not a positive integer"),
    ("energy=0..90:", "the range's step '' is not a positive integer"),
    ("energy=0..90:2.5", "the range's step '2.5' is not a positive integer"),
    (f"energy=1..{'9' * 5000}", "the range's end '999"),
    ("energy=[", "not a JSON array"),
    ('energy=["a"] x', "not a JSON array"),
    ("energy=[]", "the JSON array is empty"),
    ('energy=["a", ["b"]]', 'item 2 of the JSON array, ["b"], is not a string or a number'),
    ('energy=[{"a": 1}]', 'item 1 of the JSON array, {"a": 1}, is not a string or a number'),
    ("energy=[true]", "item 1 of the JSON array, true, is not a string or a number"),
    ("energy=[null]", "item 1 of the JSON array, null, is not a string or a number"),
    ("energy=[NaN]", "not a JSON array: NaN is not a number"),
    ("energy=[Infinity]", "not a JSON array: Infinity is not a number"),
    ("energy=[1e999]", "item 1 of the JSON array is not a finite number"),
    ('energy=[1, "1"]', "the value '1' is given twice"),
])
def test_a_bad_sweep_is_refused_naming_it_and_the_problem(value: str, problem: str) -> None:
    message = refusal(value)
    assert message.startswith(f"SWEEP: {value.strip()[:60]}")
    assert problem in message


def test_the_example_message_reads_as_a_sentence() -> None:
    assert refusal("energy=1..x") == "SWEEP: energy=1..x: the range's end 'x' is not an integer"


def test_a_long_sweep_is_quoted_shortened_in_the_error() -> None:
    message = refusal("energy=" + ",".join(["1"] * 10000))
    assert "is given twice" in message
    assert len(message) < 300


def test_an_axis_may_have_the_limit_of_values_but_not_one_more() -> None:
    assert len(parse_sweep("n=1..10", 10).values) == 10
    assert len(parse_sweep("n=" + ",".join(map(str, range(10))), 10).values) == 10
    assert "11 values, more than the limit of 10 children" in refusal("n=0..10", 10)
    assert "11 values, more than the limit of 10 children" in refusal("n=" + ",".join(map(str, range(11))), 10)
    assert "11 values" in refusal("n=" + json.dumps(list(range(11))), 10)


def test_a_huge_range_is_refused_before_it_is_expanded() -> None:
    started = time.perf_counter()
    assert "1000000000000000000001 values" in refusal("n=0..1000000000000000000000", 10_000)
    assert "10000000000000000000000000000001 values" in refusal("n=0..10000000000000000000000000000000", 10_000)
    assert time.perf_counter() - started < 0.1


def test_several_sweeps_make_the_product_first_varying_slowest() -> None:
    axes = parse_sweeps(["energy=1,2", "angle=0..90:45", 'mode=["a,b"]'], 100)
    assert axes == (SweepAxis("energy", ("1", "2")), SweepAxis("angle", ("0", "45", "90")),
                    SweepAxis("mode", ("a,b",)))
    assert count(axes) == 6
    assert children_of(axes) == [
        {"energy": "1", "angle": "0", "mode": "a,b"}, {"energy": "1", "angle": "45", "mode": "a,b"},
        {"energy": "1", "angle": "90", "mode": "a,b"}, {"energy": "2", "angle": "0", "mode": "a,b"},
        {"energy": "2", "angle": "45", "mode": "a,b"}, {"energy": "2", "angle": "90", "mode": "a,b"},
    ]


def test_no_sweep_is_no_axis_and_the_one_job_itself() -> None:
    assert parse_sweeps([], 10) == ()
    assert count(()) == 1
    assert children_of(()) == [{}]


@pytest.mark.parametrize("second", ["energy=3,4", "ENERGY=3,4", " Energy =5..6"])
def test_a_parameter_swept_twice_is_refused(second: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_sweeps(["energy=1,2", second], 100)
    assert str(caught.value) == f"SWEEP: {second.strip()}: parameter {second.partition('=')[0].strip()!r} is " \
                                "swept more than once"


def test_the_product_may_reach_the_limit_but_not_pass_it() -> None:
    assert count(parse_sweeps(["a=1..10", "b=1..10"], 100)) == 100
    with pytest.raises(InvalidRequestError) as caught:
        parse_sweeps(["a=1..10", "b=1..10", "c=1,2"], 199)
    assert str(caught.value) == "SWEEP: the sweep has 200 children (10 x 10 x 2), more than the limit of 199"


def test_a_huge_product_fails_fast_and_builds_nothing() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidRequestError) as caught:
            parse_sweeps(["a=1..10000", "b=1..10000", "c=1..10000", "d=1..10000"], 10_000)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == ("SWEEP: the sweep has 10000000000000000 children (10000 x 10000 x 10000 x 10000), "
                                 "more than the limit of 10000")
    assert elapsed < 0.1
    assert peak < 100_000, peak  # bytes: one axis's 10,000 strings alone would take over 500 kB


def test_two_huge_ranges_are_refused_on_the_first() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidRequestError) as caught:
        parse_sweeps(["a=1..1000000", "b=1..1000000"], 10_000)
    assert time.perf_counter() - started < 0.1
    assert str(caught.value) == "SWEEP: a=1..1000000: 1000000 values, more than the limit of 10000 children"


def test_ten_thousand_children_of_two_axes_are_built_quickly() -> None:
    axes = parse_sweeps(["energy=1..100", "angle=0..990:10"], 10_000)
    started = time.perf_counter()
    children = children_of(axes)
    elapsed = time.perf_counter() - started
    assert len(children) == count(axes) == 10_000
    assert children[0] == {"energy": "1", "angle": "0"}
    assert children[-1] == {"energy": "100", "angle": "990"}
    assert elapsed < 0.5  # about 5 ms on a laptop; generous for a loaded CI runner


ranges = st.tuples(st.integers(-10**6, 10**6), st.integers(0, 200), st.integers(1, 50))


@settings(max_examples=300, deadline=None)
@given(bounds=ranges)
def test_a_range_is_what_python_range_gives(bounds: tuple[int, int, int]) -> None:
    start, width, step = bounds
    axis = parse_sweep(f"x={start}..{start + width}:{step}", 10_000)
    assert axis.values == tuple(str(n) for n in range(start, start + width + 1, step))


items = st.one_of(st.text(max_size=8), st.integers(-10**9, 10**9),
                  st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(items, min_size=1, max_size=8))
def test_a_json_array_keeps_its_values(values: list[str | int | float]) -> None:
    rendered = [v if isinstance(v, str) else json.dumps(v) for v in values]
    if len(set(rendered)) < len(rendered):
        assert "is given twice" in refusal(f"x={json.dumps(values)}")
    else:
        assert parse_sweep(f"x={json.dumps(values)}", 100).values == tuple(rendered)


words = st.text(st.characters(categories=("L", "N"), include_characters="._-"), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(axes=st.lists(st.lists(words, min_size=1, max_size=4, unique=True), min_size=1, max_size=4))
def test_the_children_are_the_whole_product_each_once(axes: list[list[str]]) -> None:
    sweeps = [f"p{n}={json.dumps(values)}" for n, values in enumerate(axes)]
    parsed = parse_sweeps(sweeps, 10_000)
    children = children_of(parsed)
    assert len(children) == count(parsed) == len({tuple(child.items()) for child in children})
    assert all(list(child) == [f"p{n}" for n in range(len(axes))] for child in children)
    assert [child["p0"] for child in children[:: len(children) // len(axes[0])]] == axes[0]
