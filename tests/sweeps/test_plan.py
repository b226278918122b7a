"""The sweep plan: specs, the grid, random points as a function of (seed, index), listed
points, and point hashes. Pure: no files, no processes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expman.errors import UsageError
from expman.sweeps.plan import Definition, parse_spec, point_hash, points
from expman.sweeps.values import identity
from tests.conftest import RunCli


def _grid(*specs: str) -> Definition:
    return Definition(specs=tuple(parse_spec(*s.split("=", 1)) for s in specs))


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0.001,0.01,0.1", (0.001, 0.01, 0.1)),
        ("1..5", (1, 2, 3, 4, 5)),
        ("-2..2", (-2, -1, 0, 1, 2)),
        ("0..1..0.25", (0.0, 0.25, 0.5, 0.75, 1.0)),
        ("0.1..0.3..0.1", (0.1, 0.2, 0.3)),
        ("1e-3", (0.001,)),
        ("adam,sgd", ("adam", "sgd")),
        ("yes,010", ("yes", 10)),  # typed as the expfile is: YAML 1.2
        ("[64, 32],[128]", ([64, 32], [128])),
        ("'a,b',c", ("a,b", "c")),
    ],
)
def test_lists_and_ranges(text: str, values: tuple[object, ...]) -> None:
    assert parse_spec("X", text).values == values


def test_the_grid_is_every_combination_the_last_var_fastest() -> None:
    plan = points(_grid("LR=0.001,0.01,0.1", "SEED=1..3"), "graph")
    assert len(plan) == 9
    assert [p.index for p in plan] == list(range(9))
    assert plan[0].vars == {"LR": 0.001, "SEED": 1}
    assert plan[1].vars == {"LR": 0.001, "SEED": 2}
    assert plan[8].vars == {"LR": 0.1, "SEED": 3}
    assert len({p.hash for p in plan}) == 9


def test_random_point_i_depends_on_seed_and_i_alone() -> None:
    specs = (
        parse_spec("LR", "loguniform(1e-4, 1e-1)"),
        parse_spec("DROP", "uniform(0, 0.5)"),
        parse_spec("LAYERS", "int(1, 8)"),
        parse_spec("OPT", "choice(adam, sgd)"),
        parse_spec("BATCH", "16,32,64"),  # a list is a choice in a random sweep
    )
    twenty = points(Definition(specs=specs, samples=20, seed=7), "g")
    forty = points(Definition(specs=specs, samples=40, seed=7), "g")
    assert [p.vars for p in forty[:20]] == [p.vars for p in twenty], "extending keeps the first"
    again = points(Definition(specs=specs, samples=20, seed=7), "g")
    assert [p.vars for p in again] == [p.vars for p in twenty]
    other = points(Definition(specs=specs, samples=20, seed=8), "g")
    assert [p.vars for p in other] != [p.vars for p in twenty]
    for point in forty:
        assert 1e-4 <= point.vars["LR"] <= 1e-1
        assert 0 <= point.vars["DROP"] <= 0.5
        assert point.vars["LAYERS"] in range(1, 9)
        assert point.vars["OPT"] in ("adam", "sgd") and point.vars["BATCH"] in (16, 32, 64)
    spread = [math.log10(p.vars["LR"]) for p in forty]
    assert min(spread) < -3 and max(spread) > -2, "loguniform covers the decades"


def test_the_hash_covers_the_vars_and_the_stage_graph() -> None:
    assert point_hash({"LR": 0.1}, "a") == point_hash({"LR": 0.1}, "a")
    assert point_hash({"LR": 0.1}, "a") != point_hash({"LR": 0.2}, "a")
    assert point_hash({"LR": 0.1}, "a") != point_hash({"LR": 0.1}, "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5..1", "the range is empty"),
        ("0..1..0", "STEP above 0"),
        ("uniform(1)", "uniform() takes two numbers"),
        ("uniform(2, 1)", "the low end is above the high end"),
        ("loguniform(0, 1)", "loguniform() needs numbers above 0"),
        ("int(1.5, 3)", "int() takes two integers"),
        ("choice()", "choice() needs at least one value"),
        ("1..10000000", "more than 1,000,000 values"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec("X", text)


def test_a_random_spec_needs_a_number_of_points() -> None:
    with pytest.raises(UsageError, match="LR: a random spec needs a number of points"):
        points(Definition(specs=(parse_spec("LR", "uniform(0, 1)"),)), "g")


def test_a_grid_too_large_is_refused() -> None:
    with pytest.raises(UsageError, match="the grid has 1,000,000,000,000 points"):
        points(_grid("A=1..1000000", "B=1..1000000"), "g")


def _refusal(definition: Definition) -> str:
    with pytest.raises(UsageError) as refused:
        points(definition, "g")
    return str(refused.value)


def _random(*specs: str, samples: int, seed: int = 0) -> Definition:
    parsed = tuple(parse_spec(*s.split("=", 1)) for s in specs)
    return Definition(specs=parsed, samples=samples, seed=seed)


def test_a_range_under_random_is_refused_when_it_cannot_give_the_points() -> None:
    """The user guide's Slurm example: a range of floats by steps of 1 is one value, so
    200 random points of it were 200 copies of LR=0.0001."""
    message = _refusal(_random("LR=1e-4..1e-1", samples=200))
    assert "only 1 distinct point" in message and "200" in message
    assert "LR=1e-4..1e-1 gives 1 value" in message
    assert "did you mean LR='uniform(1e-4,1e-1)' or LR='loguniform(1e-4,1e-1)'?" in message


@pytest.mark.parametrize(
    ("specs", "samples", "message"),
    [
        (("SEED=int(1,2)",), 10, "only 2 distinct points, fewer than the 10 asked: SEED=int(1,2)"),
        (("OPT=adam,sgd", "SEED=1..3"), 7, "only 6 distinct points, fewer than the 7 asked"),
        (("X=uniform(1, 1)",), 2, "only 1 distinct point, fewer than the 2 asked"),
        (("X=choice(a, b)", "Y=loguniform(2, 2)"), 3, "only 2 distinct points"),
    ],
)
def test_random_points_beyond_what_the_specs_allow_are_refused(
    specs: tuple[str, ...], samples: int, message: str
) -> None:
    assert message in _refusal(_random(*specs, samples=samples))


def test_random_points_are_distinct_and_extending_keeps_them() -> None:
    """Draws from a small space repeat: a repeated draw is drawn again, so the plan holds
    distinct points, and point i still depends on (seed, i) alone."""
    few = points(_random("SEED=int(1,40)", "OPT=adam,sgd", samples=30, seed=3), "g")
    many = points(_random("SEED=int(1,40)", "OPT=adam,sgd", samples=80, seed=3), "g")
    assert len({json.dumps(p.vars, sort_keys=True) for p in many}) == 80
    assert [p.vars for p in many[:30]] == [p.vars for p in few]
    every = points(_random("SEED=int(1,5)", samples=5), "g")
    assert sorted(p.vars["SEED"] for p in every) == [1, 2, 3, 4, 5]


def test_draws_that_keep_repeating_are_refused_not_endless() -> None:
    """Two floats apart: uniform() between them has only those two values to give."""
    started = time.perf_counter()
    message = _refusal(_random("X=uniform(1, 1.0000000000000002)", samples=3))
    assert "distinct points after" in message
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("logunifrom(1e-4,1e-1)", "logunifrom() is not a distribution"),
        ("logunifrom(1e-4,1e-1)", "did you mean loguniform(1e-4,1e-1)?"),
        ("Uniform(0, 1)", "did you mean uniform(0, 1)?"),
        ("normal(0, 1)", "normal() is not a distribution (uniform, loguniform, int, choice)"),
        ("1,1.0", "1 and 1.0 are the same value"),
        ("a,b,a", "a is given twice"),
        ("choice(1, 2, 1)", "1 is given twice"),
        ("1e308..1e309", "1e309 is out of range"),
        ("0..1e308..1e-308", "more than 1,000,000 values"),
        ("1.." + "9" * 300, "more than 1,000,000 values"),
        ("1.." + "9" * 400, "99999999999999999999... (400 characters) is out of range"),
        ("1e17..100000000000000010", "its values are not all distinct"),
        ("uniform(-1e308, 1e308)", "uniform() takes finite numbers"),
        ("uniform(1, 1e309)", "1e309 is out of range"),
        ("int(0, 0x1" + "0" * 256 + ")", "0x100000000000000000... (259 characters) is out"),
        ("1.5..1e400", "1e400 is out of range"),
        ("0.5.." + "9" * 400, "(400 characters) is out of range"),
        (".inf,1", ".inf is not a finite number"),
        ("1,1e309", "1e309 is out of range"),
        ("9" * 5000, "99999999999999999999... (5,000 characters) is out of range"),
        ("0x" + "f" * 4000 + ",1", "0xffffffffffffffffff... (4,002 characters) is out of range"),
        ("!!int abc,1", "'abc' is not an integer (the tag !!int)"),
        ("null,1", "null is not a value"),
        ('"a\\0b"', "a NUL character"),
        ("uniform(1,2", "uniform( is not closed: did you mean uniform(1,2)?"),
        ("choice(a, b", "choice( is not closed"),
        ("1,,2", "an empty value between two commas"),
        ("1,2,", "an empty value between two commas"),
    ],
)
def test_specs_that_give_no_plan_say_why(text: str, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_spec("X", text)
    assert message in str(refused.value)


def test_text_that_is_a_value_may_look_like_a_call_when_quoted() -> None:
    assert parse_spec("X", "'f(x)'").values == ("f(x)",)
    assert parse_spec("X", "relu,gelu(tanh)").values == ("relu", "gelu(tanh)")


def test_random_points_are_bounded_like_a_grid() -> None:
    started = time.perf_counter()
    message = _refusal(_random("X=uniform(0, 1)", samples=1_000_000_000))
    assert "1,000,000,000 random points: more than 1,000,000" in message
    assert time.perf_counter() - started < 1


def test_a_var_is_swept_once() -> None:
    twice = Definition(specs=(parse_spec("LR", "1,2"), parse_spec("LR", "3")))
    assert "LR is swept twice" in _refusal(twice)


SPEC_TEXTS = st.sampled_from(
    [
        "1,2",
        "1,1.0",
        "a,b,a",
        "true,1",
        "[1],[1.0]",
        "1..3",
        "0..1..0.5",
        "1e-4..1e-1",
        "int(1,3)",
        "int(5,5)",
        "choice(x,y)",
        "uniform(0,1)",
        "uniform(2,2)",
        "loguniform(1e-3,1)",
        "logunifrom(1e-3,1)",
        "{a: 1, b: 2},{b: 2, a: 1.0}",
    ]
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), SPEC_TEXTS), min_size=1, max_size=4),
    st.none() | st.integers(min_value=1, max_value=40),
    st.integers(min_value=0, max_value=3),
)
def test_every_plan_holds_distinct_points_or_is_refused(
    specs: list[tuple[str, str]], samples: int | None, seed: int
) -> None:
    """No plan of identical points: whatever the specs, a plan's points are pairwise
    different (as queries compare values), or the definition is refused saying why."""
    try:
        parsed = tuple(parse_spec(name, text) for name, text in specs)
        plan = points(Definition(specs=parsed, samples=samples, seed=seed), "g")
    except UsageError as e:
        assert str(e)
        return
    assert len({identity(p.vars) for p in plan}) == len(plan)
    assert len(plan) == (samples if samples is not None else len(plan))


def test_a_range_with_three_dots_names_the_fix() -> None:
    with pytest.raises(UsageError) as info:
        parse_spec("STEP", "1...3")
    assert str(info.value) == (
        "-s STEP=1...3: a range has two dots, not three\n  hint: -s STEP=1..3"
    )


def test_sweep_values_apart_from_their_name_get_the_fix(project: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("sweep", "-s", "LR", "1,2", "--plan")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        "expman: argument -s: 'LR' is no NAME=VALUES: write -s LR=VALUES, one word"
    )
