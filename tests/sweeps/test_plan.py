"""The sweep plan: specs, the grid, random points as a function of (seed, index), listed
points, and point hashes. Pure: no files, no processes."""

from __future__ import annotations

import math

import pytest

from expman.errors import UsageError
from expman.sweeps.plan import Definition, parse_spec, point_hash, points, read_points


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


def test_listed_points_from_csv_and_jsonl() -> None:
    csv_points = read_points('LR,OPT\n1e-3,adam\n0.1,"sgd"\n', "points.csv", ["LR", "OPT"])
    assert csv_points == ({"LR": 0.001, "OPT": "adam"}, {"LR": 0.1, "OPT": "sgd"})
    jsonl = read_points('{"LR": 0.001}\n\n{"LR": [1, 2]}\n', "points.jsonl", ["LR"])
    assert jsonl == ({"LR": 0.001}, {"LR": [1, 2]})
    plan = points(Definition(listed=csv_points), "g")
    assert [p.vars for p in plan] == list(csv_points)


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("LR\n0.1,2\n", "p.csv", "p.csv:2: 2 values for 1 vars"),
        ("MOMENTUM\n0.9\n", "p.csv", "p.csv:2: no var named 'MOMENTUM' (vars: LR)"),
        ("", "p.csv", "p.csv: no header line"),
        ("LR\n", "p.csv", "p.csv: no points"),
        ('{"LR": 1}\n[1]\n', "p.jsonl", "p.jsonl:2: a point is a JSON object"),
        ("{bad\n", "p.jsonl", "p.jsonl:1: not JSON"),
    ],
)
def test_bad_points_files_say_file_and_line(text: str, name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_points(text, name, ["LR"])
